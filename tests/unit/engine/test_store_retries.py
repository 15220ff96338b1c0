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
"""The store retries what is safe to run again, and nothing else.

A deadlock rolled the whole transaction back: any operation may run
again. A connection lost during the commit leaves its outcome unknown:
only reads, and writes whose second run changes nothing or is refused,
run again. Retries never outlast the store's time-out.
"""

import contextlib
import os
import time

import fixtures
from oslo_db import exception as db_exc

from nova_migration_ext.contract import states
from nova_migration_ext.engine import store as store_mod
from tests.unit.engine import test_store
from tests.unit import utils


def lost_connection():
    return db_exc.DBConnectionError(
        Exception('(2013) Lost connection to MySQL server during query'))


def deadlock():
    return db_exc.DBDeadlock(
        Exception('(1213) Deadlock found when trying to get lock'))


class RetryTest(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.FakeLogger(name='alembic'))
        self.logger = self.useFixture(fixtures.FakeLogger(name='oslo_db'))
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'evacuator.sqlite')
        self.store = self.make_store()
        self.store.upgrade()
        self.eid = self.store.create_evacuation(
            source_hosts=['cmp-1'], policy=test_store.POLICY, actor='alice',
            tasks=[test_store.task('srv-a')])
        self.task = self.store.tasks(self.eid)[0]

    def make_store(self, timeout=5, **database):
        """A store on this test's file that retries without waiting."""
        database.setdefault('db_retry_interval', 0)
        a_store = store_mod.Store('sqlite:///' + self.path, timeout=timeout,
                                  **database)
        self.addCleanup(a_store.engine.dispose)
        return a_store

    def fail(self, a_store, error, times=1, after_commit=False, delay=0):
        """Make *a_store*'s next *times* sessions raise *error*.

        Before their work, or *after_commit*: the work is in the database
        and the caller is told the connection was lost. Returns the list
        of sessions opened.
        """
        opened = []
        real = a_store.session

        @contextlib.contextmanager
        def session():
            opened.append(True)
            failing = len(opened) <= times
            if failing and not after_commit:
                time.sleep(delay)
                raise error()
            with real() as s:
                yield s
            if failing:
                raise error()
        self.useFixture(fixtures.MockPatchObject(a_store, 'session',
                                                 session))
        return opened

    def audit_actions(self):
        return [e.action for e in self.store.audit_log(self.eid)]

    # -- what runs again ----------------------------------------------------

    def test_reads_retried_after_lost_connections(self):
        opened = self.fail(self.store, lost_connection, times=2)
        self.assertEqual([self.eid],
                         [e.id for e in self.store.list_evacuations()])
        self.assertEqual(3, len(opened))

    def test_every_operation_retried_on_deadlock(self):
        calls = [
            lambda: self.store.create_evacuation(
                source_hosts=['cmp-2'], policy=test_store.POLICY,
                actor='bob', tasks=[test_store.task('srv-b')]),
            lambda: self.store.audit(self.eid, 'bob', 'note', 'hello'),
            lambda: self.store.allow_downtime(self.eid, 'srv-a', 'bob'),
            lambda: self.store.set_state(self.eid, states.RUNNING, 'bob'),
            lambda: self.store.update_task(
                self.task.id, 'bob', states.SUBMITTING,
                expect=states.PENDING),
            lambda: self.store.acquire(self.eid, 'engine-1', 60),
            lambda: self.store.save_host_facts('cmp-1', {'free': 1}),
            lambda: self.store.tasks(self.eid),
        ]
        for call in calls:
            opened = self.fail(self.store, deadlock)
            call()
            self.assertEqual(2, len(opened), call)
        self.assertEqual(2, len(self.store.list_evacuations()))
        # Each write applied once.
        self.assertEqual(['plan', 'note', 'allow-downtime', 'running',
                          'task-submitting', 'take-over'],
                         self.audit_actions())

    def test_idempotent_writes_retried_after_commit_lost(self):
        opened = self.fail(self.store, lost_connection, after_commit=True)
        self.store.set_state(self.eid, states.RUNNING, 'bob')
        self.assertEqual(2, len(opened))
        opened = self.fail(self.store, lost_connection, after_commit=True)
        token = self.store.acquire(self.eid, 'engine-1', 60)
        self.assertEqual(2, len(opened))
        self.assertEqual(token, self.store.acquire(self.eid, 'engine-1', 60))
        opened = self.fail(self.store, lost_connection, after_commit=True)
        self.store.save_host_facts('cmp-1', {'free': 1})
        self.assertEqual(2, len(opened))
        self.assertEqual({'cmp-1': {'free': 1}}, self.store.host_facts(60))
        # The second runs changed nothing.
        self.assertEqual(['plan', 'running', 'take-over'],
                         self.audit_actions())

    def test_compare_and_swap_refuses_its_second_run(self):
        opened = self.fail(self.store, lost_connection, after_commit=True)
        self.assertRaises(store_mod.Conflict, self.store.update_task,
                          self.task.id, 'engine-1', states.SUBMITTING,
                          expect=states.PENDING)
        self.assertEqual(2, len(opened))
        self.assertEqual(states.SUBMITTING,
                         self.store.tasks(self.eid)[0].state)
        self.assertEqual(['plan', 'task-submitting'], self.audit_actions())

    def test_fenced_write_retried_stays_fenced(self):
        token = self.store.acquire(self.eid, 'engine-1', 60)
        fence = store_mod.Fence(self.eid, 'engine-1', token)
        opened = self.fail(self.store, lost_connection)
        self.store.update_task(self.task.id, 'engine-1', bytes_done=7,
                               fence=fence)
        self.assertEqual(2, len(opened))
        self.assertEqual(7, self.store.tasks(self.eid)[0].bytes_done)
        stale = store_mod.Fence(self.eid, 'engine-1', token - 1)
        opened = self.fail(self.store, lost_connection)
        self.assertRaises(store_mod.Fenced, self.store.update_task,
                          self.task.id, 'engine-1', bytes_done=9,
                          fence=stale)
        self.assertEqual(7, self.store.tasks(self.eid)[0].bytes_done)

    # -- what does not ------------------------------------------------------

    def test_unsafe_writes_not_retried_after_commit_lost(self):
        calls = [
            lambda: self.store.create_evacuation(
                source_hosts=['cmp-2'], policy=test_store.POLICY,
                actor='bob', tasks=[test_store.task('srv-b')]),
            lambda: self.store.audit(self.eid, 'bob', 'note', 'hello'),
            lambda: self.store.allow_downtime(self.eid, 'srv-a', 'bob'),
        ]
        for call in calls:
            opened = self.fail(self.store, lost_connection,
                               after_commit=True)
            self.assertRaises(db_exc.DBConnectionError, call)
            self.assertEqual(1, len(opened), call)
        # Applied once, as their caller may find out.
        self.assertEqual(2, len(self.store.list_evacuations()))
        self.assertEqual(['plan', 'note', 'allow-downtime'],
                         self.audit_actions())

    def test_other_errors_not_retried(self):
        opened = self.fail(self.store, lambda: db_exc.DBError('syntax'))
        self.assertRaises(db_exc.DBError, self.store.tasks, self.eid)
        self.assertEqual(1, len(opened))

    def test_db_max_retries(self):
        a_store = self.make_store(db_max_retries=2)
        opened = self.fail(a_store, lost_connection, times=5)
        self.assertRaises(db_exc.DBConnectionError, a_store.tasks, self.eid)
        self.assertEqual(3, len(opened))
        a_store = self.make_store(db_max_retries=0)
        opened = self.fail(a_store, deadlock, times=5)
        self.assertRaises(db_exc.DBDeadlock, a_store.tasks, self.eid)
        self.assertEqual(1, len(opened))

    def test_retries_stop_at_the_timeout(self):
        a_store = self.make_store(timeout=1, db_max_retries=-1)
        opened = self.fail(a_store, deadlock, times=1000, delay=0.2)
        started = time.monotonic()
        self.assertRaises(db_exc.DBDeadlock, a_store.tasks, self.eid)
        self.assertLess(time.monotonic() - started, 2)
        # About five 0.2 s attempts in 1 s; fewer on a busy machine.
        self.assertGreaterEqual(len(opened), 2)
        self.assertLessEqual(len(opened), 6)

    def test_silent_database_fails_after_one_timeout(self):
        # An attempt that took the whole time-out (a read time-out is a
        # lost connection to oslo.db) is not made again.
        a_store = self.make_store(timeout=1)
        opened = self.fail(a_store, lost_connection, times=5, delay=1.1)
        self.assertRaises(db_exc.DBConnectionError, a_store.tasks, self.eid)
        self.assertEqual(1, len(opened))

    def test_unknown_options_refused(self):
        self.assertRaises(TypeError, store_mod.Store,
                          'sqlite:///' + self.path, use_db_reconnect=True)
