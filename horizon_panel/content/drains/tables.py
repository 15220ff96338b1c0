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
"""Tables of the Host Drains panel: drains, their VMs, the audit log.

Rows are the API's JSON dicts. Actions are offered by state, as
the drains' state machine allows them.
"""

import collections
import copy
import re
from urllib import parse

from django.urls import reverse
from django.utils import html
from django.utils import safestring
from django.utils import text
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from horizon import exceptions
from horizon import tables

from horizon_panel.api import evacuator
from horizon_panel import policy
from nova_migration_ext.contract import states

# What a drain that ended with VMs left for the operator shows as its
# state: never a plain "Completed".
COMPLETED_LEFT = 'completed_with_vms_left'
DRAIN_STATES = (
    (states.PLANNED, _("Planned")),
    (states.RUNNING, _("Running")),
    (states.PAUSED, _("Paused")),
    (states.COMPLETED, _("Completed")),
    (states.CANCELLED, _("Cancelled")),
    (states.FAILED, _("Failed")),
    (COMPLETED_LEFT, _("Completed, VMs left for you")),
)
# None: changes by itself (polled, drawn busy); True: waits for nobody
# or for the operator (planned, paused) or ended well; False: ended badly.
DRAIN_STATUS = (
    (states.PLANNED, True), (states.RUNNING, None), (states.PAUSED, True),
    (states.COMPLETED, True), (states.CANCELLED, False),
    (states.FAILED, False), (COMPLETED_LEFT, False),
)
TASK_STATES = (
    (states.PENDING, _("Pending")),
    (states.SUBMITTING, _("Submitting")),
    (states.MIGRATING, _("Migrating")),
    (states.VERIFYING, _("Verifying")),
    (states.RETRY_WAIT, _("Waiting to retry")),
    (states.NEEDS_OPERATOR, _("Needs operator")),
    (states.DONE, _("Done")),
    (states.SKIPPED, _("Skipped")),
    (states.TASK_CANCELLED, _("Cancelled")),
    (states.GONE, _("Deleted by its owner")),
)
ENDED_WELL = (states.DONE, states.SKIPPED, states.GONE)
# Queued or moving again: an error still on record is an earlier
# attempt's (a retry's, perhaps one to another target), not this one's.
MOVING_AGAIN = (states.PENDING, states.MIGRATING, states.VERIFYING)
# Bootstrap's colours: ended badly or waiting for you red, ended well
# green, moving blue, waiting grey.
DRAIN_COLOURS = {
    states.RUNNING: 'primary', states.COMPLETED: 'success',
    COMPLETED_LEFT: 'danger', states.CANCELLED: 'warning',
    states.FAILED: 'danger'}
TASK_COLOURS = {
    states.SUBMITTING: 'primary', states.MIGRATING: 'primary',
    states.VERIFYING: 'primary', states.RETRY_WAIT: 'warning',
    states.NEEDS_OPERATOR: 'danger', states.DONE: 'success',
    states.TASK_CANCELLED: 'warning'}


# A VM's progress bar: green when moved, red when left for you.
PROGRESS_COLOURS = {states.DONE: 'success', states.NEEDS_OPERATOR: 'danger',
                    states.RETRY_WAIT: 'warning'}
TASK_STATUS = tuple(
    [(s, None) for s in (states.PENDING, states.SUBMITTING,
                         states.MIGRATING, states.VERIFYING,
                         states.RETRY_WAIT)] +
    [(states.DONE, True), (states.SKIPPED, True), (states.GONE, True),
     (states.NEEDS_OPERATOR, False), (states.TASK_CANCELLED, False)])


def coloured(choices, colours):
    """*choices* with each label drawn as a label of its state's colour.

    Lazy, as the labels: translated when drawn. The labels are ours.
    """
    return tuple((state, safestring.mark_safe(text.format_lazy(
        '<span class="label label-{} nme-state">{}</span>',
        colours.get(state, 'default'), label)))
        for state, label in choices)


class OwnActionsTable(tables.DataTable):
    """A table whose actions belong to it alone.

    Horizon builds a table class's actions once, on the class, and every
    new table re-points them to itself: a table built for another request
    meanwhile (the detail page's header actions, its poll) took the
    index's, which then rendered without batch buttons or check-box
    header. Each table here makes its own, as the class did (a shallow
    copy would not do: a batch action's bound ``single`` and ``multiple``
    still point at the shared one).
    """

    def __init__(self, request, *args, **kwargs):
        self.base_actions = collections.OrderedDict(
            (name, type(action)())
            for name, action in type(self).base_actions.items())
        shared_filter = self._meta._filter_action
        if shared_filter is not None:
            self._meta = copy.copy(self._meta)
            self._meta._filter_action = self.base_actions[shared_filter.name]
        super().__init__(request, *args, **kwargs)


class ResourceTable(OwnActionsTable):
    """A table of the contract's resources, with a ``name``.

    ``id_field`` names the attribute that identifies a row.
    """

    id_field = 'id'

    def get_object_id(self, datum):
        return getattr(datum, self.id_field)

    def get_object_display(self, datum):
        return datum.name or self.get_object_id(datum)


def _report(request):
    """Show the evacuator's message; tell the batch action it failed."""
    exceptions.handle(request, details='', escalate=True)


# Drains ------------------------------------------------------------------

class PlanDrain(tables.LinkAction):
    name = 'plan'
    policy_rules = policy.rules('create')
    verbose_name = _("Plan Drain")
    url = 'horizon:admin:drains:plan'
    classes = ('ajax-modal',)
    icon = 'plus'


class DrainAction(tables.BatchAction):
    """Change a drain's state when it is in one of *from_states*.

    *operation* names the function of :mod:`horizon_panel.api.evacuator`
    to call.
    """

    from_states = ()
    operation = None

    def allowed(self, request, datum=None):
        return datum is None or datum.state in self.from_states

    def action(self, request, obj_id):
        try:
            getattr(evacuator, self.operation)(request, obj_id)
        except evacuator.EvacuatorError:
            _report(request)

    def get_success_url(self, request=None):
        """Back to the drain's page when the click came from there.

        The page's header actions post to the list (where this table
        lives); the operator watching a drain stays on its page. Only
        the referring page's path is compared, never followed.
        """
        came_from = parse.urlsplit(request.META.get('HTTP_REFERER', '')).path
        chosen = request.POST.getlist('object_ids') or [
            request.POST.get('action', '').rpartition('__')[2]]
        for drain_id in filter(None, chosen):
            page = reverse('horizon:admin:drains:detail',
                           args=[drain_id])
            if came_from == page:
                return page
        return super().get_success_url(request)


class StartDrain(DrainAction):
    name = 'start'
    policy_rules = policy.rules('start')
    from_states = (states.PLANNED,)
    operation = 'evacuation_start'
    help_text = _("The source hosts are disabled in nova, then their VMs "
                  "are moved.")

    @staticmethod
    def action_present(count):
        return ngettext_lazy("Start Drain", "Start Drains", count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy("Started Drain", "Started Drains", count)


class PauseDrain(DrainAction):
    name = 'pause'
    policy_rules = policy.rules('pause')
    from_states = (states.RUNNING,)
    operation = 'evacuation_pause'
    help_text = _("No new migration starts; the running ones finish.")

    @staticmethod
    def action_present(count):
        return ngettext_lazy("Pause Drain", "Pause Drains", count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy("Paused Drain", "Paused Drains", count)


class ResumeDrain(DrainAction):
    name = 'resume'
    policy_rules = policy.rules('resume')
    from_states = (states.PAUSED,)
    operation = 'evacuation_resume'
    help_text = _("New migrations start again, within the window.")

    @staticmethod
    def action_present(count):
        return ngettext_lazy("Resume Drain", "Resume Drains", count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy("Resumed Drain", "Resumed Drains", count)


class CancelDrain(DrainAction):
    name = 'cancel'
    policy_rules = policy.rules('cancel')
    action_type = 'danger'
    from_states = tuple(sorted(
        state for state, allowed in states.EVACUATION_TRANSITIONS.items()
        if states.CANCELLED in allowed))
    operation = 'evacuation_cancel'
    help_text = _("Queued VMs stay where they are and live migrations "
                  "under way are aborted; cold migrations under way "
                  "finish.")

    @staticmethod
    def action_present(count):
        # Not "Cancel": the confirmation's own button says that.
        return ngettext_lazy("Stop Drain", "Stop Drains", count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy("Stopped Drain", "Stopped Drains", count)


class DrainRow(tables.Row):
    ajax = True

    def load_cells(self, datum=None):
        super().load_cells(datum)
        # VMs left for the operator: the row stands out, whatever its
        # state (Horizon's own 'warning' marks rows still changing).
        if self.datum.needs_operator:
            self.classes.extend(('danger', 'needs-operator'))

    def get_data(self, request, drain_id):
        for drain in evacuator.evacuation_list(request):
            if drain.id == drain_id:
                return drain
        raise exceptions.NotFound(_("Drain %s no longer exists.")
                                  % drain_id)


def drain_state(datum):
    """The state a drain shows: completed with VMs left says so."""
    if datum.state == states.COMPLETED and datum.needs_operator:
        return COMPLETED_LEFT
    return datum.state


def _to_the_second(moment):
    """A contract timestamp (naive UTC) as the tables show it."""
    return moment.strftime('%Y-%m-%d %H:%M:%S')


def _hosts(datum):
    return ', '.join(datum.sources)


def _list_progress(datum):
    if datum.state == states.PLANNED:
        return ''
    return '%.1f%%' % datum.progress


def _needs_you(datum):
    count = datum.needs_operator
    if not count:
        return ''
    return ngettext_lazy('%(count)d VM', '%(count)d VMs', count) % {
        'count': count}


def _vms_tab(datum):
    return '%s?tab=drain_details__tasks' % reverse(
        'horizon:admin:drains:detail', args=[datum.id])


class DrainsTable(ResourceTable):
    name = tables.WrappingColumn('name', verbose_name=_("Name"),
                                 link='horizon:admin:drains:detail')
    state = tables.Column(drain_state, verbose_name=_("State"), status=True,
                          status_choices=DRAIN_STATUS,
                          display_choices=coloured(DRAIN_STATES,
                                                   DRAIN_COLOURS))
    progress = tables.Column(_list_progress, verbose_name=_("Progress"),
                             empty_value='')
    needs_you = tables.Column(
        _needs_you, verbose_name=_("Needs You"), link=_vms_tab,
        empty_value='',
        help_text=_("VMs left for you, each with the reason and what to "
                    "do."))
    sources = tables.Column(_hosts, verbose_name=_("Source Hosts"))
    owner = tables.Column('owner', verbose_name=_("Driven By"),
                          empty_value='-')
    created = tables.Column('created_at', verbose_name=_("Created (UTC)"),
                            filters=(_to_the_second,))

    class Meta(object):
        name = 'drains'
        verbose_name = _("Host Drains")
        status_columns = ['state']
        row_class = DrainRow
        table_actions = (PlanDrain, StartDrain, PauseDrain, ResumeDrain,
                         CancelDrain)
        row_actions = (StartDrain, PauseDrain, ResumeDrain, CancelDrain)


# Tasks (one VM each) -----------------------------------------------------

def _states_leading_to(target, excluded=()):
    return tuple(sorted(
        state for state, allowed in states.TASK_TRANSITIONS.items()
        if target in allowed and state not in excluded))


class TaskAction(tables.BatchAction):
    """Act on one VM of the drain shown."""

    from_states = ()
    operation = None

    def allowed(self, request, datum=None):
        return datum is None or datum.state in self.from_states

    def action(self, request, obj_id):
        try:
            getattr(evacuator, self.operation)(
                request, self.table.kwargs['drain_id'], obj_id)
        except evacuator.EvacuatorError:
            _report(request)

    def get_success_url(self, request=None):
        return reverse('horizon:admin:drains:detail',
                       args=[self.table.kwargs['drain_id']])


class RetryTask(TaskAction):
    name = 'retry'
    policy_rules = policy.rules('retry')
    # Every state a VM can be sent back to pending from, except the
    # evacuator's own short-lived 'submitting'.
    from_states = _states_leading_to(states.PENDING,
                                     excluded=(states.SUBMITTING,))
    operation = 'task_retry'
    help_text = _("The VM is queued again with its attempts reset; a "
                  "completed drain is reopened.")

    @staticmethod
    def action_present(count):
        return ngettext_lazy("Retry VM", "Retry VMs", count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy("Queued VM again", "Queued VMs again", count)


class RetryWithDowntime(RetryTask):
    """The remedy for a VM live migration cannot move: let it go cold."""

    name = 'retry_cold'
    from_states = (states.NEEDS_OPERATOR,)
    help_text = _("The VM may be cold-migrated: it is shut down, copied "
                  "and started on its target. One that live migration "
                  "already failed goes cold at once.")

    def action(self, request, obj_id):
        try:
            evacuator.task_retry(request, self.table.kwargs['drain_id'],
                                 obj_id, allow_downtime=True)
        except evacuator.EvacuatorError:
            _report(request)

    @staticmethod
    def action_present(count):
        return ngettext_lazy("Allow Downtime and Retry",
                             "Allow Downtime and Retry", count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy("Queued VM again, downtime allowed",
                             "Queued VMs again, downtime allowed", count)


class RetryElsewhere(tables.LinkAction):
    """The remedy for a target that refused the VM: choose another."""

    name = 'retry_elsewhere'
    verbose_name = _("Retry on Another Host")
    policy_rules = policy.rules('retry')
    classes = ('ajax-modal',)
    from_states = (states.NEEDS_OPERATOR,)

    def allowed(self, request, datum=None):
        return datum is not None and datum.state in self.from_states

    def get_link_url(self, datum):
        return reverse('horizon:admin:drains:retry_elsewhere',
                       args=[self.table.kwargs['drain_id'],
                             datum.server_id])


class SkipTask(TaskAction):
    name = 'skip'
    policy_rules = policy.rules('skip')
    from_states = _states_leading_to(states.SKIPPED)
    operation = 'task_skip'
    help_text = _("The VM stays on its source host.")

    @staticmethod
    def action_present(count):
        return ngettext_lazy("Skip VM", "Skip VMs", count)

    @staticmethod
    def action_past(count):
        return ngettext_lazy("Skipped VM", "Skipped VMs", count)


class TaskFilter(tables.FilterAction):
    """Find VMs by name, host, method or state, in the browser."""

    name = 'filter_tasks'


class TaskRow(tables.Row):
    ajax = True

    def get_data(self, request, server_id):
        drain_id = self.table.kwargs['drain_id']
        info = evacuator.evacuation_get_shared(request, drain_id)
        for task in task_rows(info):
            if task.server_id == server_id:
                return task
        raise exceptions.NotFound(_("Drain %(drain)s has no VM "
                                    "%(server)s.") %
                                  {'drain': drain_id,
                                   'server': server_id})


def task_rows(drain):
    """The rows of the VMs table: the drain's tasks."""
    return list(drain.tasks or ())


def _progress_bar(datum):
    """The VM's progress as a bar of its state's colour."""
    percent = '%.0f' % datum.progress
    return html.format_html(
        '<div class="progress nme-progress" style="margin: 0; '
        'min-width: 6em"><div class="progress-bar progress-bar-{}" '
        'role="progressbar" aria-valuenow="{}" aria-valuemin="0" '
        'aria-valuemax="100" style="min-width: 2.5em; width: {}%">'
        '{}%</div></div>', PROGRESS_COLOURS.get(datum.state, 'info'),
        percent, percent, percent)


# Where nova's fault text turns into source lines or a traceback.
_SOURCE_LINE = re.compile(r':?\s+raise \w|\s*Traceback \(|\n')
SHORT_ERROR = 200


def short_error(text):
    """The first sentence-like part of an error, without source lines."""
    text = _SOURCE_LINE.split(text or '', maxsplit=1)[0].strip()
    if len(text) > SHORT_ERROR:
        text = text[:SHORT_ERROR].rsplit(' ', 1)[0] + '\u2026'
    return text


def _error_and_remedy(datum):
    """The VM's last error and remedy, while they still matter.

    A short sentence (the remedy, which names the error, or the error's
    first part), and the whole text behind "Details". A VM that ended
    well (moved, skipped, deleted by its owner) shows none: an error of
    an attempt that a retry overcame only misleads. One queued or moving
    again shows it as an earlier attempt's, muted: beside its target it
    would read as that target's.
    """
    error = datum.last_error or ''
    remedy = datum.remedy or ''
    if datum.state in ENDED_WELL or not (error or remedy):
        return ''
    short = short_error(error)
    said = short_error(remedy) if short and short in remedy else ' '.join(
        part for part in (short, short_error(remedy)) if part)
    full = '\n\n'.join(part for part in (error, remedy) if part)
    details = '' if said == full else html.format_html(
        ' <details class="nme-details"><summary>{}</summary>'
        '<pre style="white-space: pre-wrap">{}</pre></details>',
        _("Details"), full)
    if datum.state in MOVING_AGAIN:
        return html.format_html(
            '<span class="text-muted nme-earlier">{} {}</span>{}',
            _("Earlier attempt:"), said, details)
    return html.format_html('{}{}', said, details) if details else said


class TasksTable(ResourceTable):
    id_field = 'server_id'

    name = tables.Column('name', verbose_name=_("VM"))
    source = tables.Column('source', verbose_name=_("From"))
    target = tables.Column('target', verbose_name=_("To"), empty_value='-')
    method = tables.Column('method', verbose_name=_("Method"))
    state = tables.Column('state', verbose_name=_("State"), status=True,
                          status_choices=TASK_STATUS,
                          display_choices=coloured(TASK_STATES,
                                                   TASK_COLOURS))
    phase = tables.Column('phase', verbose_name=_("Phase"), empty_value='')
    progress = tables.Column(_progress_bar, verbose_name=_("Progress"))
    attempts = tables.Column('attempts', verbose_name=_("Attempts"))
    problem = tables.Column(_error_and_remedy,
                            verbose_name=_("Last Error / Remedy"),
                            empty_value='')

    class Meta(object):
        name = 'tasks'
        verbose_name = _("VMs")
        status_columns = ['state']
        row_class = TaskRow
        table_actions = (TaskFilter, RetryTask, SkipTask)
        row_actions = (RetryTask, RetryWithDowntime, RetryElsewhere,
                       SkipTask)


# Audit log ---------------------------------------------------------------

class AuditRow(collections.namedtuple('AuditRow',
                                      'id at actor action detail')):
    """An audit entry as a row: numbered, VMs named in its detail."""

    @classmethod
    def of(cls, number, entry, detail):
        return cls(str(number), entry.at, entry.actor, entry.action, detail)


class AuditTable(OwnActionsTable):
    # To the second: several entries share a minute.
    at = tables.Column('at', verbose_name=_("At (UTC)"),
                       filters=(_to_the_second,))
    actor = tables.Column('actor', verbose_name=_("Actor"))
    action = tables.Column('action', verbose_name=_("Action"))
    detail = tables.WrappingColumn('detail', verbose_name=_("Detail"))

    def get_object_id(self, datum):
        return datum.id

    class Meta(object):
        name = 'audit'
        verbose_name = _("Audit Log")
