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
"""Views of the Host Drains panel: list, plan, detail."""

from django import shortcuts
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views import generic
from horizon import exceptions
from horizon import forms
from horizon import tables
from horizon import tabs
from horizon.utils import memoized
from horizon import workflows

from horizon_panel.api import evacuator
from horizon_panel.content.drains import forms as drain_forms
from horizon_panel.content.drains import tables as drain_tables
from horizon_panel.content.drains import tabs as drain_tabs
from horizon_panel.content.drains import workflows as drain_workflows
from nova_migration_ext.contract import display

INDEX_URL = 'horizon:admin:drains:index'


class IndexView(tables.DataTableView):
    table_class = drain_tables.DrainsTable
    template_name = 'admin/drains/index.html'
    page_title = _("Host Drains")

    def get_data(self):
        try:
            return evacuator.evacuation_list(self.request)
        except evacuator.EvacuatorError:
            exceptions.handle(self.request, details='')
            return []


class PlanView(workflows.WorkflowView):
    workflow_class = drain_workflows.PlanDrain
    template_name = 'admin/drains/plan.html'
    ajax_template_name = 'admin/drains/_plan_workflow.html'
    page_title = _("Plan Drain")


class PlanReviewView(generic.View):
    """The Review step: the dry run of what the workflow's steps hold.

    Posted by the step with the whole workflow form; answers an HTML
    fragment, the plan or what stops it (each refusal as the service
    or the step says it).
    """

    template_name = 'admin/drains/_plan_preview.html'

    def post(self, request):
        workflow = drain_workflows.PlanDrain(request)
        if not workflow.is_valid():
            return self._refused(request, [
                '%s: %s' % (step.name, ' '.join(
                    str(error) for errors in step.action.errors.values()
                    for error in errors))
                for step in workflow.steps if step.action.errors])
        try:
            preview = workflow.plan(dry_run=True)
        except (ValueError, evacuator.EvacuatorError) as exc:
            return self._refused(request, [str(exc)])
        return shortcuts.render(request, self.template_name, {
            'preview': preview,
            'estimated': display.duration(preview.estimated_seconds),
            'per_target': per_target(preview),
            'per_method': per_method(preview),
            'moves': [(move, verdicts(move)) for move in preview.moves or ()],
            'list_moves_open': len(preview.moves or ()) <= MOVES_SHOWN})

    @staticmethod
    def _refused(request, errors):
        return shortcuts.render(request, 'admin/drains/_plan_refused.html',
                                {'errors': errors})


# Above this many moves, a dry run's list of moves starts folded: the
# totals per target say what the operator checks first.
MOVES_SHOWN = 20


def per_target(plan):
    """[(target, VMs, bytes, 'live 3, cold 1')] of a dry run's moves."""
    totals = {}
    for move in plan.moves or ():
        vms, size, methods = totals.get(move.target, (0, 0, {}))
        methods[move.method] = methods.get(move.method, 0) + 1
        totals[move.target] = (vms + 1, size + move.bytes, methods)
    return [(target, vms, size, ', '.join(
        '%s %d' % kv for kv in sorted(methods.items())))
        for target, (vms, size, methods) in sorted(totals.items())]


def per_method(plan):
    """[(method, VMs, bytes, downtime in all, longest downtime)]."""
    totals = {}
    for move in plan.moves or ():
        vms, size, down, longest = totals.get(move.method, (0, 0, 0.0, 0.0))
        downtime = move.expected_downtime_seconds or 0.0
        totals[move.method] = (vms + 1, size + move.bytes, down + downtime,
                               max(longest, downtime))
    return [(method, vms, size, display.duration(down),
             display.duration(longest))
            for method, (vms, size, down, longest) in sorted(totals.items())]


def verdicts(move):
    """(passed, [(check, status, reason)] not passed) of *move*."""
    passed = [v for v in move.verdicts if v[1] == 'pass']
    return len(passed), [tuple(v) for v in move.verdicts if v[1] != 'pass']


class DetailView(tabs.TabbedTableView):
    tab_group_class = drain_tabs.DrainTabs
    template_name = 'horizon/common/_detail.html'
    page_title = '{{ drain.name|default:drain.id }}'

    @memoized.memoized_method
    def get_data(self):
        # A row update (one request per polled row) shares the answer
        # with the others of its poll.
        if self.request.GET.get('action') == 'row_update':
            get = evacuator.evacuation_get_shared
        else:
            get = evacuator.evacuation_get
        try:
            return get(self.request, self.kwargs['drain_id'])
        except evacuator.EvacuatorError:
            exceptions.handle(self.request, details='',
                              redirect=reverse(INDEX_URL))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        drain = self.get_data()
        context['drain'] = drain
        context['url'] = reverse(INDEX_URL)
        context['actions'] = self._actions(drain)
        return context

    def _actions(self, drain):
        table = drain_tables.DrainsTable(self.request)
        return table.render_row_actions(drain)

    def get_tabs(self, request, **kwargs):
        return super().get_tabs(request, drain=self.get_data(), **kwargs)


class RetryElsewhereView(forms.ModalFormView):
    form_class = drain_forms.RetryElsewhereForm
    form_id = 'retry_elsewhere_form'
    template_name = 'admin/drains/retry_elsewhere.html'
    modal_id = 'retry_elsewhere_modal'
    modal_header = _("Retry on Another Host")
    page_title = _("Retry on Another Host")
    submit_label = _("Retry")

    @memoized.memoized_method
    def get_object(self):
        try:
            drain = evacuator.evacuation_get(self.request,
                                             self.kwargs['drain_id'])
        except evacuator.EvacuatorError:
            exceptions.handle(self.request, details='',
                              redirect=self.get_success_url())
        for task in drain.tasks or ():
            if task.server_id == self.kwargs['server_id']:
                return drain, task
        exceptions.handle(self.request, _("Drain %(drain)s has no VM "
                                          "%(server)s.") % self.kwargs,
                          redirect=self.get_success_url())

    def get_success_url(self):
        return reverse('horizon:admin:drains:detail',
                       args=[self.kwargs['drain_id']])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context['submit_url'] = reverse(
            'horizon:admin:drains:retry_elsewhere',
            args=[self.kwargs['drain_id'], self.kwargs['server_id']])
        context['cancel_url'] = self.get_success_url()
        return context

    def get_initial(self):
        drain, task = self.get_object()
        return {'drain_id': drain.id, 'server_id': task.server_id,
                'drain': drain, 'task': task}
