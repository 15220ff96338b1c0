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
"""Two evacuators on one database never both submit a VM.

Each runs on a Store of its own (two processes, as in production), on an
SQLite file and on MariaDB, against one fake nova.
"""

import datetime
import os
import threading
import uuid

import fixtures
import sqlalchemy as sa

from nova_migration_ext.contract import states
from nova_migration_ext.engine import executor as executor_mod
from nova_migration_ext.engine import models
from nova_migration_ext.engine import store as store_mod
from tests import services
from tests.unit.engine import test_executor
from tests.unit.engine import test_store
from tests.unit import utils


class SlowGateway(test_executor.FakeGateway):
    """The first live migration hangs until *release* is set."""

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def live_migrate(self, server_id, host, *args, **kwargs):
        super().live_migrate(server_id, host, *args, **kwargs)
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(10)


class TwoEvacuatorTests:
    """Subclasses provide :meth:`database_url`, an empty database."""

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.FakeLogger(name='alembic'))
        url = self.database_url()
        self.stores = [store_mod.Store(url), store_mod.Store(url)]
        for a_store in self.stores:
            self.addCleanup(a_store.engine.dispose)
        self.stores[0].upgrade()
        self.gateway = SlowGateway()
        self.gateway.set_server('ACTIVE', 'src')
        self.evacuation_id = self.stores[0].create_evacuation(
            source_hosts=['src'], actor='alice', policy=test_store.POLICY,
            tasks=[test_store.task(test_executor.SERVER, source_host='src',
                                   target_host='dst')])
        self.stores[0].set_state(self.evacuation_id, states.RUNNING,
                                 'alice')
        self.first, self.second = [executor_mod.Executor(
            a_store, self.gateway, self.evacuation_id, owner=name,
            lease_seconds=30, settle_seconds=0.0,
            clock=test_executor.Clock())
            for a_store, name in zip(self.stores, ('ev-1', 'ev-2'))]

    def expire_lease(self):
        """The lease runs out, as when a pass outlives it."""
        table = models.Evacuation.__table__
        with self.stores[0].session() as session:
            session.execute(sa.update(table).values(
                lease_until=models._now() - datetime.timedelta(minutes=1)))

    def submits(self):
        return [a for a in self.gateway.actions if a[0] == 'live_migrate']

    def run_second_in_background(self):
        errors = []

        def run():
            try:
                self.second.tick()
            except Exception as exc:
                errors.append(exc)
        thread = threading.Thread(target=run)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.assertTrue(self.gateway.entered.wait(10))
        return thread, errors

    def test_one_submit_when_a_slow_pass_loses_its_lease(self):
        # ev-1 read the task as pending, then stalled past its lease; ev-2
        # took over and is submitting the VM when ev-1 goes on.
        original = self.stores[0].update_task
        started = []

        def stalled_write(*args, **kwargs):
            if not started:
                self.expire_lease()
                started.append(self.run_second_in_background())
            try:
                return original(*args, **kwargs)
            finally:
                self.gateway.release.set()
        self.stores[0].update_task = stalled_write

        state = self.first.tick()
        [(thread, errors)] = started
        thread.join(10)

        self.assertEqual(1, len(self.submits()))
        self.assertIsNone(state)
        self.assertEqual([], errors)
        [task] = self.stores[0].tasks(self.evacuation_id)
        self.assertEqual((states.MIGRATING, 1), (task.state, task.attempts))
        actors = [(e.actor, e.action) for e in
                  self.stores[0].audit_log(self.evacuation_id)]
        self.assertEqual([('ev-1', 'take-over'), ('ev-2', 'take-over'),
                          ('ev-2', 'task-submitting'),
                          ('ev-2', 'task-migrating')], actors[2:])

    def test_stale_owner_cannot_write_after_take_over(self):
        self.gateway.release.set()
        self.assertEqual(states.RUNNING, self.first.tick())
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.expire_lease()
        self.assertEqual(states.RUNNING, self.second.tick())
        [task] = self.stores[0].tasks(self.evacuation_id)
        self.assertRaises(
            store_mod.Fenced, self.first._compare_and_swap, task,
            states.DONE, 'stale')
        self.assertIsNone(self.first.tick())
        self.assertEqual(1, len(self.submits()))
        self.assertEqual(states.MIGRATING, self.stores[0].tasks(
            self.evacuation_id)[0].state)

    def test_stale_pass_repairs_nothing(self):
        self.gateway.release.set()
        self.first.tick()
        self.gateway.set_server('ERROR', 'dst')     # moved; to reset
        read_tasks = self.stores[0].tasks

        def taken_over_meanwhile(evacuation_id):
            self.expire_lease()
            self.stores[1].acquire(evacuation_id, 'ev-2', 30)
            self.stores[0].tasks = read_tasks
            return read_tasks(evacuation_id)
        self.stores[0].tasks = taken_over_meanwhile

        state = self.first.tick()

        self.assertEqual([], [a for a in self.gateway.actions
                              if a[0] == 'reset_state'])
        self.assertIsNone(state)
        self.assertEqual(states.MIGRATING, self.stores[0].tasks(
            self.evacuation_id)[0].state)

    def test_pass_outliving_its_lease_finishes_unless_taken_over(self):
        self.gateway.release.set()
        self.first.tick()
        self.gateway.set_server('ACTIVE', 'dst')
        get_server = self.gateway.get_server

        def slow_get_server(server_id):
            self.expire_lease()     # this call outlived the lease
            return get_server(server_id)
        self.gateway.get_server = slow_get_server

        self.assertEqual(states.COMPLETED, self.first.tick())
        self.assertEqual(states.DONE, self.stores[0].tasks(
            self.evacuation_id)[0].state)


class TestTwoEvacuatorsSQLite(TwoEvacuatorTests, utils.TestCase):

    def database_url(self):
        path = self.useFixture(fixtures.TempDir()).path
        return 'sqlite:///' + os.path.join(path, 'evacuator.sqlite')


class TestTwoEvacuatorsMariaDB(TwoEvacuatorTests, utils.TestCase):

    def database_url(self):
        server = sa.create_engine(test_store.MYSQL_SERVER_URL,
                                  connect_args={'connect_timeout': 5})
        self.addCleanup(server.dispose)
        name = 'nme_test_%s' % uuid.uuid4().hex[:16]
        try:
            with server.begin() as conn:
                conn.exec_driver_sql(
                    'CREATE DATABASE %s CHARACTER SET utf8mb4' % name)
        except sa.exc.OperationalError as exc:
            services.skip_missing(
                self, services.MARIADB,
                'MariaDB/MySQL is not reachable at %s: %s'
                % (test_store.MYSQL_SERVER_URL, exc.orig))
        self.addCleanup(self._drop, server, name)
        return '%s/%s?charset=utf8mb4' % (
            test_store.MYSQL_SERVER_URL.rstrip('/'), name)

    @staticmethod
    def _drop(server, name):
        with server.begin() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS %s' % name)
