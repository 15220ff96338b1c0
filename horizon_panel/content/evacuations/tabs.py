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
"""Tabs of an evacuation's page: overview, VMs, audit log."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from horizon import exceptions
from horizon import tabs
from oslo_utils import timeutils

from horizon_panel.api import evacuator
from horizon_panel.content.evacuations import tables
from nova_migration_ext.contract import display
from nova_migration_ext.contract import states


def _moment(text):
    """A naive UTC datetime from the evacuator's ISO text, or None."""
    return timeutils.normalize_time(timeutils.parse_isotime(text)) \
        if text else None


def _named(text, names):
    """*text* with each VM's UUID replaced by its name, as operators say."""
    for server_id, name in names.items():
        text = text.replace(server_id, name)
    return text


class OverviewTab(tabs.Tab):
    name = _("Overview")
    slug = 'overview'
    template_name = 'admin/evacuations/_overview.html'

    def get_context_data(self, request):
        info = self.tab_group.kwargs['evacuation']
        plan = info.get('plan') or {}
        task_labels = dict(tables.TASK_STATES)
        started = _moment(info.get('started_at'))
        finished = _moment(info.get('finished_at'))
        return {
            'evacuation': info,
            'state_label': dict(tables.EVACUATION_STATES).get(
                info['state'], info['state']),
            # Only while VMs may still move: planned has its estimate,
            # an ended one has nothing left.
            'moving': info['state'] in (states.RUNNING, states.PAUSED),
            'created': _moment(info.get('created_at')),
            'started': started,
            'finished': finished,
            'elapsed': display.duration(
                ((finished or timeutils.utcnow()) - started).total_seconds())
            if started else None,
            'counts': sorted(
                (str(task_labels.get(state, state)), count)
                for state, count in (info.get('counts') or {}).items()),
            'needs_you': (info.get('counts') or {}).get(
                states.NEEDS_OPERATOR, 0),
            'eta': display.duration(info.get('eta_seconds')),
            'plan': plan,
            'by_method': sorted((plan.get('by_method') or {}).items()),
            'estimated': display.duration(plan.get('estimated_seconds')),
            'unplaceable': plan.get('unplaceable') or [],
            # The page refreshes this tab until the evacuation ends, as
            # Horizon polls table rows.
            'polling': info['state'] not in states.EVACUATION_FINAL,
            'poll_interval': settings.HORIZON_CONFIG.get(
                'ajax_poll_interval', 2500),
        }


class TasksTab(tabs.TableTab):
    name = _("VMs")
    slug = 'tasks'
    table_classes = (tables.TasksTable,)
    template_name = 'horizon/common/_detail_table.html'
    preload = True

    def get_tasks_data(self):
        return tables.task_rows(self.tab_group.kwargs['evacuation'])


class AuditTab(tabs.TableTab):
    name = _("Audit Log")
    slug = 'audit'
    table_classes = (tables.AuditTable,)
    template_name = 'horizon/common/_detail_table.html'
    preload = False

    def get_audit_data(self):
        try:
            info = evacuator.evacuation_get(
                self.request, self.tab_group.kwargs['evacuation_id'],
                with_audit=True)
        except evacuator.EvacuatorError:
            exceptions.handle(self.request, details='')
            return []
        names = {task['server_id']: task['name']
                 for task in info.get('tasks') or () if task.get('name')}
        return [dict(entry, id=str(number),
                     detail=_named(entry.get('detail') or '', names))
                for number, entry in enumerate(info.get('audit') or ())]


class EvacuationTabs(tabs.DetailTabsGroup):
    slug = 'evacuation_details'
    tabs = (OverviewTab, TasksTab, AuditTab)
    sticky = True
