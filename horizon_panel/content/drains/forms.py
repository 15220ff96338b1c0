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
"""The Plan Drain form.

It builds the policy as ``openstack drain create`` does and checks it
with the evacuator's own :class:`~.drain_policy.Policy` before sending it,
so a bad window or limit is refused on the form with the same message.
"""

from django.utils.translation import gettext_lazy as _
from horizon import exceptions
from horizon import forms
from horizon import messages
from openstack_dashboard import api

from horizon_panel.api import evacuator
from nova_migration_ext.contract import policy as drain_policy

METHODS = (
    ('auto', _("Automatic: live when possible, cold when needed")),
    ('live', _("Live only (never cold)")),
    ('cold', _("Cold only (the VMs are down while they move)")),
)
DEFAULTS = drain_policy.Policy()


def _ids(text):
    """The ids of a text field: separated by commas, spaces or lines."""
    return sorted(set((text or '').replace(',', ' ').split()))


def build_policy(data, window=None):
    """The :class:`~.policy.Policy` of the form, as the CLI builds it.

    :raises ValueError: with the policy's message when it is unusable.
    """
    policy = drain_policy.Policy(
        method=data['method'], allow_downtime=data['allow_downtime'],
        downtime_projects=drain_policy.downtime_overrides(
            _ids(data.get('allow_downtime_projects')),
            _ids(data.get('deny_downtime_projects'))),
        downtime_servers=drain_policy.downtime_overrides(
            _ids(data.get('allow_downtime_servers')),
            _ids(data.get('deny_downtime_servers'))),
        max_per_source=data.get('max_per_source'),
        max_per_target=data.get('max_per_target'),
        max_total=data.get('max_total'),
        bandwidth_mb_per_s=(data.get('bandwidth') or
                            DEFAULTS.bandwidth_mb_per_s),
        max_bandwidth_mib_per_s=data.get('max_bandwidth'),
        two_phase_cold=bool(data.get('two_phase_cold')),
        require_verified_copy=not data.get('accept_unverified_copies'),
        window=window)
    policy.validate()
    return policy


def _host_label(service):
    return '%s (%s, %s)' % (service.host, service.status, service.state)


def compute_hosts(request, enabled_only=False):
    """(host, label) of the compute hosts; *enabled_only*: enabled, up."""
    try:
        services = api.nova.service_list(request, binary='nova-compute')
    except Exception:
        exceptions.handle(request, _("Unable to list compute hosts."))
        return []
    return [(s.host, _host_label(s))
            for s in sorted(services, key=lambda s: s.host)
            if not enabled_only or (s.status == 'enabled' and
                                    s.state == 'up')]


class PlanDrainForm(forms.SelfHandlingForm):
    name = forms.CharField(label=_("Name"), max_length=255, required=False)
    sources = forms.MultipleChoiceField(
        label=_("Hosts to Empty"),
        help_text=_("Compute hosts whose VMs are moved away."))
    targets = forms.MultipleChoiceField(
        label=_("Target Hosts"), required=False,
        help_text=_("Hosts the VMs may go to. Default: every other "
                    "enabled host (or the aggregate below)."))
    target_aggregate = forms.ChoiceField(
        label=_("Target Aggregate"), required=False,
        help_text=_("The VMs may go to the hosts of this aggregate (the "
                    "sources left out)."))
    method = forms.ChoiceField(label=_("Method"), choices=METHODS,
                               initial=DEFAULTS.method)
    allow_downtime = forms.BooleanField(
        label=_("Allow Downtime"), required=False,
        initial=DEFAULTS.allow_downtime,
        help_text=_("Allow cold migration of running VMs when they cannot "
                    "move live."))
    allow_downtime_projects = forms.CharField(
        label=_("Projects Allowing Downtime"), required=False,
        widget=forms.Textarea(attrs={'rows': 2}),
        help_text=_("Project IDs whose running VMs may be cold-migrated "
                    "whatever Allow Downtime says (separated by commas "
                    "or spaces)."))
    deny_downtime_projects = forms.CharField(
        label=_("Projects Refusing Downtime"), required=False,
        widget=forms.Textarea(attrs={'rows': 2}),
        help_text=_("Project IDs whose running VMs must only move live."))
    allow_downtime_servers = forms.CharField(
        label=_("VMs Allowing Downtime"), required=False,
        widget=forms.Textarea(attrs={'rows': 2}),
        help_text=_("VM IDs that may be cold-migrated; a VM's choice "
                    "overrides its project's."))
    deny_downtime_servers = forms.CharField(
        label=_("VMs Refusing Downtime"), required=False,
        widget=forms.Textarea(attrs={'rows': 2}),
        help_text=_("VM IDs that must only move live."))
    max_per_source = forms.IntegerField(
        label=_("Concurrent Migrations per Source Host"), min_value=1,
        required=False,
        help_text=_("Empty: derived from the drain (enough to keep each "
                    "source's link busy)."))
    max_per_target = forms.IntegerField(
        label=_("Concurrent Migrations per Target Host"), min_value=1,
        required=False,
        help_text=_("Empty: derived from the drain."))
    max_total = forms.IntegerField(
        label=_("Concurrent Migrations in Total"), min_value=1,
        required=False,
        help_text=_("Empty: no overall limit; each host's link is one."))
    bandwidth = forms.FloatField(
        label=_("Host Link Speed (MB/s)"), min_value=0.1, required=False,
        initial=DEFAULTS.bandwidth_mb_per_s,
        help_text=_("Speed of a host's migration link where its compute "
                    "does not report one; the migrations on a host share "
                    "it."))
    max_bandwidth = forms.IntegerField(
        label=_("Bandwidth Cap (MiB/s)"), min_value=1, required=False,
        help_text=_("Cap on each live migration, applied on the source "
                    "host. Empty: no cap."))
    two_phase_cold = forms.BooleanField(
        label=_("Two-Phase Cold Copy"), required=False,
        help_text=_("Cold migrations of running VMs copy the disks while "
                    "the VM runs, then only what changed: it is down for "
                    "the second pass only."))
    accept_unverified_copies = forms.BooleanField(
        label=_("Confirm Unverified Copies"), required=False,
        help_text=_("Confirm cold moves whose copy the source did not "
                    "verify (hosts with nova's stock copy). By default "
                    "such a VM is left for you to check and confirm: the "
                    "confirm deletes its source disks."))
    window = forms.CharField(
        label=_("Time Window (UTC)"), required=False, max_length=11,
        widget=forms.TextInput(attrs={'placeholder': '22:00-06:00'}),
        help_text=_("HH:MM-HH:MM: new migrations start only within it. "
                    "Empty: any time."))
    dry_run = forms.BooleanField(
        label=_("Dry Run"), required=False,
        help_text=_("Show the plan without creating the drain."))
    # Set by the dry run's "Create This Drain": the plan just reviewed is
    # created, whatever the Dry Run box says.
    create = forms.BooleanField(required=False, widget=forms.HiddenInput())

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        hosts = compute_hosts(request)
        self.fields['sources'].choices = hosts
        self.fields['targets'].choices = hosts
        self.fields['target_aggregate'].choices = (
            [('', _("None"))] + self._aggregates(request))

    @staticmethod
    def _aggregates(request):
        try:
            aggregates = api.nova.aggregate_details_list(request)
        except Exception:
            exceptions.handle(request, _("Unable to list host aggregates."))
            return []
        return sorted((a.name, a.name) for a in aggregates)

    def clean(self):
        data = super().clean()
        if data.get('create'):
            data['dry_run'] = False
        targets = data.get('targets')
        if targets and data.get('target_aggregate'):
            self.add_error('target_aggregate', _(
                "Give target hosts or a target aggregate, not both."))
        both = sorted(set(data.get('sources') or ()) & set(targets or ()))
        if both:
            self.add_error('targets', _("%s cannot be both emptied and a "
                                        "target.") % ', '.join(both))
        try:
            window = drain_policy.parse_window(data.get('window'))
        except ValueError as exc:
            self.add_error('window', str(exc))
        if self.errors:
            return data
        try:
            data['policy'] = build_policy(data, window)
        except ValueError as exc:
            self.add_error(None, str(exc))
        return data

    def handle(self, request, data):
        """The API's answer: the plan, or the drain created."""
        try:
            result = evacuator.evacuation_plan(
                request, data['sources'], targets=data['targets'] or None,
                policy=data['policy'], name=data['name'],
                dry_run=data['dry_run'],
                target_aggregate=data['target_aggregate'] or None)
        except evacuator.EvacuatorError as exc:
            self.api_error(str(exc))
            return False
        if not data['dry_run']:
            messages.success(request, _(
                'Planned drain "%(name)s" of %(vms)d VMs; start it '
                'when ready.') % {'name': result.name or result.id,
                                  'vms': result.vms})
        return result


class RetryElsewhereForm(forms.SelfHandlingForm):
    """Retry one VM of a drain on a host the operator chooses."""

    drain_id = forms.CharField(widget=forms.HiddenInput())
    server_id = forms.CharField(widget=forms.HiddenInput())
    target = forms.ChoiceField(
        label=_("Target Host"),
        help_text=_("Enabled compute hosts this drain is not emptying."))

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        drain = kwargs.get('initial', {}).get('drain')
        excluded = set(drain.sources) if drain else set()
        task = kwargs.get('initial', {}).get('task')
        if task is not None and task.target:
            excluded.add(task.target)
        self.fields['target'].choices = [
            (host, label) for host, label in
            compute_hosts(request, enabled_only=True)
            if host not in excluded]

    def handle(self, request, data):
        try:
            drain = evacuator.task_retry(request, data['drain_id'],
                                         data['server_id'],
                                         target=data['target'])
        except evacuator.EvacuatorError as exc:
            self.api_error(str(exc))
            return False
        messages.success(request, _('Queued the VM again, to %s.')
                         % data['target'])
        return drain
