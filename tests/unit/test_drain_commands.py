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
"""``openstack drain …`` commands over the REST API, served over HTTP.

The commands run in this process as OpenStackClient runs them, with the
REST client (:mod:`nova_migration_ext.client.v1`) against the API's
resources served on 127.0.0.1 by a real engine and SQLite store. Stand-ins:
nova is a small inventory (these tests are about the commands, the
engine against nova is in tests/functional), and the headers Keystone's
auth_token would set come from a middleware (the real Keystone path is
in tests/functional/test_openstack_cli.py).
"""

import json
import threading
from wsgiref import simple_server

import fixtures
from oslo_config import cfg

from nova_migration_ext.api import app as api_app
from nova_migration_ext.api import policies
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.engine import engine as engine_mod
from nova_migration_ext.engine import inventory
from nova_migration_ext.engine import store as store_mod
from tests import drain_commands
from tests.unit import utils

GiB = drain_policy.GiB


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

    def servers(self):
        return self.servers_on(['old1'])

    def aggregates(self):
        return {'new-racks': ['new2']}

    def __getattr__(self, name):
        raise AssertionError('these tests must not reach nova (%s)' % name)


class QuietHandler(simple_server.WSGIRequestHandler):

    def log_message(self, *args):
        pass


class DrainCommandsTest(utils.TestCase):

    def setUp(self):
        super().setUp()
        path = self.useFixture(fixtures.TempDir()).path
        store = store_mod.Store('sqlite:///%s/e.sqlite' % path)
        store.upgrade()
        self.engine = engine_mod.Engine(store, InventoryOnly(),
                                        owner='cli-test')
        conf = cfg.ConfigOpts()
        conf([], project='nova-migration-ext', default_config_files=[])
        resources = api_app.Application(self.engine,
                                        policies.enforcer(conf))
        server = simple_server.make_server(
            '127.0.0.1', 0, drain_commands.AsAdmin(resources),
            handler_class=QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = 'http://127.0.0.1:%d' % server.server_port
        self.client = drain_commands.client(url, timeout=30)
        self.sent = []
        plan = self.client.plan
        self.client.plan = lambda *a, **kw: (
            self.sent.append(a[2] if len(a) > 2 else kw.get('policy')) or
            plan(*a, **kw))

    def run_cli(self, *argv):
        """(exit status, stdout, stderr) of ``openstack *argv``."""
        return drain_commands.run(self.client, *argv)

    def test_downtime_overrides_reach_the_api(self):
        rc, out, err = self.run_cli(
            'drain', 'create', 'old1', '--dry-run',
            '--allow-downtime-project', 'p1', '--deny-downtime-server',
            'vm-a', '--allow-downtime-server', 'vm-b', '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertEqual(({'p1': True}, {'vm-a': False, 'vm-b': True}),
                         (self.sent[0].downtime_projects,
                          self.sent[0].downtime_servers))
        rc, out, err = self.run_cli(
            'drain', 'create', 'old1', '--allow-downtime-project', 'p1',
            '--deny-downtime-project', 'p1')
        self.assertEqual(1, rc)
        self.assertIn('Downtime both allowed and refused for p1; say one '
                      'or the other.', err)
        self.assertEqual([], self.client.list())

    def test_json_and_table(self):
        # An aggregate names the targets; a dry run.
        rc, out, err = self.run_cli('drain', 'create', 'old1',
                                    '--target-aggregate', 'new-racks',
                                    '--dry-run', '-f', 'json')
        self.assertEqual(0, rc, err)
        dry = json.loads(out)
        self.assertIsNone(dry['id'])
        self.assertEqual({'block': 3}, dry['plan']['by_method'])
        # Raw: each move with its expected downtime, a live switch-over.
        self.assertEqual({('old1', 'new2', 'block')}, {
            (m['source'], m['target'], m['method'])
            for m in dry['moves']})
        for move in dry['moves']:
            self.assertLess(0, move['expected_downtime_seconds'])
        # The table says it for people.
        rc, out, err = self.run_cli('drain', 'create', 'old1',
                                    '--target-aggregate', 'new-racks',
                                    '--dry-run')
        self.assertEqual(0, rc, err)
        self.assertIn('old1 -> new2 (block, down ~0m01s)', out)
        rc, out, err = self.run_cli('drain', 'create', 'old1',
                                    '--target-aggregate', 'nope')
        self.assertEqual(1, rc)
        self.assertIn('Unknown host aggregate nope. Known aggregates: '
                      'new-racks.', err)
        self.assertIn('HTTP 400', err)
        rc, out, err = self.run_cli('drain', 'create', 'old1', '--target',
                                    'new1', '--target', 'new2', '-f',
                                    'json')
        self.assertEqual(0, rc, err)
        info = json.loads(out)
        self.assertEqual('planned', info['state'])
        self.assertEqual(0.0, info['progress'])
        self.assertEqual(['old1'], info['sources'])
        rc, out, err = self.run_cli('drain', 'list')
        self.assertEqual(0, rc, err)
        self.assertIn(info['id'], out)
        self.assertIn('| planned', out)
        rc, out, err = self.run_cli('drain', 'list', '-f', 'json')
        listed = {e['ID']: e for e in json.loads(out)}
        self.assertEqual(0, listed[info['id']]['Needs you'])
        rc, out, err = self.run_cli('drain', 'server', 'list', info['id'],
                                    '-f', 'json')
        self.assertEqual(3, len(json.loads(out)))
        rc, out, err = self.run_cli('drain', 'create', 'old1', '--target',
                                    'old1')
        self.assertEqual(1, rc)
        self.assertIn('listed as source and as target', err)

    def test_retry_on_another_target(self):
        rc, out, err = self.run_cli('drain', 'create', 'old1', '--target',
                                    'new1', '-f', 'json')
        self.assertEqual(0, rc, err)
        drain_id = json.loads(out)['id']
        store = self.engine.store
        task = store.tasks(drain_id)[0]
        store.set_state(drain_id, 'running', 'test')
        store.update_task(task.id, 'test', 'submitting')
        store.update_task(task.id, 'test', 'needs_operator',
                          last_error='Disk of instance is too large')
        # A source of the drain is refused, with the API's message.
        rc, out, err = self.run_cli('drain', 'server', 'retry', drain_id,
                                    task.server_name, '--target', 'old1')
        self.assertEqual(1, rc)
        self.assertIn('old1 is a source of drain %s: it is being emptied. '
                      'Choose one of new2. Nothing was changed. '
                      '(HTTP 400)' % drain_id, err)
        rc, out, err = self.run_cli('drain', 'server', 'retry', drain_id,
                                    task.server_name, '--target', 'new2')
        self.assertEqual(0, rc, err)
        rc, out, err = self.run_cli('drain', 'server', 'list', drain_id,
                                    '-f', 'json')
        rows = {row['Server']: row for row in json.loads(out)}
        self.assertEqual(('new2', 'pending'),
                         (rows[task.server_name]['To'],
                          rows[task.server_name]['State']))

    def test_host_list(self):
        rc, out, err = self.run_cli('drain', 'host', 'list', '-f', 'json')
        self.assertEqual(0, rc, err)
        rows = {row['Host']: row for row in json.loads(out)}
        self.assertEqual(['new1', 'new2', 'old1'], sorted(rows))
        # Raw: numbers, [used, total] pairs, bytes.
        self.assertEqual(
            {'Host': 'old1', 'State': 'enabled, up', 'VMs': 3,
             'vCPUs': [0, 16], 'RAM MiB': [0, 65536],
             'VM Disk': 30 * GiB, 'Free Disk': 500 * GiB}, rows['old1'])
        rc, out, err = self.run_cli('drain', 'host', 'list')
        self.assertEqual(0, rc, err)
        self.assertIn('| old1 | enabled, up |   3 | 0/16  | 0/65536 | '
                      '30.0 GiB | 500.0 GiB |', out)
