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
"""The evacuators as separate processes, state in MariaDB.

This test process hosts the embedded cloud and serves nova's API and
the host-drain REST API on real local ports; ``nova-migration-evacuator``
runs as its own processes, exactly as in production, on the MariaDB and
RabbitMQ (nova's notifications) this machine runs. ``openstack drain …``
commands drive them through the REST API (run in this process, see
tests/drain_commands.py). One evacuator is killed with SIGKILL
mid-evacuation; another finishes the job, moving every VM exactly once.

Each test has its own notification pool, as two clouds sharing one
RabbitMQ virtual host would.
"""

import json
import os
import sys
import time
import uuid

from oslo_config import cfg
import sqlalchemy as sa
import testtools.content

from nova_migration_ext.api import app as api_app
from nova_migration_ext.api import policies
from nova_migration_ext.contract import states
from nova_migration_ext.engine import engine as engine_mod
from nova_migration_ext.engine import store as store_mod
from tests import drain_commands
from tests.functional import cloud
from tests.functional import processes
from tests.functional import rabbit
from tests.functional import test_evacuation

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MYSQL = os.environ.get('NOVA_MIGRATION_EXT_TEST_MYSQL_URL',
                       'mysql+pymysql://root@127.0.0.1')
RABBIT = rabbit.URL


class HeaderAuthMiddleware:
    """Turn a token 'admin' into the headers the harness' API expects."""

    def __init__(self, app, project_id):
        self.app = app
        self.project_id = project_id

    def __call__(self, environ, start_response):
        environ['HTTP_X_AUTH_USER'] = 'admin'
        environ['HTTP_X_AUTH_PROJECT_ID'] = self.project_id
        environ['HTTP_X_ROLES'] = 'admin,member,reader'
        return self.app(environ, start_response)


class EvacuatorProcessTest(test_evacuation.EvacuationTestBase):

    def setUp(self):
        rabbit.require(self, mariadb=True)
        super().setUp()
        self.db_url = self._database()
        self.endpoint = self.serve_api(lambda app: HeaderAuthMiddleware(
            app, self.api.project_id))
        self.workdir = self.useFixture(
            __import__('fixtures').TempDir()).path
        self.processes = {}
        self.pool = 'nme-test-%s-notifications' % uuid.uuid4().hex[:12]
        self.addCleanup(rabbit.delete_queues, self.pool)
        self.drain = drain_commands.client(self.serve_drain_api())

    def serve_drain_api(self):
        """The host-drain API on the evacuators' database; its URL."""
        store = store_mod.Store(self.db_url)
        store.upgrade()
        conf = cfg.ConfigOpts()
        conf([], project='nova-migration-ext', default_config_files=[])
        resources = api_app.Application(
            engine_mod.Engine(store, self.gateway(), owner='api'),
            policies.enforcer(conf))
        return self.serve(drain_commands.AsAdmin(resources))

    def _database(self):
        name = 'nme_evac_%s' % uuid.uuid4().hex[:12]
        server = sa.create_engine(MYSQL)
        with server.begin() as conn:
            conn.execute(sa.text('CREATE DATABASE %s' % name))

        def drop():
            with server.begin() as conn:
                conn.execute(sa.text('DROP DATABASE IF EXISTS %s' % name))
            server.dispose()
        self.addCleanup(drop)
        return '%s/%s' % (MYSQL, name)

    def _config(self, name):
        path = os.path.join(self.workdir, '%s.conf' % name)
        with open(path, 'w') as f:
            f.write('[DEFAULT]\ntransport_url = %s\n\n'
                    '[database]\nconnection = %s\n\n'
                    '[evacuator]\nname = %s\n'
                    'poll_interval = 0.5\nlease_seconds = 4\n'
                    'retry_base = 0.5\nstuck_after = 120\n'
                    'endpoint_override = %s\n'
                    'notification_pool = %s\n'
                    'shared_storage_groups = embedded:%s\n\n'
                    '[nova]\nauth_type = admin_token\nendpoint = %s\n'
                    'token = admin\n'
                    % (RABBIT, self.db_url, name, self.endpoint,
                       self.pool,
                       ';'.join(sorted(self.computes)), self.endpoint))
        return path

    def start_evacuator(self, name, module='nova_migration_ext.cmd.evacuator',
                        config=None):
        """Start *module* as process *name*, on *config* or its own."""
        log = open(os.path.join(self.workdir, '%s.log' % name), 'w')
        subprocess = processes.green_subprocess()
        process = subprocess.Popen(
            [sys.executable, '-m', module,
             '--config-file', config or self._config(name)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=ROOT), start_new_session=True)
        self.processes[name] = process

        def stop():
            self.kill(name)
            log.close()
            with open(log.name) as f:
                self.addDetail('%s.log' % name,
                               testtools.content.text_content(
                                   f.read()[-6000:]))
        self.addCleanup(stop)
        return process

    def kill(self, name):
        """SIGKILL an evacuator: its oslo.service worker process too.

        The worker outlives a kill of the launcher alone: it notices,
        then shuts down gracefully, still driving for a while.
        """
        processes.kill_group(self.processes[name])

    def cli(self, *args):
        """``openstack drain *args -f json``, parsed."""
        return drain_commands.run_json(self.drain, 'drain', *args)

    def run_cli(self, *args):
        """(exit status, stdout, stderr) of ``openstack drain *args``."""
        return drain_commands.run(self.drain, 'drain', *args)

    def wait_for(self, evacuation_id, predicate, timeout=150):
        deadline = time.time() + timeout
        while time.time() < deadline:
            info = self.cli('show', evacuation_id)
            if predicate(info):
                return info
            time.sleep(1)
        self.fail('timed out; last: %s' % info)

    def _done(self, info):
        return info['tasks'].get('done', 0)     # -f json: raw counts


class EvacuatorKillTest(EvacuatorProcessTest):
    """An evacuator dies with SIGKILL mid-evacuation."""

    def _kill_and_finish(self, survivors):
        servers = self.boot_many(4, 'old1') + self.boot_many(4, 'old2')
        plan = self.cli('create', 'old1', 'old2', '--target', 'new1',
                        '--target', 'new2', '--target', 'new3',
                        '--max-total', '1', '--name', 'kill test')
        evacuation_id = plan['id']
        self.assertEqual('planned', plan['state'])
        self.cli('start', evacuation_id)
        info = self.wait_for(evacuation_id, lambda i: self._done(i) >= 2)
        victim = info['driven_by']
        self.assertIn(victim, self.processes)
        self.kill(victim)
        for name in survivors:
            if name not in self.processes:
                self.start_evacuator(name)
        info = self.wait_for(evacuation_id,
                             lambda i: i['state'] == states.COMPLETED)
        self.assertEqual(8, self._done(info))
        self.assertNotEqual(victim, info['driven_by'])
        self.assert_drained(servers)
        for server in servers:
            self.assertEqual(1, self.moves[server['id']], server['name'])
        audit = self.cli('audit', 'list', evacuation_id)
        takeovers = [row for row in audit if row['Action'] == 'take-over']
        self.assertGreaterEqual(len(takeovers), 2)
        return info

    def test_sigkill_then_restart_moves_every_vm_once(self):
        self.start_evacuator('ev1')
        self._kill_and_finish(survivors=['ev1-restarted'])

    def test_second_evacuator_takes_over(self):
        self.start_evacuator('ev1')
        self.start_evacuator('ev2')
        self._kill_and_finish(survivors=[])


class CliWaitTest(EvacuatorProcessTest):
    """start --wait and show --wait follow a drain to its end."""

    def setUp(self):
        super().setUp()
        self.faults = cloud.Faults(self)
        self.start_evacuator('ev1')

    @staticmethod
    def progress_lines(err):
        return [line for line in err.splitlines() if line.startswith('[')]

    def test_start_wait_follows_the_drain_and_exits_0(self):
        servers = self.boot_many(2, 'old1')
        plan = self.cli('create', 'old1', '--target', 'new1', '--target',
                        'new2')
        rc, out, err = self.run_cli('start', plan['id'], '--wait',
                                    '--poll-interval', '0.5', '-f', 'json')
        self.assertEqual(0, rc, err)
        info = json.loads(out)
        self.assertEqual(states.COMPLETED, info['state'])
        self.assertEqual({'done': 2}, info['tasks'])
        self.assertEqual(100.0, info['progress'])
        lines = self.progress_lines(err)
        self.assertGreaterEqual(len(lines), 2, err)
        self.assertIn('running', lines[0])
        self.assertIn('ETA', lines[0])
        self.assertIn('completed', lines[-1])
        self.assertIn('100.0%', lines[-1])
        self.assertNotIn('ETA', lines[-1])
        for server in servers:
            server = self.api.get_server(server['id'])
            self.assertIn(server['OS-EXT-SRV-ATTR:host'], ('new1', 'new2'))
            self.assertEqual('ACTIVE', server['status'])

    def test_show_wait_exits_3_when_a_vm_is_left_then_0_after_the_remedy(
            self):
        self.boot_many(1, 'old1')
        self.faults.live_precheck_refused('old1')
        plan = self.cli('create', 'old1', '--target', 'new1')
        self.cli('start', plan['id'])
        rc, out, err = self.run_cli('show', plan['id'], '--wait',
                                    '--poll-interval', '0.5', '-f', 'json')
        self.assertEqual(3, rc, err)
        info = json.loads(out)
        self.assertEqual({'needs_operator': 1}, info['tasks'])
        self.assertIn('needs_operator 1', self.progress_lines(err)[-1])
        # The remedy the operator picks: allow this VM downtime, retry.
        [task] = self.cli('server', 'list', plan['id'])
        self.cli('server', 'retry', plan['id'], task['Server'],
                 '--allow-downtime')
        rc, out, err = self.run_cli('show', plan['id'], '--wait',
                                    '--poll-interval', '0.5', '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertEqual({'done': 1}, json.loads(out)['tasks'])
        [task] = self.cli('server', 'list', plan['id'])
        self.assertEqual('cold', task['Method'])
        actions = [row['Action']
                   for row in self.cli('audit', 'list', plan['id'])]
        self.assertIn('allow-downtime', actions)
