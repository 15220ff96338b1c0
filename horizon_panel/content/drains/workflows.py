# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""The Plan Drain workflow: hosts, targets, method, limits, review.

Each step checks what it holds before the operator goes on; the review
step is the drain service's dry run of everything chosen (totals per
target and per method, each VM's move, expected downtime and precheck
verdicts), and "Create Drain" after it plans the drain. The policy is
built as ``openstack drain create`` builds it and checked with the
service's own :class:`~.policy.Policy`, so a bad window or limit is
refused with the same message.
"""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from horizon import exceptions
from horizon import forms
from horizon.utils import memoized
from horizon import workflows
from openstack_dashboard import api

from horizon_panel.api import evacuator
from horizon_panel.content.drains import pickers
from nova_migration_ext.contract import policy as drain_policy

METHODS = (
    ('auto', _("Automatic: live when possible, cold when needed")),
    ('live', _("Live only (never cold)")),
    ('cold', _("Cold only (the VMs are down while they move)")),
)
DEFAULTS = drain_policy.Policy()
SERVERS_PAGE = 1000     # VMs asked of nova at once (its max_limit)


def build_policy(context):
    """The :class:`~.policy.Policy` of the workflow's *context*.

    :raises ValueError: with the policy's message when it is unusable.
    """
    policy = drain_policy.Policy(
        method=context['method'],
        allow_downtime=bool(context['allow_downtime']),
        downtime_projects=context.get('project_downtime') or {},
        downtime_servers=context.get('server_downtime') or {},
        max_per_source=context.get('max_per_source'),
        max_per_target=context.get('max_per_target'),
        max_total=context.get('max_total'),
        bandwidth_mb_per_s=(context.get('bandwidth') or
                            DEFAULTS.bandwidth_mb_per_s),
        max_bandwidth_mib_per_s=context.get('max_bandwidth'),
        two_phase_cold=bool(context.get('two_phase_cold')),
        require_verified_copy=not context.get('accept_unverified_copies'),
        window=drain_policy.parse_window(context.get('window')))
    policy.validate()
    return policy


def ticked(action, field):
    """Values of *field* posted with *action*: every step posts them all.

    What another step chose, as an action sees it while it checks.
    """
    return set(action.data.getlist(field)) if action.data else set()


def drain_hosts(request):
    """{name: Host} of the drain service's inventory; {} when it fails."""
    try:
        return {host.name: host for host in evacuator.host_list(request)}
    except evacuator.EvacuatorError:
        exceptions.handle(request, details='')
        return {}


class _HostsAction(workflows.Action):
    """A step choosing hosts in a table showing what each holds."""

    def __init__(self, request, context, *args, **kwargs):
        super().__init__(request, context, *args, **kwargs)
        hosts = context['drain_hosts']
        field = self.fields[self.picker]
        field.choices = [(name, name) for name in sorted(hosts)]
        field.widget.hosts = hosts


class SourcesAction(_HostsAction):
    picker = 'sources'
    name = forms.CharField(label=_("Name"), max_length=255, required=False)
    sources = forms.MultipleChoiceField(
        label=_("Hosts to Empty"), widget=pickers.HostTableWidget,
        error_messages={'required': _("Tick at least one host to empty.")})

    class Meta(object):
        name = _("Hosts to Empty")
        slug = 'sources'
        help_text = _("Tick the compute hosts whose VMs move away. A drain "
                      "disables them first: nova places nothing new there "
                      "meanwhile.")


class _HostsStep(workflows.Step):
    template_name = 'admin/drains/_plan_wide_step.html'

    def prepare_action_context(self, request, context):
        # Both host steps show the one inventory the workflow asked for.
        context['drain_hosts'] = self.workflow.drain_hosts()
        return context


class ChooseSources(_HostsStep):
    action_class = SourcesAction
    contributes = ('name', 'sources')


class TargetsAction(_HostsAction):
    picker = 'targets'
    targets = forms.MultipleChoiceField(
        label=_("Target Hosts"), required=False,
        widget=pickers.HostTableWidget)
    target_aggregate = forms.ChoiceField(
        label=_("Or a Target Aggregate"), required=False)

    class Meta(object):
        name = _("Targets")
        slug = 'targets'
        help_text = _("Tick the hosts the VMs may go to, or choose an "
                      "aggregate; neither: every other enabled host.")

    def populate_target_aggregate_choices(self, request, context):
        try:
            aggregates = api.nova.aggregate_details_list(request)
        except Exception:
            exceptions.handle(request, _("Unable to list host aggregates."))
            aggregates = []
        return [('', _("None"))] + sorted(
            (a.name, '%s (%s)' % (a.name, ', '.join(sorted(a.hosts))))
            for a in aggregates)

    def clean(self):
        data = super().clean()
        targets = data.get('targets')
        if targets and data.get('target_aggregate'):
            self.add_error('target_aggregate', _(
                "Tick target hosts or choose an aggregate, not both."))
        both = sorted(ticked(self, 'sources') & set(targets or ()))
        if both:
            self.add_error('targets', _(
                "%s cannot be both emptied and a target: untick it here "
                "or in Hosts to Empty.") % ', '.join(both))
        return data


class ChooseTargets(_HostsStep):
    action_class = TargetsAction
    contributes = ('targets', 'target_aggregate')


class MethodAction(workflows.Action):
    method = forms.ChoiceField(label=_("Method"), choices=METHODS,
                               initial=DEFAULTS.method)
    allow_downtime = forms.BooleanField(
        label=_("Allow Downtime"), required=False,
        initial=DEFAULTS.allow_downtime,
        help_text=_("Cold-migrate running VMs that cannot move live (they "
                    "are down while their disks copy)."))
    two_phase_cold = forms.BooleanField(
        label=_("Two-Phase Cold Copy"), required=False,
        help_text=_("Copy a running VM's disks while it runs, then only "
                    "what changed: it is down for the second pass only."))
    accept_unverified_copies = forms.BooleanField(
        label=_("Confirm Unverified Copies"), required=False,
        help_text=_("Confirm cold moves whose copy the source did not "
                    "verify (hosts with nova's stock copy). By default "
                    "such a VM is left for you to check: the confirm "
                    "deletes its source disks."))
    project_downtime = pickers.DowntimeField(
        label=_("Downtime per Project"), headers=(_("Project"),),
        help_text=_("A project's choice overrides Allow Downtime for "
                    "its VMs."))
    server_downtime = pickers.DowntimeField(
        label=_("Downtime per VM"),
        headers=(_("VM"), _("Host"), _("Project")),
        help_text=_("A VM's choice overrides its project's. Only the VMs "
                    "of the hosts to empty are listed."))

    class Meta(object):
        name = _("Method and Downtime")
        slug = 'method'
        help_text = _("Live migration keeps a VM running; cold migration "
                      "stops it while its disks copy.")

    def __init__(self, request, context, *args, **kwargs):
        super().__init__(request, context, *args, **kwargs)
        projects = self._projects(request)
        self.fields['project_downtime'].set_rows(
            (pid, [name], name) for pid, name in sorted(
                projects.items(), key=lambda item: item[1].lower()))
        servers = self._servers(request)
        self.server_hosts = {server.id: host for server, host in servers}
        self.fields['server_downtime'].set_rows(
            (server.id, [server.name, host, projects.get(
                server.tenant_id, server.tenant_id)],
             '%s %s' % (server.name, host), {'data-host': host})
            for server, host in servers)

    def clean(self):
        data = super().clean()
        # Only the VMs of the hosts to empty: a choice left on a VM
        # elsewhere (its row hidden since) is not part of the drain.
        sources = ticked(self, 'sources')
        data['server_downtime'] = {
            server_id: allowed for server_id, allowed in
            (data.get('server_downtime') or {}).items()
            if self.server_hosts.get(server_id) in sources}
        return data

    @staticmethod
    def _projects(request):
        try:
            projects, _more = api.keystone.tenant_list(request)
        except Exception:
            exceptions.handle(request, _("Unable to list projects."))
            return {}
        return {p.id: p.name for p in projects}

    @staticmethod
    def _servers(request):
        """(server, host) of every VM, by host then name.

        Page by page: one listing stops at nova's max_limit (1000).
        """
        servers = []
        try:
            while True:
                page, _more = api.nova.server_list(request, search_opts={
                    'all_tenants': True, 'limit': SERVERS_PAGE,
                    'marker': servers[-1].id if servers else None})
                servers.extend(page)
                if len(page) < SERVERS_PAGE:
                    break
        except Exception:
            exceptions.handle(request, _("Unable to list VMs."))
            return []
        located = [(s, getattr(s, 'OS-EXT-SRV-ATTR:host', '') or '')
                   for s in servers]
        return sorted(located, key=lambda sh: (sh[1], sh[0].name.lower()))


class ChooseMethod(workflows.Step):
    action_class = MethodAction
    contributes = ('method', 'allow_downtime', 'two_phase_cold',
                   'accept_unverified_copies', 'project_downtime',
                   'server_downtime')
    template_name = 'admin/drains/_plan_wide_step.html'


class LimitsAction(workflows.Action):
    max_per_source = forms.IntegerField(
        label=_("Concurrent Migrations per Source Host"), min_value=1,
        required=False,
        help_text=_("Empty: derived from the drain (enough to keep each "
                    "source's link busy)."))
    max_per_target = forms.IntegerField(
        label=_("Concurrent Migrations per Target Host"), min_value=1,
        required=False, help_text=_("Empty: derived from the drain."))
    max_total = forms.IntegerField(
        label=_("Concurrent Migrations in Total"), min_value=1,
        required=False,
        help_text=_("Empty: no overall limit; each host's link is one."))
    bandwidth = forms.FloatField(
        label=_("Host Link Speed (MB/s)"), min_value=0.1, required=False,
        initial=DEFAULTS.bandwidth_mb_per_s,
        help_text=_("Where a host's compute does not report its link's "
                    "speed; the migrations on a host share it."))
    max_bandwidth = forms.IntegerField(
        label=_("Bandwidth Cap (MiB/s)"), min_value=1, required=False,
        help_text=_("Cap on each live migration, set on the source host. "
                    "Empty: no cap."))
    window = forms.CharField(
        label=_("Time Window (UTC)"), required=False, max_length=11,
        widget=forms.TextInput(attrs={'placeholder': '22:00-06:00'}),
        help_text=_("HH:MM-HH:MM: new migrations start only within it. "
                    "Empty: any time."))

    class Meta(object):
        name = _("Limits and Window")
        slug = 'limits'
        help_text = _("Leave the limits empty: the drain derives them from "
                      "the hosts' links and disks.")

    def clean(self):
        data = super().clean()
        # The service's own checks, each message on what it is about.
        try:
            drain_policy.Policy(window=drain_policy.parse_window(
                data.get('window'))).validate()
        except ValueError as exc:
            self.add_error('window', str(exc))
        try:
            drain_policy.Policy(
                max_per_source=data.get('max_per_source'),
                max_per_target=data.get('max_per_target'),
                max_total=data.get('max_total'),
                max_bandwidth_mib_per_s=data.get('max_bandwidth')).validate()
        except ValueError as exc:
            self.add_error(None, str(exc))
        return data


class ChooseLimits(workflows.Step):
    action_class = LimitsAction
    contributes = ('max_per_source', 'max_per_target', 'max_total',
                   'bandwidth', 'max_bandwidth', 'window')


class ReviewAction(workflows.Action):
    class Meta(object):
        name = _("Review")
        slug = 'review'

    def __init__(self, request, context, *args, **kwargs):
        super().__init__(request, context, *args, **kwargs)
        self.review_url = reverse('horizon:admin:drains:review')


class Review(workflows.Step):
    action_class = ReviewAction
    template_name = 'admin/drains/_plan_review.html'


class PlanDrain(workflows.Workflow):
    slug = 'plan_drain'
    name = _("Plan Drain")
    finalize_button_name = _("Create Drain")
    success_message = _('Planned drain "%s"; start it when ready.')
    failure_message = _('Could not plan drain "%s".')
    success_url = 'horizon:admin:drains:index'
    wizard = True
    default_steps = (ChooseSources, ChooseTargets, ChooseMethod,
                     ChooseLimits, Review)

    def get_default_attrs(self):
        return {'id': 'plan_drain_form'}

    @memoized.memoized_method
    def drain_hosts(self):
        return drain_hosts(self.request)

    def format_status_message(self, message):
        name = self.context.get('name') or (
            self.object.id if self.object else '')
        return message % name if '%s' in message else message

    def plan(self, dry_run):
        """The service's answer for the context: a Plan, or a Drain.

        :raises ValueError: the policy is unusable (the message says why).
        :raises evacuator.EvacuatorError: the service refused.
        """
        context = self.context
        return evacuator.evacuation_plan(
            self.request, context['sources'],
            targets=context['targets'] or None,
            policy=build_policy(context), name=context['name'] or '',
            dry_run=dry_run,
            target_aggregate=context['target_aggregate'] or None)

    def handle(self, request, context):
        try:
            self.object = self.plan(dry_run=False)
        except (ValueError, evacuator.EvacuatorError) as exc:
            self.add_error_to_step(str(exc), 'review')
            self.entry_point = 'review'
            raise forms.ValidationError(str(exc))
        return True

    def get_success_url(self):
        if self.object is not None:
            return reverse('horizon:admin:drains:detail',
                           args=[self.object.id])
        return super().get_success_url()
