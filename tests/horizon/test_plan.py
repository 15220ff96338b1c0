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
"""The Plan Drain form."""

from django.urls import reverse
from openstack_dashboard import api
from openstack_dashboard.test import helpers as test

from horizon_panel.api import evacuator
from nova_migration_ext.contract import drains
from nova_migration_ext.contract import policy as drain_policy
from tests.horizon import fakes

PLAN_URL = reverse('horizon:admin:drains:plan')


class PlanFormTests(test.BaseAdminViewTests):

    def _mock_nova(self):
        self.mock_service_list.return_value = [
            s for s in self.services.list() if s.binary == 'nova-compute']
        self.mock_aggregate_details_list.return_value = \
            self.aggregates.list()

    def _form(self, **changes):
        data = {'name': 'rack-2', 'sources': ['devstack002'],
                'method': 'auto', 'max_per_source': 2,
                'max_per_target': 3, 'max_total': 6, 'window': '',
                'max_bandwidth': ''}
        data.update(changes)
        return data

    @test.create_mocks({api.nova: ['service_list',
                                   'aggregate_details_list']})
    def test_form_offers_compute_hosts_and_aggregates(self):
        self._mock_nova()
        res = self.client.get(PLAN_URL)
        self.assertTemplateUsed(res, 'admin/drains/plan.html')
        form = res.context['form']
        hosts = [value for value, _label in form.fields['sources'].choices]
        self.assertEqual(['devstack001', 'devstack002', 'devstack003'],
                         hosts)
        self.assertContains(res, 'devstack002 (enabled, down)')
        self.assertEqual(['', 'bar', 'foo'], [
            v for v, _label in form.fields['target_aggregate'].choices])
        for field in ('id_sources', 'id_targets', 'id_target_aggregate',
                      'id_method', 'id_window', 'id_dry_run'):
            self.assertContains(res, 'id="%s"' % field)
        self.assertContains(res, 'id="plan_drain_form"')
        self.assertNotContains(res, 'vacuation')
        self.mock_service_list.assert_called_once_with(
            test.IsHttpRequest(), binary='nova-compute')

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_plan_creates_and_redirects_to_the_drain(self):
        self._mock_nova()
        self.mock_evacuation_plan.return_value = fakes.show(
            id=fakes.PLANNED_ID, state='planned')
        res = self.client.post(PLAN_URL, self._form(
            targets=['devstack003'], allow_downtime='on', method='live',
            max_bandwidth='200', window='22:00-06:00',
            two_phase_cold='on'))
        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, reverse(
            'horizon:admin:drains:detail', args=[fakes.PLANNED_ID]))
        self.mock_evacuation_plan.assert_called_once_with(
            test.IsHttpRequest(), ['devstack002'], targets=['devstack003'],
            policy=drain_policy.Policy(
                method='live', allow_downtime=True, max_per_source=2,
                max_per_target=3, max_total=6, bandwidth_mb_per_s=1000.0,
                max_bandwidth_mib_per_s=200, two_phase_cold=True,
                require_verified_copy=True, window=('22:00', '06:00')),
            name='rack-2', dry_run=False, target_aggregate=None)

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_empty_limits_are_left_to_the_drain(self):
        self._mock_nova()
        self.mock_evacuation_plan.return_value = fakes.show()
        res = self.client.post(PLAN_URL, self._form(
            max_per_source='', max_per_target='', max_total=''))
        self.assertNoFormErrors(res)
        policy = self.mock_evacuation_plan.call_args.kwargs['policy']
        self.assertEqual((None, None, None), (
            policy.max_per_source, policy.max_per_target,
            policy.max_total))

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_unverified_copies_are_confirmed_only_when_ticked(self):
        self._mock_nova()
        self.mock_evacuation_plan.return_value = fakes.show()
        res = self.client.post(PLAN_URL, self._form(
            accept_unverified_copies='on'))
        self.assertNoFormErrors(res)
        policy = self.mock_evacuation_plan.call_args.kwargs['policy']
        self.assertIs(False, policy.require_verified_copy)

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_downtime_exceptions_and_copy_rate_are_sent(self):
        self._mock_nova()
        self.mock_evacuation_plan.return_value = fakes.show()
        res = self.client.post(PLAN_URL, self._form(
            allow_downtime_projects='p-batch, p-ci\np-dev',
            deny_downtime_projects='p-db',
            allow_downtime_servers='vm-9',
            deny_downtime_servers='vm-1 vm-2', bandwidth='250'))
        self.assertNoFormErrors(res)
        policy = self.mock_evacuation_plan.call_args.kwargs['policy']
        self.assertEqual({'p-batch': True, 'p-ci': True, 'p-dev': True,
                          'p-db': False}, policy.downtime_projects)
        self.assertEqual({'vm-9': True, 'vm-1': False, 'vm-2': False},
                         policy.downtime_servers)
        self.assertEqual(250.0, policy.bandwidth_mb_per_s)

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_downtime_both_allowed_and_refused_is_refused(self):
        self._mock_nova()
        res = self.client.post(PLAN_URL, self._form(
            allow_downtime_projects='p-db', deny_downtime_projects='p-db'))
        self.assertFormErrors(res, 1)
        self.assertContains(res, 'Downtime both allowed and refused for '
                                 'p-db; say one or the other.')
        self.mock_evacuation_plan.assert_not_called()

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_target_aggregate_is_sent(self):
        self._mock_nova()
        self.mock_evacuation_plan.return_value = fakes.show()
        res = self.client.post(PLAN_URL, self._form(target_aggregate='foo'))
        self.assertNoFormErrors(res)
        kwargs = self.mock_evacuation_plan.call_args.kwargs
        self.assertEqual(('foo', None), (kwargs['target_aggregate'],
                                         kwargs['targets']))

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_dry_run_shows_the_plan_and_creates_nothing(self):
        self._mock_nova()
        self.mock_evacuation_plan.return_value = fakes.DRY_RUN
        res = self.client.post(PLAN_URL, self._form(dry_run='on'))
        self.assertEqual(200, res.status_code)
        self.assertNoFormErrors(res)
        self.assertTemplateUsed(res, 'admin/drains/_plan_preview.html')
        for text in ('id="plan_preview"', 'app-1', 'app-2', 'devstack003',
                     'huge-1', 'No target has 32 vCPUs free.',
                     'Dry run: nothing was created',
                     'Expected Downtime', '117 s',
                     # Durations as the drain's page writes them.
                     '<dd id="plan_preview_estimated">5m00s</dd>',
                     '<dd id="plan_preview_moves">2</dd>',
                     '<dd id="plan_preview_unplaceable">1</dd>',
                     # Totals per target, then the moves (few: open).
                     '<tr><td>devstack001</td><td>1</td>',
                     '<td>10.0\xa0GB</td><td>cold 1</td></tr>',
                     '<details id="plan_preview_moves_list" open>'):
            self.assertContains(res, text)

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_create_after_the_review(self):
        # The dry run's own button creates the plan reviewed: no need to
        # untick Dry Run.
        self._mock_nova()
        self.mock_evacuation_plan.return_value = fakes.DRY_RUN
        res = self.client.post(PLAN_URL, self._form(dry_run='on'))
        self.assertContains(res, 'id="plan_preview_create"')
        # It sets the form's hidden field (FormData leaves buttons out).
        self.assertContains(res, '<input type="hidden" name="create"')
        self.assertContains(
            res, "this.form.querySelector('input[name=create]').value = "
                 "'on';")
        self.mock_evacuation_plan.reset_mock()
        self.mock_evacuation_plan.return_value = fakes.show(
            id=fakes.PLANNED_ID, state='planned')
        res = self.client.post(PLAN_URL, self._form(dry_run='on',
                                                    create='on'))
        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, reverse(
            'horizon:admin:drains:detail', args=[fakes.PLANNED_ID]))
        self.assertIs(False, self.mock_evacuation_plan.call_args.kwargs[
            'dry_run'])

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_dry_run_of_many_vms_summarises(self):
        # A 1,000-VM dry run: totals per target first, the moves folded.
        self._mock_nova()
        moves = [dict(fakes.DRY_RUN_JSON['moves'][i % 2], server_id='s%d' % i,
                      name='app-%d' % i) for i in range(1000)]
        self.mock_evacuation_plan.return_value = drains.Plan.from_dict(
            dict(fakes.DRY_RUN_JSON, vms=1001, moves=moves,
                 by_method={'live': 500, 'cold': 500}))
        res = self.client.post(PLAN_URL, self._form(dry_run='on'))
        self.assertNoFormErrors(res)
        self.assertContains(res, '<details id="plan_preview_moves_list">')
        self.assertContains(res, '<summary>1000 moves</summary>')
        self.assertContains(res, '<tr><td>devstack001</td><td>500</td>')
        self.assertContains(res, '<tr><td>devstack003</td><td>500</td>')
        self.mock_evacuation_plan.assert_called_once()
        self.assertTrue(self.mock_evacuation_plan.call_args.kwargs['dry_run'])

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_evacuator_refusal_is_shown_on_the_form(self):
        self._mock_nova()
        message = ('Hosts devstack002 are already being emptied by another '
                   'evacuation; cancel it first.')
        self.mock_evacuation_plan.side_effect = evacuator.EvacuatorError(
            message)
        res = self.client.post(PLAN_URL, self._form())
        self.assertEqual(200, res.status_code)
        self.assertFormErrors(res, 1)
        self.assertContains(res, message)
        self.mock_evacuation_plan.assert_called_once()

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_bad_window_is_refused_before_asking_the_evacuator(self):
        self._mock_nova()
        for window, words in (
                ('25:00-06:00', "'25:00' is not one"),
                ('22:00', 'HH:MM-HH:MM'),
                ('22:00-22:00', 'is empty: nothing would ever start')):
            res = self.client.post(PLAN_URL, self._form(window=window))
            self.assertFormErrors(res, 1)
            errors = res.context['form'].errors
            self.assertIn(words, ' '.join(errors['window']))
        self.mock_evacuation_plan.assert_not_called()

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_contradictions_are_refused(self):
        self._mock_nova()
        res = self.client.post(PLAN_URL, self._form(
            targets=['devstack002'], target_aggregate='foo'))
        errors = res.context['form'].errors
        self.assertIn('cannot be both emptied and a target',
                      ' '.join(errors['targets']))
        self.assertIn('not both', ' '.join(errors['target_aggregate']))
        res = self.client.post(PLAN_URL, self._form(max_total=0))
        self.assertIn('max_total', res.context['form'].errors)
        self.mock_evacuation_plan.assert_not_called()

    @test.create_mocks({api.nova: ['service_list', 'aggregate_details_list'],
                        evacuator: ['evacuation_plan']})
    def test_timeout_is_explained_on_the_form(self):
        self._mock_nova()
        self.mock_evacuation_plan.side_effect = \
            evacuator.EvacuatorUnavailable(
                'The evacuator service did not answer within 120 s: check '
                'that nova-migration-evacuator is running.')
        res = self.client.post(PLAN_URL, self._form())
        self.assertContains(res, 'did not answer within 120 s')
