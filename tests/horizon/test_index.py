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
"""The list of evacuations, its actions and its row polling."""

from unittest import mock

from django.urls import reverse
from openstack_dashboard.test import helpers as test

from horizon_panel.api import evacuator
from horizon_panel.content.evacuations import tables
from tests.horizon import fakes

INDEX_URL = reverse('horizon:admin:evacuations:index')


def action_id(evacuation_id, action):
    return 'evacuations__row_%s__action_%s' % (evacuation_id, action)


class IndexTests(test.BaseAdminViewTests):

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_lists_evacuations(self):
        self.mock_evacuation_list.return_value = fakes.LIST
        res = self.client.get(INDEX_URL)
        self.assertTemplateUsed(res, 'admin/evacuations/index.html')
        self.assertEqual([e['id'] for e in fakes.LIST],
                         [e['id'] for e in res.context['table'].data])
        for name in ('rack-a', 'rack-b', 'rack-c', 'rack-d', 'old1, old2',
                     'evacuator-1'):
            self.assertContains(res, name)
        self.assertContains(res, reverse('horizon:admin:evacuations:detail',
                                         args=[fakes.PLANNED_ID]))
        self.assertContains(res, 'id="evacuations__action_plan"')
        self.mock_evacuation_list.assert_called_once_with(test.IsHttpRequest())

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_vms_left_for_the_operator_stand_out(self):
        # rack-d completed with 2 VMs left for the operator; the others
        # have none (or an evacuator too old to say: no key).
        self.mock_evacuation_list.return_value = fakes.LIST
        res = self.client.get(INDEX_URL)
        rows = {row.datum['id']: row for row in
                res.context['table'].get_rows()}
        self.assertIn('needs-operator', rows[fakes.DONE_ID].classes)
        self.assertIn('danger', rows[fakes.DONE_ID].classes)
        self.assertNotIn('needs-operator', rows[fakes.RUNNING_ID].classes)
        self.assertEqual('2 VMs', str(
            rows[fakes.DONE_ID].cells['needs_you'].data))
        self.assertEqual('', rows[fakes.RUNNING_ID].cells['needs_you'].data)
        self.assertContains(res, 'href="%s?tab=evacuation_details__tasks"'
                            % reverse('horizon:admin:evacuations:detail',
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
        for evacuation_id, actions in offered.items():
            for action in ('start', 'pause', 'resume', 'cancel'):
                html_id = 'id="%s"' % action_id(evacuation_id, action)
                if action in actions:
                    self.assertContains(res, html_id, msg_prefix=action)
                else:
                    self.assertNotContains(res, html_id, msg_prefix=action)

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_another_table_built_meanwhile_changes_nothing(self):
        # An evacuation's page (and its poll, every 2.5 s) builds an
        # EvacuationsTable for its header actions. Horizon keeps a
        # table's actions on its class: built while the index renders,
        # that empty table took them, and the index lost its batch
        # buttons and its check-box column header.
        def list_while_a_detail_page_renders(request):
            tables.EvacuationsTable(request)
            return fakes.LIST
        self.mock_evacuation_list.side_effect = \
            list_while_a_detail_page_renders
        res = self.client.get(INDEX_URL)
        for action in ('start', 'pause', 'resume', 'cancel'):
            self.assertContains(res, 'id="evacuations__action_%s"' % action,
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
        rows = {row.datum['id']: row for row in
                res.context['table'].get_rows()}
        self.assertTrue(rows[fakes.RUNNING_ID].ajax)
        self.assertIsNone(rows[fakes.RUNNING_ID].status)
        # Planned and paused wait for the operator: no busy stripe.
        self.assertTrue(rows[fakes.PLANNED_ID].status)
        self.assertTrue(rows[fakes.PAUSED_ID].status)
        self.assertNotIn('warning', rows[fakes.PLANNED_ID].classes)
        self.assertTrue(rows[fakes.DONE_ID].status)
        # Progress, where the evacuator gives it.
        self.assertEqual('47.5%', rows[fakes.RUNNING_ID].cells[
            'progress'].data)
        self.assertEqual('', rows[fakes.PLANNED_ID].cells['progress'].data)
        self.assertContains(res, 'class="ajax-update')

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_ajax_row_update(self):
        changed = fakes.listed(fakes.RUNNING_ID)
        changed['state'] = 'completed'
        self.mock_evacuation_list.return_value = [changed]
        res = self.client.get(
            INDEX_URL, {'action': 'row_update', 'table': 'evacuations',
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

    def _post(self, action, evacuation_id):
        return self.client.post(INDEX_URL, {
            'action': 'evacuations__%s__%s' % (action, evacuation_id)})

    def _check(self, action, evacuation_id, api_name):
        with mock.patch.object(evacuator, 'evacuation_list',
                               return_value=fakes.LIST), \
                mock.patch.object(evacuator, api_name) as call:
            call.return_value = fakes.show(id=evacuation_id)
            res = self._post(action, evacuation_id)
        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, INDEX_URL)
        call.assert_called_once_with(test.IsHttpRequest(), evacuation_id)
        return res

    def test_start(self):
        self._check('start', fakes.PLANNED_ID, 'evacuation_start')

    def test_pause(self):
        self._check('pause', fakes.RUNNING_ID, 'evacuation_pause')

    def test_resume(self):
        self._check('resume', fakes.PAUSED_ID, 'evacuation_resume')

    def test_cancel(self):
        self._check('cancel', fakes.RUNNING_ID, 'evacuation_cancel')

    def test_from_the_evacuation_s_page_back_to_it(self):
        detail = reverse('horizon:admin:evacuations:detail',
                         args=[fakes.RUNNING_ID])
        for action, api_name in (('pause', 'evacuation_pause'),
                                 ('cancel', 'evacuation_cancel')):
            with mock.patch.object(evacuator, 'evacuation_list',
                                   return_value=fakes.LIST), \
                    mock.patch.object(evacuator, api_name) as call:
                call.return_value = fakes.show()
                res = self.client.post(INDEX_URL, {
                    'action': 'evacuations__%s__%s' % (
                        action, fakes.RUNNING_ID)},
                    HTTP_REFERER='http://dashboard.example.org' + detail)
            self.assertRedirectsNoFollow(res, detail)
        # Another page, or another evacuation's: the list, as before.
        other = reverse('horizon:admin:evacuations:detail',
                        args=[fakes.PAUSED_ID])
        for referer in ('http://elsewhere.example.org/', other):
            with mock.patch.object(evacuator, 'evacuation_list',
                                   return_value=fakes.LIST), \
                    mock.patch.object(evacuator, 'evacuation_pause') as call:
                call.return_value = fakes.show()
                res = self.client.post(INDEX_URL, {
                    'action': 'evacuations__pause__%s' % fakes.RUNNING_ID},
                    HTTP_REFERER=referer)
            self.assertRedirectsNoFollow(res, INDEX_URL)

    def test_action_not_allowed_in_that_state_is_not_sent(self):
        with mock.patch.object(evacuator, 'evacuation_list',
                               return_value=fakes.LIST), \
                mock.patch.object(evacuator, 'evacuation_start') as call:
            res = self.client.post(INDEX_URL, {
                'action': 'evacuations__start__%s' % fakes.RUNNING_ID},
                follow=True)
        call.assert_not_called()
        self.assertContains(res, 'You are not allowed to start evacuation')

    def test_refusal_shows_the_evacuators_message(self):
        message = ('An evacuation in state planned cannot become paused '
                   '(allowed: cancelled, running).')
        with mock.patch.object(evacuator, 'evacuation_list',
                               return_value=fakes.LIST), \
                mock.patch.object(evacuator, 'evacuation_start',
                                  side_effect=evacuator.EvacuatorError(
                                      message)):
            res = self.client.post(INDEX_URL, {
                'action': 'evacuations__start__%s' % fakes.PLANNED_ID},
                follow=True)
        self.assertContains(res, message)
