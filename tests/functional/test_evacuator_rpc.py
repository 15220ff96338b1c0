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
"""The evacuator's RPC API and CLI over the RabbitMQ this machine runs.

The service and the commands are real; nova is replaced by a small
in-memory inventory because these tests are about the RPC path (the
engine against real nova is in test_evacuation).
"""

import io
import json
import uuid

import fixtures
from oslo_config import cfg
import oslo_messaging as messaging
import testtools

from nova_migration_ext.cli import app as cli_app
from nova_migration_ext.evacuation import engine as engine_mod
from nova_migration_ext.evacuation import inventory
from nova_migration_ext.evacuation import rpcapi
from nova_migration_ext.evacuation import service
from nova_migration_ext.evacuation import store as store_mod
from tests.functional import rabbit

RABBIT = rabbit.URL
GiB = inventory.GiB


class InventoryOnly:
    """Answers the planner's questions; refuses to move anything."""

    def hosts(self):
        return [inventory.Host(name, 16, 0, 65536, 0, 500 * GiB)
                for name in ('old1', 'new1', 'new2')]

    def servers_on(self, hosts):
        return [inventory.Server('%08d-0000-4000-8000-000000000000' % i,
                                 'vm%d' % i, 'old1', 'ACTIVE', 1, 1024,
                                 10 * GiB) for i in range(3)
                if 'old1' in hosts]

    def aggregates(self):
        return {'new-racks': ['new2']}

    def __getattr__(self, name):
        raise AssertionError('the RPC tests must not reach nova (%s)'
                             % name)


class EvacuatorRPCTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        rabbit.require(self)
        topic = 'nme-test-%s' % uuid.uuid4().hex[:8]
        self.addCleanup(rabbit.delete_queues, topic, topic + '.rpc-test')
        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.evacuation.rpcapi.TOPIC', topic))
        # oslo.messaging registers some options on the global object only.
        self.conf = cfg.CONF
        path = self.useFixture(fixtures.TempDir()).path
        store = store_mod.Store('sqlite:///%s/e.sqlite' % path)
        store.upgrade()
        self.engine = engine_mod.Engine(store, InventoryOnly(),
                                        owner='rpc-test')
        self.transport = messaging.get_rpc_transport(self.conf, url=RABBIT)
        self.addCleanup(self.transport.cleanup)
        target = messaging.Target(topic=topic, server='rpc-test')
        server = messaging.get_rpc_server(
            self.transport, target,
            [service.EvacuatorEndpoint(self.engine)], executor='threading')
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)
        self.api = rpcapi.EvacuatorAPI(self.conf, transport=self.transport,
                                       timeout=30)

    def test_plan_show_pause_over_rabbitmq(self):
        plan = self.api.plan(['old1'], ['new1', 'new2'], {'max_total': 2},
                             name='rpc')
        self.assertEqual('planned', plan['state'])
        self.assertEqual(3, plan['vms'])
        listed = self.api.list()
        self.assertEqual([plan['id']], [e['id'] for e in listed])
        shown = self.api.show(plan['id'], with_audit=True)
        self.assertEqual(['plan'], [e['action'] for e in shown['audit']])
        error = self.api.pause(plan['id'])
        self.assertIn('An evacuation in state planned cannot become paused',
                      error['error'])

    def test_bad_input_is_an_error_message(self):
        result = self.api.plan(['old1'], ['old1'], {})
        self.assertIn('listed as source and as target', result['error'])
        result = self.api.plan(['nope'], None, {})
        self.assertIn('Unknown host(s) nope', result['error'])
        result = self.api.plan(['old1'], None, {'max_total': 0})
        self.assertIn('max_total must be at least 1', result['error'])
        self.assertEqual([], self.api.list())
        result = self.api.show('no-such-id')
        self.assertIn('No evacuation no-such-id', result['error'])

    def run_cli(self, *argv):
        app = cli_app.EvacuationApp()
        app.client_manager = cli_app.ClientManager([])
        app.client_manager._api = self.api
        out, err = io.StringIO(), io.StringIO()
        app.stdout, app.stderr = out, err
        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.cli.app.EvacuationApp.initialize_app',
            lambda self, argv: None))
        rc = app.run(list(argv))
        return rc, out.getvalue(), err.getvalue()

    def test_cli_downtime_overrides(self):
        sent = []
        plan = self.api.plan
        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.evacuation.rpcapi.EvacuatorAPI.plan',
            lambda api, *a, **kw: sent.append(a[2]) or plan(*a, **kw)))
        rc, out, err = self.run_cli(
            'plan', 'old1', '--dry-run', '--allow-downtime-project', 'p1',
            '--deny-downtime-server', 'vm-a', '--allow-downtime-server',
            'vm-b', '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertEqual(({'p1': True}, {'vm-a': False, 'vm-b': True}),
                         (sent[0]['downtime_projects'],
                          sent[0]['downtime_servers']))
        rc, out, err = self.run_cli(
            'plan', 'old1', '--allow-downtime-project', 'p1',
            '--deny-downtime-project', 'p1')
        self.assertEqual(1, rc)
        self.assertIn('Downtime both allowed and refused for p1; say one '
                      'or the other.', err)

    def test_cli_json_and_table(self):
        # An aggregate names the targets (RPC API 1.1); a dry run.
        rc, out, err = self.run_cli('plan', 'old1', '--target-aggregate',
                                    'new-racks', '--dry-run', '-f', 'json')
        self.assertEqual(0, rc, err)
        dry = json.loads(out)
        self.assertIsNone(dry['id'])
        self.assertEqual(3, dry['plan']['moves'])
        # Raw: each move with its expected downtime, a live switch-over.
        self.assertEqual({('old1', 'new2', 'block')}, {
            (m['source_host'], m['target_host'], m['method'])
            for m in dry['moves']})
        for move in dry['moves']:
            self.assertLess(0, move['expected_downtime_seconds'])
        # The table says it for people.
        rc, out, err = self.run_cli('plan', 'old1', '--target-aggregate',
                                    'new-racks', '--dry-run')
        self.assertEqual(0, rc, err)
        self.assertIn('old1 -> new2 (block, down ~0m01s)', out)
        rc, out, err = self.run_cli('plan', 'old1', '--target-aggregate',
                                    'nope')
        self.assertEqual(1, rc)
        self.assertIn('Unknown host aggregate nope. Known aggregates: '
                      'new-racks.', err)
        rc, out, err = self.run_cli('plan', 'old1', '--target', 'new1',
                                    '--target', 'new2', '-f', 'json')
        self.assertEqual(0, rc, err)
        info = json.loads(out)
        self.assertEqual('planned', info['state'])
        self.assertEqual(0.0, info['progress'])
        self.assertEqual(['old1'], info['sources'])
        rc, out, err = self.run_cli('list')
        self.assertEqual(0, rc, err)
        self.assertIn(info['id'], out)
        self.assertIn('| planned', out)
        rc, out, err = self.run_cli('list', '-f', 'json')
        listed = {e['ID']: e for e in json.loads(out)}
        self.assertEqual(0, listed[info['id']]['Needs you'])
        rc, out, err = self.run_cli('tasks', info['id'], '-f', 'json')
        self.assertEqual(3, len(json.loads(out)))
        rc, out, err = self.run_cli('plan', 'old1', '--target', 'old1')
        self.assertEqual(1, rc)
        self.assertIn('listed as source and as target', err)
