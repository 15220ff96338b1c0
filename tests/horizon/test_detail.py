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
"""A drain's page: overview, VMs with retry and skip, audit log."""

from django.core.cache import cache
from django.urls import reverse
from openstack_dashboard.test import helpers as test

from horizon_panel.api import evacuator
from horizon_panel.content.drains import tables
from tests.horizon import fakes

DETAIL_URL = reverse('horizon:admin:drains:detail',
                     args=[fakes.RUNNING_ID])
INDEX_URL = reverse('horizon:admin:drains:index')


def task_action_id(server_id, action):
    return 'tasks__row_%s__action_%s' % (server_id, action)


class DetailTests(test.BaseAdminViewTests):

    def setUp(self):
        super().setUp()
        cache.clear()     # answers shared between row updates

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_overview_shows_progress_eta_window_and_plan(self):
        self.mock_evacuation_get.return_value = fakes.show()
        res = self.client.get(DETAIL_URL)
        self.assertTemplateUsed(res, 'horizon/common/_detail.html')
        for text in ('rack-b', 'id="drain_progress"', '47.5%',
                     '1h02m', '22:00-06:00 UTC', 'Needs operator 1',
                     'Running', '2026-03-01 11:05:00 UTC',
                     'big-db', 'No target has 64 GiB of RAM free.',
                     'cold 1, live 2', '10m00s'):
            self.assertContains(res, text)
        # The page's own actions, as in the list.
        self.assertContains(res, 'id="drains__row_%s__action_pause"'
                            % fakes.RUNNING_ID)
        self.assertNotContains(res, 'vacuation')
        self.mock_evacuation_get.assert_called_once_with(
            test.IsHttpRequest(), fakes.RUNNING_ID)

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_overview_times_and_eta_follow_the_state(self):
        self.mock_evacuation_get.return_value = fakes.show(
            state='planned', started_at=None)
        res = self.client.get(DETAIL_URL)
        self.assertNotContains(res, 'id="drain_eta"')
        self.assertNotContains(res, 'id="drain_started"')
        self.assertContains(res, 'Planned')
        self.mock_evacuation_get.return_value = fakes.show(
            state='completed', finished_at='2026-03-01T12:07:30',
            counts={'done': 2, 'needs_operator': 1})
        res = self.client.get(DETAIL_URL)
        self.assertNotContains(res, 'id="drain_eta"')
        for text in ('Completed', 'Started', '2026-03-01 11:05:00 UTC',
                     'Ended', '2026-03-01 12:07:30 UTC', 'Elapsed',
                     '1h02m', 'Done 2, Needs operator 1'):
            self.assertContains(res, text)

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_overview_says_when_no_evacuator_drives_it(self):
        lapsed = ('evacuator-1 stopped renewing it 95 s ago: no evacuator '
                  'drives it. Check that nova-migration-evacuator runs')
        self.mock_evacuation_get.return_value = fakes.show(lease=lapsed)
        res = self.client.get(DETAIL_URL)
        self.assertContains(res, 'id="drain_lease"')
        self.assertContains(res, lapsed)

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_overview_refreshes_itself_until_the_drain_ends(self):
        self.mock_evacuation_get.return_value = fakes.show()
        res = self.client.get(DETAIL_URL)
        self.assertContains(res, 'data-polling="true"')
        self.assertContains(res, 'window.nmeOverviewPoll')
        # What the page fetches: the overview tab alone, fresh.
        self.mock_evacuation_get.return_value = fakes.show(
            state='completed', progress=100.0, counts={'done': 3})
        res = self.client.get(DETAIL_URL + '?tab=drain_details__overview',
                              HTTP_X_REQUESTED_WITH='XMLHttpRequest')
        self.assertTemplateUsed(res, 'admin/drains/_overview.html')
        self.assertNotContains(res, 'tasks__row_')
        self.assertContains(res, 'data-polling="false"')
        self.assertContains(res, '100.0%')
        self.assertNotContains(res, 'window.nmeOverviewPoll')

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_tasks_with_state_progress_error_and_remedy(self):
        self.mock_evacuation_get.return_value = fakes.show()
        res = self.client.get(DETAIL_URL)
        table = res.context['tab_group'].get_tab('tasks')._tables['tasks']
        self.assertEqual([fakes.TASK_DONE, fakes.TASK_MIGRATING,
                          fakes.TASK_STUCK],
                         [row.server_id for row in table.data])
        for text in ('web-1', 'web-2', 'db-1', 'live_migration_pre', '42%',
                     'Needs operator',
                     'Network filter not found Restart nova-compute on '
                     'new1, then retry.'):
            self.assertContains(res, text)
        self.assertContains(res, 'id="%s"'
                            % task_action_id(fakes.TASK_STUCK, 'retry'))
        self.assertContains(res, 'id="%s"'
                            % task_action_id(fakes.TASK_STUCK, 'skip'))
        for server in (fakes.TASK_DONE, fakes.TASK_MIGRATING):
            for action in ('retry', 'skip'):
                self.assertNotContains(res, task_action_id(server, action))
        rows = {row.datum.server_id: row for row in table.get_rows()}
        self.assertIsNone(rows[fakes.TASK_MIGRATING].status)
        self.assertTrue(rows[fakes.TASK_DONE].status)
        # States in colour (done green, left for you red, moving blue),
        # and each VM's progress as a bar of the same meaning.
        for server, colour, label in (
                (fakes.TASK_DONE, 'success', 'Done'),
                (fakes.TASK_STUCK, 'danger', 'Needs operator'),
                (fakes.TASK_MIGRATING, 'primary', 'Migrating')):
            self.assertEqual(
                '<span class="label label-%s nme-state">%s</span>'
                % (colour, label), str(rows[server].cells['state'].data))
        bar = str(rows[fakes.TASK_MIGRATING].cells['progress'].data)
        self.assertIn('class="progress-bar progress-bar-info"', bar)
        self.assertIn('aria-valuenow="42"', bar)
        self.assertIn('width: 42%', bar)
        self.assertIn('progress-bar-success', str(
            rows[fakes.TASK_DONE].cells['progress'].data))
        self.assertIn('progress-bar-danger', str(
            rows[fakes.TASK_STUCK].cells['progress'].data))

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_header_actions_confirm_with_the_drain_s_name(self):
        # Horizon's confirmation of an action in a page header names the
        # object from the page's dd[data-display] ("You have selected:
        # ." without it).
        self.mock_evacuation_get.return_value = fakes.show()
        res = self.client.get(DETAIL_URL)
        self.assertContains(res, '<dd data-display="rack-b">rack-b</dd>',
                            count=1, html=False)

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_overview_says_when_vms_need_the_operator(self):
        self.mock_evacuation_get.return_value = fakes.show()
        res = self.client.get(DETAIL_URL)
        self.assertContains(res, 'id="drain_needs_you"')
        self.assertContains(res, '1 VM needs you')
        self.assertContains(res, 'href="?tab=drain_details__tasks"')
        self.mock_evacuation_get.return_value = fakes.show(
            counts={'done': 3})
        res = self.client.get(DETAIL_URL)
        self.assertNotContains(res, 'id="drain_needs_you"')
        # Ended with a VM left: its state says so.
        self.mock_evacuation_get.return_value = fakes.show(
            state='completed', counts={'done': 2, 'needs_operator': 1})
        res = self.client.get(DETAIL_URL)
        self.assertContains(
            res, '<dd id="drain_state">Completed, VMs left for you</dd>')

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_error_is_one_sentence_with_the_rest_behind_details(self):
        # As the panel met it: nova's fault with its source line, and a
        # remedy that repeats it.
        error = ('Migration pre-check error: disk_fit: new3 has 2.0 GiB '
                 'free, the disk of vm-1 needs 9.0 GiB.:     raise '
                 'exception.MigrationPreCheckError(msg)')
        info = fakes.show()
        task = info.tasks[2]
        task.last_error, task.remedy = (
            error,
            'left on old3: Migration pre-check error: disk_fit: new3 '
            'has 2.0 GiB free, the disk of vm-1 needs 9.0 GiB.')
        self.mock_evacuation_get.return_value = info
        res = self.client.get(DETAIL_URL)
        table = res.context['tab_group'].get_tab('tasks')._tables['tasks']
        cell = str(table.get_rows()[2].cells['problem'].data)
        said, _sep, details = cell.partition('<details')
        self.assertEqual('left on old3: Migration pre-check error: disk_fit: '
                         'new3 has 2.0 GiB free, the disk of vm-1 needs 9.0 '
                         'GiB.', said.strip())
        self.assertIn('raise exception.MigrationPreCheckError(msg)', details)
        self.assertIn('<summary>Details</summary>', details)

    def test_short_error(self):
        self.assertEqual('No valid host was found.', tables.short_error(
            'No valid host was found.:     raise exception.NoValidHost('
            'reason=reason)'))
        self.assertEqual('boom', tables.short_error(
            'boom\nTraceback (most recent call last):\n  File "x"'))
        long_error = 'word ' * 100
        short = tables.short_error(long_error)
        self.assertLessEqual(len(short), tables.SHORT_ERROR + 1)
        self.assertTrue(short.endswith('word\u2026'))

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_vm_done_after_a_retry_shows_no_old_error(self):
        info = fakes.show()
        task = info.tasks[2]
        task.state, task.progress, task.attempts = 'done', 100.0, 4
        self.mock_evacuation_get.return_value = info
        res = self.client.get(DETAIL_URL)
        self.assertNotContains(res, 'Network filter not found')
        self.assertNotContains(res, 'Restart nova-compute on new1')

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_task_row_update(self):
        info = fakes.show()
        info.tasks[1].state, info.tasks[1].progress = 'done', 100.0
        self.mock_evacuation_get.return_value = info
        res = self.client.get(
            DETAIL_URL, {'action': 'row_update', 'table': 'tasks',
                         'obj_id': fakes.TASK_MIGRATING},
            HTTP_X_REQUESTED_WITH='XMLHttpRequest')
        self.assertEqual(200, res.status_code)
        self.assertContains(res, 'web-2')
        self.assertContains(res, '100%')
        self.assertContains(res, 'Done')
        self.assertNotContains(res, 'web-1')

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_vms_tab_has_a_filter_of_its_own(self):
        self.mock_evacuation_get.return_value = fakes.show()
        res = self.client.get(DETAIL_URL)
        table = res.context['tab_group'].get_tab('tasks')._tables['tasks']
        self.assertIs(table, table._meta._filter_action.table)
        self.assertContains(res, 'name="tasks__filter_tasks__q"')
        # The class's own filter was never handed to a table.
        self.assertIsNone(type(table)._meta._filter_action.table)

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_row_updates_of_one_poll_share_one_show(self):
        # Horizon sends one request per polled row: hundreds of VMs must
        # not mean hundreds of full answers per interval.
        self.mock_evacuation_get.return_value = fakes.show()
        for server in (fakes.TASK_MIGRATING, fakes.TASK_STUCK):
            res = self.client.get(
                DETAIL_URL, {'action': 'row_update', 'table': 'tasks',
                             'obj_id': server},
                HTTP_X_REQUESTED_WITH='XMLHttpRequest')
            self.assertEqual(200, res.status_code)
        self.assertEqual(1, self.mock_evacuation_get.call_count)
        # The page itself always asks afresh.
        self.client.get(DETAIL_URL)
        self.assertEqual(2, self.mock_evacuation_get.call_count)

    @test.create_mocks({evacuator: ['evacuation_get', 'task_retry']})
    def test_retry(self):
        self.mock_evacuation_get.return_value = fakes.show()
        self.mock_task_retry.return_value = fakes.show()
        res = self.client.post(DETAIL_URL, {
            'action': 'tasks__retry__%s' % fakes.TASK_STUCK})
        self.assertRedirectsNoFollow(res, DETAIL_URL)
        self.mock_task_retry.assert_called_once_with(
            test.IsHttpRequest(), fakes.RUNNING_ID, fakes.TASK_STUCK)

    @test.create_mocks({evacuator: ['evacuation_get', 'task_retry']})
    def test_allow_downtime_and_retry(self):
        self.mock_evacuation_get.return_value = fakes.show()
        self.mock_task_retry.return_value = fakes.show()
        res = self.client.get(DETAIL_URL)
        # Offered to the VM left for the operator only.
        self.assertContains(res, 'id="%s"' % task_action_id(
            fakes.TASK_STUCK, 'retry_cold'))
        self.assertNotContains(res, task_action_id(fakes.TASK_MIGRATING,
                                                   'retry_cold'))
        res = self.client.post(DETAIL_URL, {
            'action': 'tasks__retry_cold__%s' % fakes.TASK_STUCK})
        self.assertRedirectsNoFollow(res, DETAIL_URL)
        self.mock_task_retry.assert_called_once_with(
            test.IsHttpRequest(), fakes.RUNNING_ID, fakes.TASK_STUCK,
            allow_downtime=True)

    @test.create_mocks({evacuator: ['evacuation_get', 'task_retry',
                                    'host_list']})
    def test_retry_on_another_host(self):
        # The remedy for a target that refused the VM (too small a disk):
        # the operator picks another, among the enabled, running hosts
        # the drain is not emptying, seeing the room left on each.
        self.mock_evacuation_get.return_value = fakes.show()
        self.mock_task_retry.return_value = fakes.show()
        self.mock_host_list.return_value = fakes.HOSTS
        res = self.client.get(DETAIL_URL)
        self.assertContains(res, 'id="%s"' % task_action_id(
            fakes.TASK_STUCK, 'retry_elsewhere'))
        self.assertNotContains(res, task_action_id(fakes.TASK_DONE,
                                                   'retry_elsewhere'))
        url = reverse('horizon:admin:drains:retry_elsewhere',
                      args=[fakes.RUNNING_ID, fakes.TASK_STUCK])
        res = self.client.get(url)
        self.assertContains(res, 'id="retry_elsewhere_form"')
        self.assertContains(
            res, '<option value="devstack001">devstack001 (3 VMs; vCPUs '
                 '5 / 8 (\u00d74); RAM 6144 / 16384 MiB; 200.0 GiB disk '
                 'free)</option>')
        self.assertContains(res, '<option value="devstack003">')
        # Down: not offered.
        self.assertNotContains(res, 'value="devstack002"')
        res = self.client.post(url, {'drain_id': fakes.RUNNING_ID,
                                     'server_id': fakes.TASK_STUCK,
                                     'target': 'devstack001'})
        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, DETAIL_URL)
        self.mock_task_retry.assert_called_once_with(
            test.IsHttpRequest(), fakes.RUNNING_ID, fakes.TASK_STUCK,
            target='devstack001')

    @test.create_mocks({evacuator: ['evacuation_get', 'task_retry',
                                    'host_list']})
    def test_retry_on_another_host_refused_says_why(self):
        self.mock_evacuation_get.return_value = fakes.show()
        self.mock_host_list.return_value = fakes.HOSTS
        message = ('devstack001 is not an enabled, running compute host. '
                   'Choose one of new2. Nothing was changed.')
        self.mock_task_retry.side_effect = evacuator.EvacuatorError(message)
        res = self.client.post(
            reverse('horizon:admin:drains:retry_elsewhere',
                    args=[fakes.RUNNING_ID, fakes.TASK_STUCK]),
            {'drain_id': fakes.RUNNING_ID, 'server_id': fakes.TASK_STUCK,
             'target': 'devstack001'})
        self.assertEqual(200, res.status_code)
        self.assertContains(res, message)

    @test.create_mocks({evacuator: ['evacuation_get', 'task_skip']})
    def test_skip(self):
        self.mock_evacuation_get.return_value = fakes.show()
        self.mock_task_skip.return_value = fakes.show()
        res = self.client.post(DETAIL_URL, {
            'action': 'tasks__skip__%s' % fakes.TASK_STUCK})
        self.assertRedirectsNoFollow(res, DETAIL_URL)
        self.mock_task_skip.assert_called_once_with(
            test.IsHttpRequest(), fakes.RUNNING_ID, fakes.TASK_STUCK)

    @test.create_mocks({evacuator: ['evacuation_get', 'task_retry']})
    def test_retry_not_offered_for_a_vm_that_moved(self):
        self.mock_evacuation_get.return_value = fakes.show()
        self.client.post(DETAIL_URL, {
            'action': 'tasks__retry__%s' % fakes.TASK_DONE})
        self.mock_task_retry.assert_not_called()

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_audit_tab(self):
        self.mock_evacuation_get.return_value = fakes.show(
            audit=fakes.AUDIT_JSON)
        res = self.client.get(DETAIL_URL + '?tab=drain_details__audit')
        for text in ('alice', 'bob', 'planned -&gt; running',
                     'planned 3 VMs', '2026-03-01 11:05:00',
                     '2026-03-01 11:05:07', 'web-1 verified running on new1'):
            self.assertContains(res, text)
        self.assertNotContains(res, fakes.TASK_DONE + ' verified')
        # One call: the drain's answer holds its audit log.
        self.mock_evacuation_get.assert_called_once_with(
            test.IsHttpRequest(), fakes.RUNNING_ID)
        # Running: the tab fetches itself again, the page stays.
        self.assertContains(res, 'data-polling="true"')
        self.assertContains(res, 'window.nmeAuditPoll')

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_tabs_poll_while_a_vm_may_still_move(self):
        # One rule for the overview and the audit log (and the CLI's
        # --wait): Drain.ended. Cancelled with a VM mid-migration: nova
        # still moves it, both tabs follow; failed with nothing moving:
        # nothing changes until the operator acts, neither polls.
        for state, counts, polling in (
                ('cancelled', {'migrating': 1, 'cancelled': 2}, 'true'),
                ('failed', {'needs_operator': 1, 'done': 2}, 'false')):
            self.mock_evacuation_get.return_value = fakes.show(
                state=state, counts=counts, audit=fakes.AUDIT_JSON)
            for tab in ('overview', 'audit'):
                res = self.client.get(
                    DETAIL_URL + '?tab=drain_details__' + tab,
                    HTTP_X_REQUESTED_WITH='XMLHttpRequest')
                self.assertContains(res, 'data-polling="%s"' % polling,
                                    msg_prefix='%s %s' % (state, tab))

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_audit_of_an_ended_drain_stays_put(self):
        self.mock_evacuation_get.return_value = fakes.show(
            state='completed', audit=fakes.AUDIT_JSON,
            counts={'done': 2, 'needs_operator': 1})
        res = self.client.get(DETAIL_URL + '?tab=drain_details__audit')
        self.assertContains(res, 'data-polling="false"')
        self.assertNotContains(res, 'window.nmeAuditPoll')

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_unknown_drain_goes_back_to_the_list(self):
        self.mock_evacuation_get.side_effect = evacuator.EvacuatorError(
            'No evacuation nope.')
        res = self.client.get(reverse('horizon:admin:drains:detail',
                                      args=['nope']))
        self.assertRedirectsNoFollow(res, INDEX_URL)
