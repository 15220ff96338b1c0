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
"""The Horizon panel in a real browser, against the real stack.

This process hosts the embedded cloud and serves nova's API on a local
port (as tests/functional/test_evacuator_service.py does); a real
Keystone (SQLite) lists that API as the ``compute`` service and
``nova-migration-ext-api`` (its own process, keystonemiddleware and
oslo.policy) as ``host-drain``, a real Horizon with our panel logs in
through it and calls the API with the user's token, the real
``nova-migration-evacuator`` runs as its own process on the API's
database, and headless Chromium drives Horizon (tests/browser/,
Playwright). Keystone, Horizon and Chromium come from Horizon's
virtualenv (tests/functional/horizon_stack.py); without it these tests
skip.
"""

import os
import time
import urllib.error
import urllib.request

import fixtures

from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from tests.functional import horizon_stack
from tests.functional import test_evacuation
from tests.functional import test_evacuator_service

OLD = test_evacuation.OLD
NEW = test_evacuation.NEW
OPERATOR = 'ops-alice'
OPERATOR_PASSWORD = 'ops-alice-secret'


class HorizonStackTest(test_evacuator_service.EvacuatorProcessTest):
    """The embedded cloud, Keystone and Horizon; evacuators on demand."""

    # Keystone, Horizon and Chromium start per test: about 40 s before
    # the browser does anything, 120 s in all for the longest test with
    # two tests at once on two cores. CI's OS_TEST_TIMEOUT is 160 s.
    TIMEOUT_SCALING_FACTOR = 2

    def setUp(self):
        horizon_stack.require(self)
        # Keystone sets up its database while the cloud starts.
        keystone = self.useFixture(horizon_stack.KeystoneServer(
            self.useFixture(fixtures.TempDir()).path))
        super().setUp()
        self.keystone = keystone.finish(self.endpoint)

    def start_horizon(self, panel=True):
        return self.useFixture(horizon_stack.HorizonServer(
            self.workdir, self.keystone.url, panel=panel))

    def start_drain_api(self, policy=None):
        """Start nova-migration-ext-api and list it in the catalog.

        On the evacuators' database, under ``host-drain``; *policy*
        overrides rules of its policy (oslo.policy's policy_file).
        """
        port = horizon_stack.free_port()
        config = self._config('api')
        if policy:
            path = os.path.join(self.workdir, 'policy.yaml')
            with open(path, 'w') as f:
                f.write(''.join('"%s": "%s"\n' % rule
                                for rule in sorted(policy.items())))
            with open(config, 'a') as f:
                f.write('\n[oslo_policy]\npolicy_file = %s\n' % path)
        with open(config, 'a') as f:
            f.write('\n[api]\nbind_host = 127.0.0.1\nbind_port = %d\n\n'
                    % port + self.keystone.authtoken_section())
        self.start_evacuator('api', module='nova_migration_ext.cmd.api',
                             config=config)
        url = 'http://127.0.0.1:%d' % port
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + '/', timeout=5)
            except urllib.error.HTTPError as exc:
                if exc.code == 300:      # the version document
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.fail('nova-migration-ext-api never answered on %s'
                          % url)
            time.sleep(0.5)
        self.keystone.register_service('host-drain', 'host-drain', url)
        return url

    def browse(self, horizon, scenario, user=horizon_stack.ADMIN_USER,
               password=horizon_stack.ADMIN_PASSWORD, **config):
        return horizon_stack.run_browser(
            self, scenario, horizon_url=horizon.url, username=user,
            password=password, **config)


class StockHorizonTest(HorizonStackTest):

    def test_admin_lists_the_embedded_hypervisors(self):
        """Keystone's catalog leads stock Horizon to the embedded nova."""
        horizon = self.start_horizon(panel=False)
        result = self.browse(horizon, 'hypervisors')
        self.assertEqual(sorted(OLD + NEW), result['hypervisors'])


class OperatorStackTest(HorizonStackTest):
    """The stack an operator drains from: an evacuator, the API, Horizon."""

    def setUp(self):
        super().setUp()
        self.keystone.create_user(OPERATOR, OPERATOR_PASSWORD)
        self.start_evacuator('ev1')
        self.start_drain_api()
        self.horizon = self.start_horizon()

    def browse_as_operator(self, scenario, **config):
        return self.browse(self.horizon, scenario, user=OPERATOR,
                           password=OPERATOR_PASSWORD, **config)


class DrainPanelTest(OperatorStackTest):
    """An operator of the cloud drives the evacuator from Horizon."""

    def test_plan_start_and_watch_a_drain(self):
        servers = self.boot_many(3, 'old1')
        bystander = self.boot_many(1, 'old2')[0]
        names = sorted(server['name'] for server in servers)

        result = self.browse_as_operator(
            'drain', source='old1', targets=NEW,
            name='drain old1 from horizon', vms=len(servers),
            done_timeout=60, timeout=150)

        # The host to empty showed what it holds: the drain service's
        # inventory (its 3 VMs, not the bystander's host's 1).
        self.assertEqual(['old1', 'enabled, up', '3'],
                         result['source_row'][:3])
        # The review is the dry run: every VM's move, each checked by
        # the prechecks; nothing created, Create Drain offered.
        self.assertEqual(names, sorted(m[0] for m in result[
            'dry_run_moves']))
        # A host being emptied is no target.
        self.assertEqual(['old1'], result['emptied_targets'])
        # Downtime is chosen per VM by name, among the source's VMs.
        self.assertEqual(names, sorted(result['downtime_vms']))
        for prechecks in result['dry_run_prechecks']:
            self.assertRegex(prechecks, r'^\d+ passed')
        self.assertTrue(result['create_enabled'])
        for _name, source, target, method, downtime in result[
                'dry_run_moves']:
            self.assertEqual('old1', source)
            self.assertIn(target, NEW)
            # Each running VM's expected downtime: a live switch-over.
            self.assertEqual('1 s', downtime)
        self.assertEqual([], result['drains_after_dry_run'])
        self.assertEqual(states.PLANNED, result['planned_state'].lower())
        # The operator reads drains, never evacuations (nova's evacuate
        # rebuilds the VMs of a dead host: another operation).
        for where in ('list', 'modal', 'detail'):
            wording = result['wording'][where]
            self.assertEqual(['Host Drains'], wording['menu'], where)
            self.assertFalse(wording['evacuation'], where)
        self.assertIn('Host Drains', result['wording']['list']['title'])
        self.assertIn('Started Drain', result['start_message'])
        # A tab opened before the start saw every VM go from pending to
        # done by Horizon's row polling alone.
        self.assertFalse(result['reloaded'])
        self.assertEqual(['%s:Pending' % name for name in names],
                         result['snapshots'][0])
        self.assertEqual(['%s:Done' % name for name in names],
                         result['snapshots'][-1])
        # That tab's overview refreshed itself too.
        self.assertEqual({'state': 'Completed', 'progress': '100.0%',
                          'counts': 'Done %d' % len(servers),
                          'reloaded': False}, result['overview'])
        # Done drawn green: each VM's state label and progress bar.
        self.assertEqual(
            [['label label-success nme-state',
              'progress-bar progress-bar-success']] * len(servers),
            result['task_colours'])
        self.assertEqual('false', result['audit_polling'])
        # List, drain, list again while it ran: every header stood over
        # its cells (once, a drain's page shifted the list's headers).
        self.assertEqual({}, result['misaligned'])
        # Started from its page, the operator stayed on it.
        self.assertEqual('/admin/drains/%s/' % result['drain_id'],
                         result['after_start_path'])
        # Its header's actions, drawn while planned, followed the state.
        self.assertEqual([], result['header_actions'])
        drain_id = result['drain_id']
        info = self.wait_for(drain_id,
                             lambda i: i['state'] == states.COMPLETED)
        self.assertEqual(len(servers), self._done(info))
        for server in servers:
            server = self.api.get_server(server['id'])
            self.assertEqual('ACTIVE', server['status'], server['name'])
            self.assertIn(server['OS-EXT-SRV-ATTR:host'], NEW,
                          server['name'])
            self.assertIsNone(server['OS-EXT-STS:task_state'])
            self.assertEqual(1, self.moves[server['id']], server['name'])
        self.assertEqual('old2', self.api.get_server(
            bystander['id'])['OS-EXT-SRV-ATTR:host'])
        service = self.admin_api.get_services(
            host='old1', binary='nova-compute')[0]
        self.assertEqual('disabled', service['status'])
        # The audit log names the Horizon user's token (the API's
        # doing, not a name the panel chose): it planned and started.
        actors = {row['Action']: row['Actor']
                  for row in self.cli('audit', 'list', drain_id)}
        actor = r'^%s \(user [0-9a-f]{32}, domain Default, project ' \
            r'admin\)$' % OPERATOR
        for action in ('plan', 'disable-host', 'running'):
            self.assertRegex(actors[action], actor)
        shown = {action: who for who, action in result['audit']}
        self.assertRegex(shown['plan'], actor)
        self.assertRegex(shown['running'], actor)

    def test_bad_input_shows_the_message_and_creates_nothing(self):
        self.boot_many(1, 'old1')
        aggregate = self._create_aggregate('old-racks')
        self.admin_api.add_host_to_aggregate(aggregate, 'old1')
        bad_window = '25:00-06:00'
        error = self.assertRaises(
            ValueError,
            drain_policy.Policy(window=('25:00', '06:00')).validate)

        result = self.browse(self.horizon, 'bad_input', source='old1',
                             bad_window=bad_window, aggregate='old-racks')

        self.assertEqual([str(error)], result['window_errors'])
        self.assertEqual(
            ['Host aggregate old-racks has no host besides the sources; '
             'add hosts to it or name target hosts. Nothing was planned.'],
            result['aggregate_errors'])
        self.assertFalse(result['create_enabled'])
        self.assertEqual([], result['drains'])
        self.assertEqual([], self.cli('list'))
        service = self.admin_api.get_services(
            host='old1', binary='nova-compute')[0]
        self.assertEqual('enabled', service['status'])


class PanelPolicyTest(HorizonStackTest):
    """The API's policy, not Horizon, decides what a user may do."""

    def test_an_admin_the_policy_refuses_is_told_and_nothing_changes(self):
        # Horizon lets any admin into the panel; the API lets only
        # drain operators plan, as this cloud's policy file says.
        self.keystone.create_user(OPERATOR, OPERATOR_PASSWORD)
        self.start_evacuator('ev1')
        self.start_drain_api(policy={
            'drain:create': 'role:drain-operator'})
        horizon = self.start_horizon()
        self.boot_many(1, 'old1')

        result = self.browse(horizon, 'policy_refused', user=OPERATOR,
                             password=OPERATOR_PASSWORD, source='old1')

        [error] = result['errors']
        self.assertIn('Policy rule drain:create does not allow '
                      '%s (user ' % OPERATOR, error)
        self.assertEqual([], result['drains'])
        self.assertEqual([], self.cli('list'))
        service = self.admin_api.get_services(
            host='old1', binary='nova-compute')[0]
        self.assertEqual('enabled', service['status'])
