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
"""A VM's error is never read as its current target's.

The issue's "To new1 stands beside an error about new3": db-1, refused
by new3, retried on new1; its record still held new3's refusal, and the
VMs tab drew it beside "new1" as if new1 had refused it.
"""

from django.core.cache import cache
from django.urls import reverse
from openstack_dashboard.test import helpers as test

from horizon_panel.api import evacuator
from tests.horizon import fakes

DETAIL_URL = reverse('horizon:admin:drains:detail',
                     args=[fakes.RUNNING_ID])
NEW3_REFUSAL = ('Migration pre-check error: disk_fit: new3 has 2.0 GiB '
                'free, the disk of db-1 needs 9.0 GiB.')


class TaskErrorTests(test.BaseAdminViewTests):

    def setUp(self):
        super().setUp()
        cache.clear()

    def problem(self, **task):
        """db-1's Error/Remedy cell and its To cell, with *task*."""
        info = fakes.show()
        stuck = info.tasks[2]
        stuck.last_error = NEW3_REFUSAL
        stuck.remedy = 'left on old3: %s' % NEW3_REFUSAL
        for key, value in task.items():
            setattr(stuck, key, value)
        self.mock_evacuation_get.return_value = info
        res = self.client.get(DETAIL_URL)
        table = res.context['tab_group'].get_tab('tasks')._tables['tasks']
        row = {r.datum.server_id: r for r in table.get_rows()}[
            fakes.TASK_STUCK]
        return str(row.cells['problem'].data), row.cells['target'].data

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_left_for_the_operator_the_error_is_its_target_s(self):
        cell, target = self.problem(state='needs_operator', target='new3')
        self.assertEqual('new3', target)
        self.assertTrue(cell.startswith('left on old3: Migration pre-check '
                                        'error: disk_fit: new3'), cell)
        self.assertNotIn('Earlier attempt', cell)

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_retried_on_another_host_the_old_error_is_an_earlier_one(self):
        for state in ('pending', 'migrating', 'verifying'):
            cell, target = self.problem(state=state, target='new1')
            self.assertEqual('new1', target)
            self.assertTrue(cell.startswith(
                '<span class="text-muted nme-earlier">Earlier attempt: '
                'left on old3: Migration pre-check error: disk_fit: new3'),
                '%s: %s' % (state, cell))

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_waiting_to_retry_the_error_is_why(self):
        cell, _target = self.problem(state='retry_wait', target='new1',
                                     last_error='Network filter not found',
                                     remedy=None)
        self.assertEqual('Network filter not found', cell)

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_a_remedy_quoting_the_error_drops_its_source_line(self):
        error = ('No valid host was found. There are not enough hosts '
                 'available.:     raise exception.NoValidHost(reason=reason)')
        cell, _target = self.problem(state='needs_operator', target='new3',
                                     last_error=error,
                                     remedy='left on old3: %s' % error)
        said, _sep, details = cell.partition(' <details')
        self.assertEqual('left on old3: No valid host was found. There are '
                         'not enough hosts available.', said)
        self.assertIn('raise exception.NoValidHost', details)
