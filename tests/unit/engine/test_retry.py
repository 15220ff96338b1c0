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
"""Tests of ``retry``: only a VM nobody is moving may be retried."""

from oslo_config import cfg
from oslotest import base as oslotest_base
import webob

from nova_migration_ext.api import app as api_app
from nova_migration_ext.api import policies
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import engine as engine_mod
from nova_migration_ext.engine import inventory
from tests.unit.engine import fakes
from tests.unit.engine import test_store


class RunningDrainCase(oslotest_base.BaseTestCase):
    """A running drain of one VM, srv-a, planned off cmp-1 onto cmp-9.

    ``gateway_class``: what the engine asks of nova (None: nothing).
    """

    gateway_class = None

    def setUp(self):
        super().setUp()
        self.store = fakes.sqlite_store(self)
        self.evacuation_id = self.store.create_evacuation(
            source_hosts=['cmp-1'], policy=test_store.POLICY, actor='alice',
            tasks=[test_store.task('srv-a')])
        self.store.set_state(self.evacuation_id, states.RUNNING, 'alice')
        self.engine = engine_mod.Engine(
            self.store,
            gateway=self.gateway_class() if self.gateway_class else None)

    @property
    def task(self):
        [task] = self.store.tasks(self.evacuation_id)
        return task

    def retry_through_the_api(self, argument):
        """The API's answer to ``{"retry": argument}``, as admin bob."""
        conf = cfg.ConfigOpts()
        conf([], project='nova-migration-ext', default_config_files=[])
        resources = api_app.Application(self.engine,
                                        policies.enforcer(conf))
        request = webob.Request.blank(
            '/v1/drains/%s/action' % self.evacuation_id, method='POST',
            json={'retry': argument},
            headers={'X-Roles': 'admin', 'X-User-Name': 'bob'})
        return request.get_response(resources)


class TestRetry(RunningDrainCase):

    def move(self, *path):
        for state in path:
            self.store.update_task(self.task.id, 'ev', state, attempts=1)

    def test_submitting_is_refused(self):
        # The executor is asking nova right now: a retry would move the
        # VM a second time.
        self.move(states.SUBMITTING)

        exc = self.assertRaises(states.InvalidTransition, self.engine.retry,
                                self.evacuation_id, 'vm-srv-a', 'bob')

        self.assertEqual(
            'VM vm-srv-a is being submitted to nova right now; a retry '
            'could migrate it twice. Wait until the evacuator sees what '
            'nova did ("openstack drain server list %s"), then retry it if '
            'it is left for the operator.' % self.evacuation_id, str(exc))
        self.assertEqual((states.SUBMITTING, 1),
                         (self.task.state, self.task.attempts))

    def test_moving_is_refused(self):
        self.move(states.SUBMITTING, states.MIGRATING)

        exc = self.assertRaises(states.InvalidTransition, self.engine.retry,
                                self.evacuation_id, 'srv-a', 'bob')

        self.assertIn('VM srv-a is migrating; let the evacuator finish',
                      str(exc))
        self.assertEqual(states.MIGRATING, self.task.state)

    def test_api_answers_the_refusal(self):
        self.move(states.SUBMITTING)

        response = self.retry_through_the_api({'server': 'vm-srv-a'})

        self.assertEqual(409, response.status_int)
        self.assertIn('being submitted to nova right now',
                      response.json['error']['message'])
        self.assertEqual(states.SUBMITTING, self.task.state)

    def test_left_for_the_operator_is_retried(self):
        self.move(states.SUBMITTING, states.NEEDS_OPERATOR)

        self.engine.retry(self.evacuation_id, 'vm-srv-a', 'bob')

        self.assertEqual((states.PENDING, 0),
                         (self.task.state, self.task.attempts))

    def policy(self):
        with self.store.session() as session:
            return drain_policy.Policy.from_dict(
                self.store.get(session, self.evacuation_id).policy)

    def test_allow_downtime_lets_this_vm_go_cold(self):
        # Refused live (a precheck), no downtime in the policy: left for
        # the operator, whose remedy is to allow it for this VM.
        self.store.update_task(self.task.id, 'ev', states.SUBMITTING)
        self.store.update_task(self.task.id, 'ev', states.NEEDS_OPERATOR,
                               attempts=1, live_failures=1)
        server = inventory.Server(
            id='srv-a', name='vm-srv-a', host='cmp-1', status='ACTIVE',
            vcpus=1, memory_mb=512, disk_bytes=0, project_id='p1')
        self.assertFalse(self.policy().downtime_allowed(server))

        self.engine.retry(self.evacuation_id, 'vm-srv-a', 'bob',
                          allow_downtime=True)

        self.assertEqual((states.PENDING, 0, drain_policy.METHOD_COLD),
                         (self.task.state, self.task.attempts,
                          self.task.method))
        self.assertTrue(self.policy().downtime_allowed(server))
        audit = [(e.actor, e.action) for e in
                 self.store.audit_log(self.evacuation_id)]
        self.assertIn(('bob', 'allow-downtime'), audit)

    def test_allow_downtime_keeps_live_if_live_never_failed(self):
        self.move(states.SUBMITTING, states.NEEDS_OPERATOR)
        self.engine.retry(self.evacuation_id, 'vm-srv-a', 'bob',
                          allow_downtime=True)
        self.assertEqual('block', self.task.method)

    def test_allow_downtime_refused_for_a_live_only_evacuation(self):
        with self.store.session() as session:
            evacuation = self.store.get(session, self.evacuation_id)
            evacuation.policy = dict(evacuation.policy, method='live')
        self.move(states.SUBMITTING, states.NEEDS_OPERATOR)
        exc = self.assertRaises(states.InvalidTransition, self.engine.retry,
                                self.evacuation_id, 'vm-srv-a', 'bob',
                                allow_downtime=True)
        self.assertIn('plan another with --method auto', str(exc))
        self.assertEqual(states.NEEDS_OPERATOR, self.task.state)
        self.assertNotIn('srv-a', self.policy().downtime_servers)

    def test_allow_downtime_while_moving_changes_nothing(self):
        self.move(states.SUBMITTING, states.MIGRATING)
        self.assertRaises(states.InvalidTransition, self.engine.retry,
                          self.evacuation_id, 'srv-a', 'bob',
                          allow_downtime=True)
        self.assertNotIn('srv-a', self.policy().downtime_servers)


class Hosts:
    """A gateway that knows the hosts, and nothing else."""

    def hosts(self):
        return [inventory.Host('cmp-1', 8, 0, 8192, 0, 100 * fakes.GiB),
                inventory.Host('cmp-9', 8, 0, 8192, 0, 100 * fakes.GiB),
                inventory.Host('cmp-7', 8, 0, 8192, 0, 100 * fakes.GiB),
                inventory.Host('cmp-off', 8, 0, 8192, 0, 100 * fakes.GiB,
                               enabled=False),
                inventory.Host('cmp-down', 8, 0, 8192, 0, 100 * fakes.GiB,
                               up=False)]


class TestRetryElsewhere(RunningDrainCase):
    """The remedy for a target that refused a VM: another target."""

    gateway_class = Hosts

    def setUp(self):
        super().setUp()
        self.store.update_task(self.task.id, 'ev', states.SUBMITTING)
        self.store.update_task(self.task.id, 'ev', states.NEEDS_OPERATOR,
                               attempts=3, last_error='Disk of instance '
                               'is too large')

    def test_goes_to_the_host_chosen(self):
        self.engine.retry(self.evacuation_id, 'vm-srv-a', 'bob',
                          target='cmp-7')
        self.assertEqual((states.PENDING, 0, 'cmp-7'),
                         (self.task.state, self.task.attempts,
                          self.task.target_host))
        self.assertIn('vm-srv-a srv-a: needs_operator -> pending: retry '
                      'asked by bob, to cmp-7; on cmp-9: Disk of instance '
                      'is too large', [
                          e.detail for e in
                          self.store.audit_log(self.evacuation_id)])

    def test_the_old_target_s_error_stays_with_it(self):
        # Its error and remedy were cmp-9's: beside cmp-7 they misled
        # ("To new1" beside an error about new3). The audit keeps them.
        self.store.update_task(self.task.id, 'ev',
                               remedy='left on cmp-1: cmp-9 refused it')
        self.engine.retry(self.evacuation_id, 'vm-srv-a', 'bob',
                          target='cmp-7')
        self.assertEqual(('cmp-7', None, None),
                         (self.task.target_host, self.task.last_error,
                          self.task.remedy))

    def test_a_retry_on_the_same_target_keeps_its_error(self):
        self.engine.retry(self.evacuation_id, 'vm-srv-a', 'bob')
        self.assertEqual(('cmp-9', 'Disk of instance is too large'),
                         (self.task.target_host, self.task.last_error))

    def test_hosts_that_cannot_take_it_are_refused(self):
        for target, message in (
                ('cmp-1', 'cmp-1 is a source of drain %s: it is being '
                          'emptied. Choose one of cmp-7.'
                          % self.evacuation_id),
                ('cmp-off', 'cmp-off is not an enabled, running compute '
                            'host. Choose one of cmp-7.'),
                ('cmp-down', 'cmp-down is not an enabled, running compute '
                             'host. Choose one of cmp-7.'),
                ('nope', 'nope is not an enabled, running compute host. '
                         'Choose one of cmp-7.'),
                ('cmp-9', 'cmp-9 is already the target of vm-srv-a; retry '
                          'without a target to try it again.')):
            error = self.assertRaises(ValueError, self.engine.retry,
                                      self.evacuation_id, 'vm-srv-a',
                                      'bob', target=target)
            self.assertEqual(message, str(error))
            # Nothing changed.
            self.assertEqual((states.NEEDS_OPERATOR, 3, 'cmp-9'),
                             (self.task.state, self.task.attempts,
                              self.task.target_host))

    def test_api_answers_400_and_changes_nothing(self):
        response = self.retry_through_the_api({'server': 'vm-srv-a',
                                               'target': 'cmp-1'})
        self.assertEqual(400, response.status_int)
        self.assertIn('cmp-1 is a source of drain',
                      response.json['error']['message'])
        self.assertIn('Nothing was changed.',
                      response.json['error']['message'])
        self.assertEqual(states.NEEDS_OPERATOR, self.task.state)
        response = self.retry_through_the_api({'server': 'vm-srv-a',
                                               'target': 'cmp-7'})
        self.assertEqual(200, response.status_int)
        self.assertEqual('cmp-7', response.json['drain']['tasks'][0][
            'target'])
