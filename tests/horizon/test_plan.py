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
"""The Plan Drain workflow: its steps, its review (dry run), create."""

import json
from unittest import mock

from django.urls import reverse
from openstack_dashboard import api
from openstack_dashboard.test import helpers as test

from horizon_panel.api import evacuator
from horizon_panel.content.drains import workflows
from nova_migration_ext.contract import drains
from nova_migration_ext.contract import policy as drain_policy
from tests.horizon import fakes

PLAN_URL = reverse('horizon:admin:drains:plan')
REVIEW_URL = reverse('horizon:admin:drains:review')
MOCKS = {api.nova: ['aggregate_details_list', 'server_list'],
         api.keystone: ['tenant_list'],
         evacuator: ['host_list', 'evacuation_plan']}
STEPS = ('sources', 'targets', 'method', 'limits', 'review')


class FakeServer(object):
    def __init__(self, server_id, name, host, project):
        self.id, self.name, self.tenant_id = server_id, name, project
        setattr(self, 'OS-EXT-SRV-ATTR:host', host)


class FakeProject(object):
    def __init__(self, project_id, name):
        self.id, self.name = project_id, name


SERVERS = [FakeServer('vm-1', 'db-1', 'devstack002', 'p-db'),
           FakeServer('vm-2', 'web-1', 'devstack002', 'p-web'),
           FakeServer('vm-9', 'elsewhere', 'devstack001', 'p-web')]
PROJECTS = [FakeProject('p-db', 'databases'), FakeProject('p-web', 'web')]


class PlanWorkflowTests(test.BaseAdminViewTests):

    def _mock(self):
        self.mock_host_list.return_value = fakes.HOSTS
        self.mock_aggregate_details_list.return_value = \
            self.aggregates.list()
        self.mock_server_list.return_value = (SERVERS, False)
        self.mock_tenant_list.return_value = (PROJECTS, False)

    def _data(self, **changes):
        data = {'name': 'rack-2', 'sources': ['devstack002'],
                'method': 'auto', 'max_per_source': '2',
                'max_per_target': '3', 'max_total': '6', 'window': '',
                'bandwidth': '1000', 'max_bandwidth': ''}
        data.update(changes)
        return data

    def _validate(self, step, **changes):
        """Horizon's wizard checking one step before going on."""
        index = STEPS.index(step)
        res = self.client.post(
            PLAN_URL, self._data(**changes),
            HTTP_X_HORIZON_VALIDATE_STEP_START=str(index),
            HTTP_X_HORIZON_VALIDATE_STEP_END=str(index))
        return json.loads(res.content)

    @test.create_mocks(MOCKS)
    def test_steps_show_hosts_with_usage_and_choices_by_name(self):
        self._mock()
        res = self.client.get(PLAN_URL)
        self.assertTemplateUsed(res, 'admin/drains/plan.html')
        workflow = res.context['workflow']
        self.assertEqual(list(STEPS), [s.slug for s in workflow.steps])
        self.assertTrue(workflow.wizard)
        for step in STEPS:
            self.assertContains(res, 'id="plan_drain__%s"' % step)
        # Hosts in tables with what they hold, in both host steps.
        self.assertContains(res, 'id="id_sources_table"')
        self.assertContains(res, 'id="id_targets_table"')
        for text in ('<td>enabled, up</td><td>3</td>',
                     '<td>5 / 8 (\u00d74)</td><td>6144 / 16384</td>',
                     '<td>30.0 GiB</td><td>200.0 GiB</td>',
                     'data-host="devstack002" class="text-muted"',
                     '<td>enabled, down</td><td>2</td>'):
            self.assertContains(res, text, count=2)
        # One inventory for both steps.
        self.mock_host_list.assert_called_once_with(test.IsHttpRequest())
        self.assertEqual(['', 'bar', 'foo'], [
            value for value, _label in workflow.get_step(
                'targets').action.fields['target_aggregate'].choices])
        # Projects and VMs by name, never a UUID box; each VM says where.
        self.assertContains(res, '<td>databases</td>')
        self.assertContains(res, 'name="project_downtime__p-db"')
        self.assertContains(res, 'data-host="devstack002"><td>db-1</td>'
                                 '<td>devstack002</td><td>databases</td>')
        self.assertContains(res, 'name="server_downtime__vm-1"')
        for table in ('sources', 'targets', 'project_downtime',
                      'server_downtime'):
            self.assertContains(
                res, 'class="form-control nme-filter" data-filter-table='
                     '"#id_%s_table"' % table)
            self.assertContains(res, 'id="id_%s_table"' % table)
        self.assertNotContains(res, '<textarea')
        self.assertContains(res, 'data-url="%s"' % REVIEW_URL)
        self.assertContains(res, 'Create Drain')
        self.assertNotContains(res, 'vacuation')

    @test.create_mocks(MOCKS)
    def test_every_vm_is_offered_page_by_page(self):
        # nova answers at most max_limit VMs a listing.
        self._mock()
        self.mock_server_list.side_effect = [
            (SERVERS[:2], True), (SERVERS[2:], False)]
        with mock.patch.object(workflows, 'SERVERS_PAGE', 2):
            res = self.client.get(PLAN_URL)
        for server in SERVERS:
            self.assertContains(res, 'name="server_downtime__%s"'
                                % server.id)
        self.assertEqual(
            [None, 'vm-2'],
            [call.kwargs['search_opts']['marker'] for call in
             self.mock_server_list.call_args_list])
        self.assertTrue(all(
            call.kwargs['search_opts']['all_tenants'] for call in
            self.mock_server_list.call_args_list))

    @test.create_mocks(MOCKS)
    def test_each_step_is_checked_before_going_on(self):
        self._mock()
        answer = self._validate('sources', sources=[])
        self.assertEqual({'sources': ['Tick at least one host to empty.']},
                         answer['errors']['sources'])
        answer = self._validate('targets', targets=['devstack002'],
                                target_aggregate='foo')
        errors = answer['errors']['targets']
        self.assertIn('devstack002 cannot be both emptied and a target',
                      errors['targets'][0])
        self.assertIn('not both', errors['target_aggregate'][0])
        with self.assertRaises(ValueError) as refused:
            drain_policy.parse_window('25:00-06:00')
        answer = self._validate('limits', window='25:00-06:00')
        self.assertEqual([str(refused.exception)],
                         answer['errors']['limits']['window'])
        answer = self._validate('limits', window='22:00-22:00')
        self.assertIn('is empty: nothing would ever start',
                      answer['errors']['limits']['window'][0])
        answer = self._validate('limits', max_total='0')
        self.assertIn('max_total', answer['errors']['limits'])
        self.assertFalse(self._validate('limits')['has_errors'])
        self.mock_evacuation_plan.assert_not_called()

    @test.create_mocks(MOCKS)
    def test_review_is_the_dry_run_of_every_step(self):
        self._mock()
        move = dict(fakes.DRY_RUN_JSON['moves'][0], verdicts=[
            ['disk_fit', 'pass', ''], ['base_image', 'pass', ''],
            ['network_filter', 'warn', 'nwfilter nova-base missing on '
                                       'devstack003; it will be created']])
        self.mock_evacuation_plan.return_value = drains.Plan.from_dict(
            dict(fakes.DRY_RUN_JSON, moves=[
                move, fakes.DRY_RUN_JSON['moves'][1]]))
        res = self.client.post(REVIEW_URL, self._data(
            targets=['devstack003', 'devstack001'], method='live',
            allow_downtime='on', window='22:00-06:00', max_bandwidth='200',
            two_phase_cold='on', **{'project_downtime__p-db': 'refuse',
                                    'project_downtime__p-web': '',
                                    'server_downtime__vm-2': 'allow',
                                    'server_downtime__vm-9': 'refuse'}))
        self.assertTemplateUsed(res, 'admin/drains/_plan_preview.html')
        self.mock_evacuation_plan.assert_called_once_with(
            test.IsHttpRequest(), ['devstack002'],
            targets=['devstack003', 'devstack001'],
            policy=drain_policy.Policy(
                method='live', allow_downtime=True, max_per_source=2,
                max_per_target=3, max_total=6, bandwidth_mb_per_s=1000.0,
                max_bandwidth_mib_per_s=200, two_phase_cold=True,
                require_verified_copy=True, window=('22:00', '06:00'),
                downtime_projects={'p-db': False},
                # vm-9 is not on a host to empty: not part of the drain.
                downtime_servers={'vm-2': True}),
            name='rack-2', dry_run=True, target_aggregate=None)
        for text in ('Dry run: nothing was created',
                     '<dd id="plan_preview_estimated">5m00s</dd>',
                     '<dd id="plan_preview_moves">2</dd>',
                     # Totals per target and per method.
                     '<tr><td>devstack001</td><td>1</td>',
                     '<td>10.0\xa0GB</td><td>cold 1</td></tr>',
                     '<tr><td>cold</td><td>1</td><td>10.0\xa0GB</td>'
                     '<td>1m57s</td><td>1m57s</td></tr>',
                     # Each VM: its expected downtime and prechecks.
                     '<td class="expected_downtime">117 s</td>',
                     '2 passed',
                     'network_filter: warn (nwfilter nova-base missing',
                     # The VM left behind, said first.
                     '1 VM cannot be placed', 'No target has 32 vCPUs',
                     '<details id="plan_preview_moves_list" open>'):
            self.assertContains(res, text)

    @test.create_mocks(MOCKS)
    def test_review_says_what_stops_the_plan(self):
        self._mock()
        message = ('Host aggregate foo has no host besides the sources; '
                   'add hosts to it or name target hosts.')
        self.mock_evacuation_plan.side_effect = evacuator.EvacuatorError(
            message)
        res = self.client.post(REVIEW_URL, self._data(
            target_aggregate='foo'))
        self.assertTemplateUsed(res, 'admin/drains/_plan_refused.html')
        self.assertContains(res, message)
        self.assertContains(res, 'nothing was created')
        self.assertNotContains(res, 'id="plan_preview"')
        # A step that does not hold: named, and the service not asked.
        self.mock_evacuation_plan.reset_mock()
        res = self.client.post(REVIEW_URL, self._data(sources=[]))
        self.assertContains(res, 'Hosts to Empty: Tick at least one host '
                                 'to empty.')
        self.mock_evacuation_plan.assert_not_called()

    @test.create_mocks(MOCKS)
    def test_dry_run_of_many_vms_summarises(self):
        # A 1,000-VM dry run: totals per target first, the moves folded.
        self._mock()
        moves = [dict(fakes.DRY_RUN_JSON['moves'][i % 2], server_id='s%d' % i,
                      name='app-%d' % i) for i in range(1000)]
        self.mock_evacuation_plan.return_value = drains.Plan.from_dict(
            dict(fakes.DRY_RUN_JSON, vms=1001, moves=moves,
                 by_method={'live': 500, 'cold': 500}))
        res = self.client.post(REVIEW_URL, self._data())
        self.assertContains(res, '<details id="plan_preview_moves_list">')
        self.assertContains(res, '<summary>1000 moves</summary>')
        self.assertContains(res, '<tr><td>devstack001</td><td>500</td>')
        self.assertContains(res, '<tr><td>live</td><td>500</td>')

    @test.create_mocks(MOCKS)
    def test_create_plans_the_drain_and_opens_it(self):
        self._mock()
        self.mock_evacuation_plan.return_value = fakes.show(
            id=fakes.PLANNED_ID, state='planned')
        res = self.client.post(PLAN_URL, self._data(
            max_per_source='', max_per_target='', max_total='',
            accept_unverified_copies='on'))
        self.assertNoFormErrors(res)
        self.assertRedirectsNoFollow(res, reverse(
            'horizon:admin:drains:detail', args=[fakes.PLANNED_ID]))
        kwargs = self.mock_evacuation_plan.call_args.kwargs
        self.assertIs(False, kwargs['dry_run'])
        policy = kwargs['policy']
        # Empty limits are the drain's to derive.
        self.assertEqual((None, None, None), (
            policy.max_per_source, policy.max_per_target,
            policy.max_total))
        self.assertIs(False, policy.require_verified_copy)

    @test.create_mocks(MOCKS)
    def test_create_refused_stays_on_the_review_with_the_message(self):
        self._mock()
        message = ('Hosts devstack002 are already being emptied by '
                   'another drain; cancel it first.')
        self.mock_evacuation_plan.side_effect = evacuator.EvacuatorError(
            message)
        res = self.client.post(PLAN_URL, self._data())
        self.assertEqual(200, res.status_code)
        self.assertTemplateUsed(res, 'admin/drains/plan.html')
        self.assertContains(res, message)
        workflow = res.context['workflow']
        self.assertEqual('review', workflow.get_entry_point())
        # What the operator chose is still there.
        self.assertContains(res, 'value="devstack002" id="id_sources_1" '
                                 'checked')

    @test.create_mocks(MOCKS)
    def test_service_unavailable_is_explained(self):
        self._mock()
        self.mock_evacuation_plan.side_effect = \
            evacuator.EvacuatorUnavailable(
                'The host-drain API at http://x did not answer within '
                '120 s: check that nova-migration-ext-api is running '
                'there.')
        res = self.client.post(REVIEW_URL, self._data())
        self.assertContains(res, 'did not answer within 120 s')
