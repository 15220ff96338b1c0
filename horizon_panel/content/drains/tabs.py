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
"""Tabs of a drain's page: overview, VMs, audit log."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from horizon import tabs
from oslo_utils import timeutils

from horizon_panel.content.drains import tables
from nova_migration_ext.contract import display


def _moment(moment):
    """*moment* as a naive UTC datetime, or None."""
    return timeutils.normalize_time(moment) if moment else None


def _poll_interval():
    """Milliseconds between two refreshes of a tab: Horizon's rows'."""
    return settings.HORIZON_CONFIG.get('ajax_poll_interval', 2500)


def _named(text, names):
    """*text* with each VM's UUID replaced by its name, as operators say."""
    for server_id, name in names.items():
        text = text.replace(server_id, name)
    return text


class OverviewTab(tabs.Tab):
    name = _("Overview")
    slug = 'overview'
    template_name = 'admin/drains/_overview.html'

    def get_context_data(self, request):
        drain = self.tab_group.kwargs['drain']
        plan = drain.plan
        task_labels = dict(tables.TASK_STATES)
        started = _moment(drain.started_at)
        finished = _moment(drain.finished_at)
        return {
            'drain': drain,
            'state_label': dict(tables.DRAIN_STATES).get(
                tables.drain_state(drain), drain.state),
            # Only while VMs may still move: planned has its estimate,
            # an ended one has nothing left.
            'moving': drain.running,
            'created': _moment(drain.created_at),
            'started': started,
            'finished': finished,
            'elapsed': display.duration(
                ((finished or timeutils.utcnow()) - started).total_seconds())
            if started else None,
            'counts': sorted(
                (str(task_labels.get(state, state)), count)
                for state, count in drain.counts.items()),
            'needs_you': drain.needs_operator,
            'eta': display.duration(drain.eta_seconds),
            'plan': plan,
            'by_method': sorted(plan.by_method.items()) if plan else [],
            'estimated': display.duration(
                plan.estimated_seconds if plan else 0),
            'unplaceable': plan.unplaceable if plan else [],
            # The page refreshes this tab until the drain ends, as
            # Horizon polls table rows.
            'polling': not drain.ended,
            'poll_interval': _poll_interval(),
        }


class TasksTab(tabs.TableTab):
    name = _("VMs")
    slug = 'tasks'
    table_classes = (tables.TasksTable,)
    template_name = 'admin/drains/_tasks.html'
    preload = True

    def get_tasks_data(self):
        return tables.task_rows(self.tab_group.kwargs['drain'])


class AuditTab(tabs.TableTab):
    name = _("Audit Log")
    slug = 'audit'
    table_classes = (tables.AuditTable,)
    template_name = 'admin/drains/_audit.html'
    preload = False

    def get_context_data(self, request, **kwargs):
        context = super().get_context_data(request, **kwargs)
        # Refreshed while the drain may still change, as the overview.
        drain = self.tab_group.kwargs['drain']
        context['polling'] = not drain.ended
        context['poll_interval'] = _poll_interval()
        return context

    def get_audit_data(self):
        # The page's answer holds the audit log: no second call.
        drain = self.tab_group.kwargs['drain']
        names = {task.server_id: task.name
                 for task in drain.tasks or () if task.name}
        return [tables.AuditRow.of(number, entry,
                                   _named(entry.detail, names))
                for number, entry in enumerate(drain.audit or ())]


class DrainTabs(tabs.DetailTabsGroup):
    slug = 'drain_details'
    tabs = (OverviewTab, TasksTab, AuditTab)
    sticky = True
