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
"""The list of drains, its actions and its row polling."""

from unittest import mock

from django.urls import reverse
from openstack_dashboard.test import helpers as test

from horizon_panel.api import evacuator
from horizon_panel.content.drains import tables
from tests.horizon import fakes

INDEX_URL = reverse('horizon:admin:drains:index')


def action_id(drain_id, action):
    return 'drains__row_%s__action_%s' % (drain_id, action)


class IndexTests(test.BaseAdminViewTests):

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_lists_drains(self):
        self.mock_evacuation_list.return_value = fakes.LIST
        res = self.client.get(INDEX_URL)
        self.assertTemplateUsed(res, 'admin/drains/index.html')
        self.assertEqual([e.id for e in fakes.LIST],
                         [e.id for e in res.context['table'].data])
        for name in ('rack-a', 'rack-b', 'rack-c', 'rack-d', 'old1, old2',
                     'evacuator-1'):
            self.assertContains(res, name)
        self.assertContains(res, reverse('horizon:admin:drains:detail',
                                         args=[fakes.PLANNED_ID]))
        self.assertContains(res, 'id="drains__action_plan"')
        # Drains, never "evacuations" (nova's evacuate is another thing).
        self.assertNotContains(res, 'vacuation')
        self.mock_evacuation_list.assert_called_once_with(test.IsHttpRequest())

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_vms_left_for_the_operator_stand_out(self):
        # rack-d completed with 2 VMs left for the operator; the others
        # have none.
        self.mock_evacuation_list.return_value = fakes.LIST
        res = self.client.get(INDEX_URL)
        rows = {row.datum.id: row for row in
                res.context['table'].get_rows()}
        self.assertIn('needs-operator', rows[fakes.DONE_ID].classes)
        self.assertIn('danger', rows[fakes.DONE_ID].classes)
        self.assertNotIn('needs-operator', rows[fakes.RUNNING_ID].classes)
        self.assertEqual('2 VMs', str(
            rows[fakes.DONE_ID].cells['needs_you'].data))
        self.assertEqual(
            '<span class="label label-danger nme-state">Completed, VMs '
            'left for you</span>',
            str(rows[fakes.DONE_ID].cells['state'].data))
        self.assertEqual(
            '<span class="label label-primary nme-state">Running</span>',
            str(rows[fakes.RUNNING_ID].cells['state'].data))
        self.assertEqual(
            '<span class="label label-default nme-state">Planned</span>',
            str(rows[fakes.PLANNED_ID].cells['state'].data))
        self.assertEqual('', rows[fakes.RUNNING_ID].cells['needs_you'].data)
        self.assertContains(res, 'href="%s?tab=drain_details__tasks"'
                            % reverse('horizon:admin:drains:detail',
                                      args=[fakes.DONE_ID]))

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_actions_follow_the_state(self):
        self.mock_evacuation_list.return_value = fakes.LIST
        res = self.client.get(INDEX_URL)
        offered = {
            fakes.PLANNED_ID: {'start', 'cancel'},
            fakes.RUNNING_ID: {'pause', 'cancel'},
            fakes.PAUSED_ID: {'resume', 'cancel'},
            fakes.DONE_ID: set(),
        }
        for drain_id, actions in offered.items():
            for action in ('start', 'pause', 'resume', 'cancel'):
                html_id = 'id="%s"' % action_id(drain_id, action)
                if action in actions:
                    self.assertContains(res, html_id, msg_prefix=action)
                else:
                    self.assertNotContains(res, html_id, msg_prefix=action)

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_another_table_built_meanwhile_changes_nothing(self):
        # A drain's page (and its poll, every 2.5 s) builds a
        # DrainsTable for its header actions. Horizon keeps a
        # table's actions on its class: built while the index renders,
        # that empty table took them, and the index lost its batch
        # buttons and its check-box column header.
        def list_while_a_detail_page_renders(request):
            tables.DrainsTable(request)
            return fakes.LIST
        self.mock_evacuation_list.side_effect = \
            list_while_a_detail_page_renders
        res = self.client.get(INDEX_URL)
        for action in ('start', 'pause', 'resume', 'cancel'):
            self.assertContains(res, 'id="drains__action_%s"' % action,
                                msg_prefix=action)
        table = res.context['table']
        self.assertTrue(all(action.table is table
                            for action in table.get_table_actions()))
        self.assertContains(res, 'class="multi_select_column', count=1 +
                            len(fakes.LIST))

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_rows_poll_while_the_state_may_change(self):
        self.mock_evacuation_list.return_value = fakes.LIST
        res = self.client.get(INDEX_URL)
        rows = {row.datum.id: row for row in
                res.context['table'].get_rows()}
        self.assertTrue(rows[fakes.RUNNING_ID].ajax)
        self.assertIsNone(rows[fakes.RUNNING_ID].status)
        # Planned and paused wait for the operator: no busy stripe.
        self.assertTrue(rows[fakes.PLANNED_ID].status)
        self.assertTrue(rows[fakes.PAUSED_ID].status)
        self.assertNotIn('warning', rows[fakes.PLANNED_ID].classes)
        # Ended, but with VMs left for the operator: not a plain
        # "Completed", drawn as ended badly.
        self.assertIs(False, rows[fakes.DONE_ID].status)
        # Progress, once the drain started.
        self.assertEqual('47.5%', rows[fakes.RUNNING_ID].cells[
            'progress'].data)
        self.assertEqual('', rows[fakes.PLANNED_ID].cells['progress'].data)
        self.assertContains(res, 'class="ajax-update')

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_ajax_row_update(self):
        changed = fakes.listed(fakes.RUNNING_ID)
        changed.state = 'completed'
        self.mock_evacuation_list.return_value = [changed]
        res = self.client.get(
            INDEX_URL, {'action': 'row_update', 'table': 'drains',
                        'obj_id': fakes.RUNNING_ID},
            HTTP_X_REQUESTED_WITH='XMLHttpRequest')
        self.assertEqual(200, res.status_code)
        self.assertContains(res, 'Completed')
        self.assertContains(res, 'rack-b')
        self.assertNotContains(res, action_id(fakes.RUNNING_ID, 'pause'))

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_evacuator_down_shows_its_message(self):
        self.mock_evacuation_list.side_effect = evacuator.EvacuatorUnavailable(
            'The evacuator service did not answer within 90 s: check it.')
        res = self.client.get(INDEX_URL)
        self.assertEqual(200, res.status_code)
        self.assertEqual([], res.context['table'].data)
        self.assertMessageCount(res, error=1)
        self.assertContains(res, 'did not answer within 90 s: check it.')


class ActionTests(test.BaseAdminViewTests):

    def _post(self, action, drain_id):
        return self.client.post(INDEX_URL, {
            'action': 'drains__%s__%s' % (action, drain_id)})

    def _check(self, action, drain_id, api_name):
        with mock.patch.object(evacuator, 'evacuation_list',
                               return_value=fakes.LIST), \
                mock.patch.object(evacuator, api_name) as call:
            call.return_value = fakes.show(id=drain_id)
            res = self._post(action, drain_id)
        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, INDEX_URL)
        call.assert_called_once_with(test.IsHttpRequest(), drain_id)
        return res

    def test_start(self):
        self._check('start', fakes.PLANNED_ID, 'evacuation_start')

    def test_pause(self):
        self._check('pause', fakes.RUNNING_ID, 'evacuation_pause')

    def test_resume(self):
        self._check('resume', fakes.PAUSED_ID, 'evacuation_resume')

    def test_cancel(self):
        self._check('cancel', fakes.RUNNING_ID, 'evacuation_cancel')

    def test_from_the_drain_s_page_back_to_it(self):
        detail = reverse('horizon:admin:drains:detail',
                         args=[fakes.RUNNING_ID])
        for action, api_name in (('pause', 'evacuation_pause'),
                                 ('cancel', 'evacuation_cancel')):
            with mock.patch.object(evacuator, 'evacuation_list',
                                   return_value=fakes.LIST), \
                    mock.patch.object(evacuator, api_name) as call:
                call.return_value = fakes.show()
                res = self.client.post(INDEX_URL, {
                    'action': 'drains__%s__%s' % (
                        action, fakes.RUNNING_ID)},
                    HTTP_REFERER='http://dashboard.example.org' + detail)
            self.assertRedirectsNoFollow(res, detail)
        # Another page, or another drain's: the list, as before.
        other = reverse('horizon:admin:drains:detail',
                        args=[fakes.PAUSED_ID])
        for referer in ('http://elsewhere.example.org/', other):
            with mock.patch.object(evacuator, 'evacuation_list',
                                   return_value=fakes.LIST), \
                    mock.patch.object(evacuator, 'evacuation_pause') as call:
                call.return_value = fakes.show()
                res = self.client.post(INDEX_URL, {
                    'action': 'drains__pause__%s' % fakes.RUNNING_ID},
                    HTTP_REFERER=referer)
            self.assertRedirectsNoFollow(res, INDEX_URL)

    def test_action_not_allowed_in_that_state_is_not_sent(self):
        with mock.patch.object(evacuator, 'evacuation_list',
                               return_value=fakes.LIST), \
                mock.patch.object(evacuator, 'evacuation_start') as call:
            res = self.client.post(INDEX_URL, {
                'action': 'drains__start__%s' % fakes.RUNNING_ID},
                follow=True)
        call.assert_not_called()
        self.assertContains(res, 'You are not allowed to start drain')

    def test_refusal_shows_the_evacuators_message(self):
        message = ('An evacuation in state planned cannot become paused '
                   '(allowed: cancelled, running).')
        with mock.patch.object(evacuator, 'evacuation_list',
                               return_value=fakes.LIST), \
                mock.patch.object(evacuator, 'evacuation_start',
                                  side_effect=evacuator.EvacuatorError(
                                      message)):
            res = self.client.post(INDEX_URL, {
                'action': 'drains__start__%s' % fakes.PLANNED_ID},
                follow=True)
        self.assertContains(res, message)
