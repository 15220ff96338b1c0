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
"""Tests of the evacuation store on SQLite and on MariaDB.

Every test of :class:`StoreTests` runs twice: on an embedded SQLite file
and on a MariaDB database (``NOVA_MIGRATION_EXT_TEST_MYSQL_URL``, by
default the server on 127.0.0.1 as root). The MariaDB tests are skipped,
saying why, when no server answers there.
"""

import datetime
import os
import socket
import threading
import time
import uuid

from alembic import autogenerate
from alembic import migration
import fixtures
from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import models
from nova_migration_ext.engine import planner
from nova_migration_ext.engine import store
from tests import services
from tests.unit.engine import fakes
from tests.unit import utils

MYSQL_SERVER_URL = os.environ.get('NOVA_MIGRATION_EXT_TEST_MYSQL_URL',
                                  'mysql+pymysql://root@127.0.0.1')
TABLES = ('alembic_version', 'audit_log', 'evacuations', 'host_facts',
          'tasks')
POLICY = {'method': 'auto', 'allow_downtime': False, 'max_per_source': 2}
HEAD = '0003'


def task(server_id, **fields):
    """Fields of a task as the planner hands them to the store."""
    fields.setdefault('server_name', 'vm-%s' % server_id)
    fields.setdefault('project_id', 'p1')
    fields.setdefault('source_host', 'cmp-1')
    fields.setdefault('original_status', 'ACTIVE')
    fields.setdefault('method', 'block')
    fields.setdefault('target_host', 'cmp-9')
    fields.setdefault('bytes_total', 5 * fakes.GiB)
    fields.setdefault('expected_seconds', 65.0)
    fields.setdefault('verdicts', [['disk_fit', 'pass', 'fits.']])
    return dict(server_id=server_id, **fields)


class StoreTests:
    """The store's behaviour, whatever the database.

    Subclasses provide :meth:`database_url` (the database of this test,
    empty or already upgraded) and :meth:`new_database` (a new, empty one).
    """

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.FakeLogger(name='alembic'))
        self.url = self.database_url()
        self.store = self.make_store()
        self.store.upgrade()

    def make_store(self, url=None):
        """A Store on *url* (this test's database), closed on cleanup."""
        new = store.Store(url or self.url)
        self.addCleanup(new.engine.dispose)
        return new

    def create(self, tasks=None, **kwargs):
        kwargs.setdefault('source_hosts', ['cmp-1', 'cmp-2'])
        kwargs.setdefault('policy', POLICY)
        kwargs.setdefault('actor', 'alice')
        if tasks is None:
            tasks = [task('srv-a'), task('srv-b')]
        return self.store.create_evacuation(tasks=tasks, **kwargs)

    def evacuation(self, evacuation_id, a_store=None):
        a_store = a_store or self.store
        with a_store.session() as session:
            return a_store.get(session, evacuation_id)

    def log(self, evacuation_id, a_store=None):
        return [(e.actor, e.action, e.detail) for e in
                (a_store or self.store).audit_log(evacuation_id)]

    def counts(self):
        tables = models.Base.metadata.tables
        with self.store.engine.connect() as conn:
            return {name: conn.execute(sa.select(sa.func.count()).select_from(
                tables[name])).scalar_one()
                for name in ('evacuations', 'tasks', 'audit_log')}

    def assertRecent(self, value, before, after):
        """*value* lies between *before* and *after*, to the second.

        MariaDB's DATETIME drops the fraction of a second.
        """
        self.assertIsNotNone(value)
        self.assertLessEqual(before.replace(microsecond=0), value)
        self.assertLessEqual(value, after + datetime.timedelta(seconds=1))

    def expire_lease(self, evacuation_id):
        """Move the lease into the past, as if its holder had died."""
        with self.store.session() as session:
            evacuation = self.store.get(session, evacuation_id)
            evacuation.lease_until = models._now() - datetime.timedelta(
                minutes=1)

    # -- host facts --------------------------------------------------------

    def test_host_facts_kept_and_refreshed(self):
        self.assertEqual({}, self.store.host_facts(max_age=600))
        self.store.save_host_facts('cmp-1', {'migration_ext_free_bytes': '1'})
        self.store.save_host_facts('cmp-2', {'migration_ext_free_bytes': '2'})
        self.store.save_host_facts('cmp-1', {'migration_ext_free_bytes': '3'})
        self.assertEqual({'cmp-1': {'migration_ext_free_bytes': '3'},
                          'cmp-2': {'migration_ext_free_bytes': '2'}},
                         self.store.host_facts(max_age=600))

    def test_old_host_facts_are_ignored(self):
        self.store.save_host_facts('cmp-1', {'migration_ext_free_bytes': '1'})
        self.store.save_host_facts('cmp-2', {'migration_ext_free_bytes': '2'})
        with self.store.session() as session:
            session.get(models.HostFacts, 'cmp-1').updated_at = \
                models._now() - datetime.timedelta(minutes=20)
        self.assertEqual(['cmp-2'],
                         list(self.store.host_facts(max_age=600)))
        self.assertEqual(['cmp-1', 'cmp-2'],
                         sorted(self.store.host_facts(max_age=3600)))

    def test_host_facts_from_many_hosts_at_once(self):
        # Every compute host publishes its facts on its own schedule: the
        # first reports of new hosts arrive together. On MariaDB, a read
        # with a row lock before the insert deadlocked (seen in the lab).
        errors = []
        barrier = threading.Barrier(8)
        facts_store = self.make_store(self.new_database())
        facts_store.upgrade()

        def publish(thread):
            barrier.wait()
            try:
                for n in range(20):
                    facts_store.save_host_facts(
                        'cmp-%d-%d' % (n, thread),
                        {'migration_ext_free_bytes': str(n)})
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=publish, args=(i,))
                   for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual([], errors)
        facts = facts_store.host_facts(max_age=600)
        self.assertEqual(160, len(facts))
        self.assertEqual({'migration_ext_free_bytes': '19'},
                         facts['cmp-19-3'])

    # -- schema ------------------------------------------------------------

    def test_upgrade_creates_schema(self):
        empty = self.make_store(self.new_database())
        self.assertEqual([], sa.inspect(empty.engine).get_table_names())
        empty.upgrade()
        self.assertEqual(
            list(TABLES),
            sorted(sa.inspect(empty.engine).get_table_names()))
        with empty.engine.connect() as conn:
            self.assertEqual([(HEAD,)], conn.execute(sa.text(
                'SELECT version_num FROM alembic_version')).fetchall())

    def test_upgrade_is_idempotent(self):
        eid = self.create()
        self.store.upgrade()
        self.make_store().upgrade()
        with self.store.engine.connect() as conn:
            self.assertEqual([(HEAD,)], conn.execute(sa.text(
                'SELECT version_num FROM alembic_version')).fetchall())
        self.assertEqual(states.PLANNED, self.evacuation(eid).state)
        self.assertEqual(2, len(self.store.tasks(eid)))

    def test_migration_matches_models(self):
        with self.store.engine.connect() as conn:
            context = migration.MigrationContext.configure(conn)
            self.assertEqual(HEAD, context.get_current_revision())
            self.assertEqual([], autogenerate.compare_metadata(
                context, models.Base.metadata))

    # -- evacuations ---------------------------------------------------------

    def test_create_evacuation(self):
        before = models._now()
        eid = self.create(name='drain rack 7', target_hosts=['cmp-9'],
                          plan_summary={'vms': 2})
        after = models._now()
        evacuation = self.evacuation(eid)
        self.assertEqual(36, len(eid))
        self.assertEqual('drain rack 7', evacuation.name)
        self.assertEqual(states.PLANNED, evacuation.state)
        self.assertEqual(['cmp-1', 'cmp-2'], evacuation.source_hosts)
        self.assertEqual(['cmp-9'], evacuation.target_hosts)
        self.assertIsNone(evacuation.target_aggregate)
        self.assertEqual(POLICY, evacuation.policy)
        self.assertEqual({'vms': 2}, evacuation.plan_summary)
        self.assertEqual('alice', evacuation.created_by)
        self.assertRecent(evacuation.created_at, before, after)
        self.assertIsNone(evacuation.started_at)
        self.assertIsNone(evacuation.finished_at)
        self.assertIsNone(evacuation.owner)
        tasks = self.store.tasks(eid)
        self.assertEqual(['srv-a', 'srv-b'], [t.server_id for t in tasks])
        for stored in tasks:
            self.assertEqual(eid, stored.evacuation_id)
            self.assertEqual(states.PENDING, stored.state)
            self.assertEqual((0, 0, 0), (stored.attempts,
                                         stored.live_failures,
                                         stored.bytes_done))
            self.assertEqual(task(stored.server_id), {
                key: getattr(stored, key) for key in task('x')})
        self.assertEqual([('alice', 'plan', '2 VM(s) off cmp-1, cmp-2')],
                         self.log(eid))

    def test_create_without_targets(self):
        eid = self.create(tasks=[], target_aggregate='new-racks')
        evacuation = self.evacuation(eid)
        self.assertIsNone(evacuation.target_hosts)
        self.assertEqual('new-racks', evacuation.target_aggregate)
        self.assertEqual([], self.store.tasks(eid))
        self.assertEqual([('alice', 'plan', '0 VM(s) off cmp-1, cmp-2')],
                         self.log(eid))

    def test_create_is_all_or_nothing(self):
        self.create()
        before = self.counts()
        self.assertRaises(db_exc.DBDuplicateEntry, self.create,
                          tasks=[task('srv-a'), task('srv-a')])
        self.assertEqual(before, self.counts())

    def test_create_with_incomplete_task_stores_nothing(self):
        before = self.counts()
        bad = task('srv-b')
        del bad['source_host']
        self.assertRaises(db_exc.DBError, self.create,
                          tasks=[task('srv-a'), bad])
        self.assertEqual(before, self.counts())

    def test_same_server_in_two_evacuations(self):
        first, second = self.create(), self.create()
        self.assertNotEqual(first, second)
        self.assertEqual(['srv-a', 'srv-b'],
                         [t.server_id for t in self.store.tasks(second)])

    def test_list_evacuations(self):
        eid = self.create()
        listed = {e.id: e for e in self.store.list_evacuations()}
        self.assertEqual(states.PLANNED, listed[eid].state)

    def test_task_bytes_give_each_evacuation_s_states(self):
        first, second, third = self.create(), self.create(), self.create()
        for eid in (first, second):
            task_a = self.store.tasks(eid)[0]
            self.store.update_task(task_a.id, 'engine-1',
                                   new_state=states.NEEDS_OPERATOR)
        task_b = self.store.tasks(second)[1]
        self.store.update_task(task_b.id, 'engine-1',
                               new_state=states.NEEDS_OPERATOR)
        counts = {}
        for row in self.store.task_bytes():
            if row.state == states.NEEDS_OPERATOR:
                counts[row.evacuation_id] = counts.get(
                    row.evacuation_id, 0) + 1
        self.assertEqual((1, 2), (counts[first], counts[second]))
        self.assertNotIn(third, counts)
        rows = [r for r in self.store.task_bytes() if r.evacuation_id == third]
        self.assertEqual([(5 * fakes.GiB, 0)] * 2,
                         [(r.bytes_total, r.bytes_done) for r in rows])

    def test_get_unknown(self):
        with self.store.session() as session:
            exc = self.assertRaises(store.NotFound, self.store.get, session,
                                    'no-such-id')
        self.assertEqual('No evacuation no-such-id. List them with '
                         '"openstack drain list".', str(exc))
        self.assertIsInstance(exc, LookupError)

    def test_set_state_unknown(self):
        self.assertRaises(store.NotFound, self.store.set_state,
                          'no-such-id', states.RUNNING, 'alice')

    def test_set_state_lifecycle(self):
        eid = self.create()
        before = models._now()
        self.store.set_state(eid, states.RUNNING, 'alice', why='go')
        after = models._now()
        evacuation = self.evacuation(eid)
        self.assertEqual(states.RUNNING, evacuation.state)
        self.assertRecent(evacuation.started_at, before, after)
        self.assertIsNone(evacuation.finished_at)
        started = evacuation.started_at

        self.store.set_state(eid, states.PAUSED, 'bob', why='window closed')
        self.store.set_state(eid, states.RUNNING, 'engine-1')
        evacuation = self.evacuation(eid)
        self.assertEqual(started, evacuation.started_at)
        self.assertIsNone(evacuation.finished_at)

        before = models._now()
        self.store.set_state(eid, states.COMPLETED, 'engine-1',
                             why='every VM moved')
        after = models._now()
        evacuation = self.evacuation(eid)
        self.assertEqual(states.COMPLETED, evacuation.state)
        self.assertEqual(started, evacuation.started_at)
        self.assertRecent(evacuation.finished_at, before, after)
        self.assertEqual(
            [('alice', 'plan', '2 VM(s) off cmp-1, cmp-2'),
             ('alice', 'running', 'planned -> running: go'),
             ('bob', 'paused', 'running -> paused: window closed'),
             ('engine-1', 'running', 'paused -> running'),
             ('engine-1', 'completed',
              'running -> completed: every VM moved')],
            self.log(eid))

    def test_cancel_before_start(self):
        eid = self.create()
        self.store.set_state(eid, states.CANCELLED, 'bob')
        evacuation = self.evacuation(eid)
        self.assertEqual(states.CANCELLED, evacuation.state)
        self.assertIsNone(evacuation.started_at)
        self.assertIsNotNone(evacuation.finished_at)

    def test_failed_is_not_final(self):
        eid = self.create()
        self.store.set_state(eid, states.RUNNING, 'engine-1')
        self.store.set_state(eid, states.FAILED, 'engine-1', why='nova down')
        self.assertIsNone(self.evacuation(eid).finished_at)
        self.store.set_state(eid, states.RUNNING, 'alice', why='retry')
        self.assertEqual(states.RUNNING, self.evacuation(eid).state)

    def test_illegal_transition_changes_nothing(self):
        eid = self.create()
        self.store.set_state(eid, states.RUNNING, 'alice')
        self.store.set_state(eid, states.CANCELLED, 'engine-1')
        evacuation = self.evacuation(eid)
        log = self.log(eid)
        exc = self.assertRaises(states.InvalidTransition,
                                self.store.set_state, eid, states.RUNNING,
                                'mallory', why='again')
        self.assertEqual('An evacuation in state cancelled cannot become '
                         'running (allowed: nothing).', str(exc))
        after = self.evacuation(eid)
        for column in ('state', 'started_at', 'finished_at', 'updated_at'):
            self.assertEqual(getattr(evacuation, column),
                             getattr(after, column), column)
        self.assertEqual(log, self.log(eid))

    def test_illegal_transition_from_planned(self):
        eid = self.create()
        self.assertRaises(states.InvalidTransition, self.store.set_state,
                          eid, states.COMPLETED, 'alice')
        evacuation = self.evacuation(eid)
        self.assertEqual(states.PLANNED, evacuation.state)
        self.assertIsNone(evacuation.finished_at)
        self.assertEqual(1, len(self.log(eid)))

    # -- tasks ---------------------------------------------------------------

    def test_update_task_with_state(self):
        eid = self.create()
        first = self.store.tasks(eid)[0]
        updated = self.store.update_task(
            first.id, 'engine-1', new_state=states.SUBMITTING, why='slot free',
            attempts=1, target_host='cmp-8')
        self.assertEqual((states.SUBMITTING, 1, 'cmp-8'),
                         (updated.state, updated.attempts,
                          updated.target_host))
        self.assertIsNone(updated.finished_at)
        stored = self.store.tasks(eid)[0]
        self.assertEqual((first.id, states.SUBMITTING, 1, 'cmp-8'),
                         (stored.id, stored.state, stored.attempts,
                          stored.target_host))
        entries = self.store.audit_log(eid)
        self.assertEqual(2, len(entries))
        self.assertEqual(
            (first.id, 'engine-1', 'task-submitting',
             'vm-srv-a srv-a: pending -> submitting: slot free'),
            (entries[1].task_id, entries[1].actor, entries[1].action,
             entries[1].detail))
        self.assertIsNone(entries[0].task_id)

    def test_update_task_without_state(self):
        eid = self.create()
        first = self.store.tasks(eid)[0]
        updated = self.store.update_task(first.id, 'engine-1',
                                         bytes_done=1234,
                                         migration_id='m-1')
        self.assertEqual((states.PENDING, 1234, 'm-1'),
                         (updated.state, updated.bytes_done,
                          updated.migration_id))
        stored = self.store.tasks(eid)[0]
        self.assertEqual((states.PENDING, 1234, 'm-1'),
                         (stored.state, stored.bytes_done,
                          stored.migration_id))
        self.store.update_task(first.id, 'engine-1',
                               new_state=states.PENDING, attempts=2)
        self.assertEqual(2, self.store.tasks(eid)[0].attempts)
        self.assertEqual(['plan'], [a for _, a, _ in self.log(eid)])

    def test_update_task_to_final_state(self):
        eid = self.create()
        first = self.store.tasks(eid)[0]
        for new in (states.SUBMITTING, states.MIGRATING):
            self.store.update_task(first.id, 'engine-1', new_state=new)
        before = models._now()
        done = self.store.update_task(first.id, 'engine-1',
                                      new_state=states.DONE,
                                      bytes_done=first.bytes_total)
        after = models._now()
        self.assertRecent(done.finished_at, before, after)
        self.assertEqual(
            ['plan', 'task-submitting', 'task-migrating', 'task-done'],
            [a for _, a, _ in self.log(eid)])
        self.assertEqual('vm-srv-a srv-a: migrating -> done',
                         self.log(eid)[-1][2])
        self.assertEqual(states.PENDING, self.store.tasks(eid)[1].state)

    def test_update_task_illegal_transition(self):
        eid = self.create()
        first = self.store.tasks(eid)[0]
        exc = self.assertRaises(states.InvalidTransition,
                                self.store.update_task, first.id,
                                'engine-1', new_state=states.DONE,
                                bytes_done=99)
        self.assertEqual('A task in state pending cannot become done '
                         '(allowed: cancelled, gone, needs_operator, '
                         'skipped, submitting).', str(exc))
        stored = self.store.tasks(eid)[0]
        self.assertEqual((states.PENDING, 0, None),
                         (stored.state, stored.bytes_done,
                          stored.finished_at))
        self.assertEqual(1, len(self.log(eid)))

    def test_audit(self):
        eid = self.create()
        first = self.store.tasks(eid)[0]
        self.store.audit(eid, 'bob', 'note', 'checked by hand',
                         task_id=first.id)
        entry = self.store.audit_log(eid)[-1]
        self.assertEqual((first.id, 'bob', 'note', 'checked by hand'),
                         (entry.task_id, entry.actor, entry.action,
                          entry.detail))

    def test_plan_moves_fit_create_evacuation(self):
        policy = drain_policy.Policy(allow_downtime=True, window=('22:00',
                                                                  '06:00'))
        hosts = [fakes.host('src', shared_storage='ceph'),
                 fakes.host('t1', shared_storage='ceph'),
                 fakes.host('t2')]
        servers = [fakes.server('a', volumes=('vol-1',)),
                   fakes.server('b', status='SHUTOFF', memory_mb=8192),
                   fakes.server('c', memory_mb=2048, project_id='p2')]
        plan = planner.Planner(hosts, servers, policy).plan(['src'])
        self.assertEqual(3, len(plan.moves))
        eid = self.create(source_hosts=['src'], policy=policy.to_dict(),
                          plan_summary=plan.to_resource().to_dict(),
                          tasks=[m.task_fields() for m in plan.moves])
        evacuation = self.evacuation(eid)
        self.assertEqual(policy, drain_policy.Policy.from_dict(
            evacuation.policy))
        self.assertEqual(plan.to_resource().to_dict(),
                         evacuation.plan_summary)
        stored = {t.server_id: t for t in self.store.tasks(eid)}
        for move in plan.moves:
            fields = move.task_fields()
            self.assertEqual(fields, {key: getattr(
                stored[move.server_id], key) for key in fields})

    # -- leases --------------------------------------------------------------

    def test_acquire_free_lease(self):
        eid = self.create()
        before = models._now()
        self.assertTrue(self.store.acquire(eid, 'engine-1', 60))
        after = models._now()
        evacuation = self.evacuation(eid)
        self.assertEqual('engine-1', evacuation.owner)
        self.assertRecent(evacuation.lease_until,
                          before + datetime.timedelta(seconds=60),
                          after + datetime.timedelta(seconds=60))
        self.assertEqual(('engine-1', 'take-over',
                          'lease taken from nobody'), self.log(eid)[-1])

    def test_acquire_refused_while_lease_holds(self):
        eid = self.create()
        self.assertTrue(self.store.acquire(eid, 'engine-1', 60))
        held = self.evacuation(eid).lease_until
        log = self.log(eid)
        self.assertFalse(self.store.acquire(eid, 'engine-2', 60))
        evacuation = self.evacuation(eid)
        self.assertEqual(('engine-1', held),
                         (evacuation.owner, evacuation.lease_until))
        self.assertEqual(log, self.log(eid))

    def test_acquire_renews_own_lease(self):
        eid = self.create()
        self.assertTrue(self.store.acquire(eid, 'engine-1', 5))
        first = self.evacuation(eid).lease_until
        self.assertTrue(self.store.acquire(eid, 'engine-1', 3600))
        self.assertGreater(self.evacuation(eid).lease_until,
                           first + datetime.timedelta(minutes=30))
        self.expire_lease(eid)
        self.assertTrue(self.store.acquire(eid, 'engine-1', 60))
        self.assertEqual(['plan', 'take-over'],
                         [a for _, a, _ in self.log(eid)])

    def test_acquire_takes_over_expired_lease(self):
        eid = self.create()
        self.assertTrue(self.store.acquire(eid, 'engine-1', 60))
        self.expire_lease(eid)
        self.assertTrue(self.store.acquire(eid, 'engine-2', 60))
        evacuation = self.evacuation(eid)
        self.assertEqual('engine-2', evacuation.owner)
        self.assertGreater(evacuation.lease_until, models._now())
        self.assertEqual(
            [('engine-1', 'take-over', 'lease taken from nobody'),
             ('engine-2', 'take-over', 'lease taken from engine-1')],
            self.log(eid)[1:])
        self.assertFalse(self.store.acquire(eid, 'engine-1', 60))

    def test_take_over_bumps_fencing_token(self):
        eid = self.create()
        first = self.store.acquire(eid, 'engine-1', 60)
        self.assertEqual(first, self.store.acquire(eid, 'engine-1', 60))
        self.expire_lease(eid)
        second = self.store.acquire(eid, 'engine-2', 60)
        self.assertGreater(second, first)
        self.assertEqual(second, self.evacuation(eid).fence)

    def test_lease_runs_on_the_database_clock(self):
        # engine-2's clock runs an hour ahead: by its own clock the lease
        # of engine-1 ran out long ago, by the database's it holds.
        eid = self.create()
        self.assertTrue(self.store.acquire(eid, 'engine-1', 60))
        ahead = models._now() + datetime.timedelta(hours=1)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.engine.store._now', lambda: ahead))
        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.engine.models._now', lambda: ahead))
        self.assertFalse(self.store.acquire(eid, 'engine-2', 60))
        self.assertEqual('engine-1', self.evacuation(eid).owner)

    def test_stale_owner_cannot_write(self):
        eid = self.create()
        stale = store.Fence(eid, 'engine-1',
                            self.store.acquire(eid, 'engine-1', 60))
        self.expire_lease(eid)
        fresh = store.Fence(eid, 'engine-2',
                            self.store.acquire(eid, 'engine-2', 60))
        first = self.store.tasks(eid)[0]
        log = self.log(eid)
        exc = self.assertRaises(
            store.Fenced, self.store.update_task, first.id, 'engine-1',
            states.SUBMITTING, expect=states.PENDING, fence=stale,
            attempts=1)
        self.assertIn('engine-2 took it over', str(exc))
        self.assertEqual((states.PENDING, 0), (self.store.tasks(eid)[0].state,
                                               self.store.tasks(eid)[0]
                                               .attempts))
        self.assertEqual(log, self.log(eid))
        self.store.update_task(first.id, 'engine-2', states.SUBMITTING,
                               expect=states.PENDING, fence=fresh)
        self.assertEqual(states.SUBMITTING, self.store.tasks(eid)[0].state)

    def test_lapsed_lease_writes_until_taken_over(self):
        eid = self.create()
        self.store.set_state(eid, states.RUNNING, 'alice')
        fence = store.Fence(eid, 'engine-1',
                            self.store.acquire(eid, 'engine-1', 60))
        self.expire_lease(eid)
        first = self.store.tasks(eid)[0]
        self.store.update_task(first.id, 'engine-1', states.SUBMITTING,
                               fence=fence)
        self.assertTrue(self.store.acquire(eid, 'engine-2', 60))
        self.assertRaises(store.Fenced, self.store.update_task, first.id,
                          'engine-1', states.MIGRATING, fence=fence)
        self.assertRaises(store.Fenced, self.store.set_state, eid,
                          states.PAUSED, 'engine-1', fence=fence)
        self.assertRaises(store.Fenced, self.store.check_fence, fence)
        self.assertEqual(states.SUBMITTING, self.store.tasks(eid)[0].state)
        self.assertEqual(states.RUNNING, self.evacuation(eid).state)

    def test_same_transition_wins_once(self):
        # Two writers both saw the task pending: only one may submit it.
        eid = self.create()
        first = self.store.tasks(eid)[0]
        self.store.update_task(first.id, 'engine-1', states.SUBMITTING,
                               expect=states.PENDING)
        exc = self.assertRaises(
            store.Conflict, self.store.update_task, first.id, 'engine-2',
            states.SUBMITTING, expect=states.PENDING)
        self.assertIn('submitting, no longer pending', str(exc))
        self.assertEqual(['plan', 'task-submitting'],
                         [a for _, a, _ in self.log(eid)])

    def test_acquire_unknown(self):
        self.assertRaises(store.NotFound, self.store.acquire, 'no-such-id',
                          'engine-1', 60)

    # -- durability ----------------------------------------------------------

    def test_survives_restart(self):
        eid = self.create(plan_summary={'vms': 2})
        self.store.set_state(eid, states.RUNNING, 'alice', why='go')
        first = self.store.tasks(eid)[0]
        self.store.update_task(first.id, 'engine-1',
                               new_state=states.SUBMITTING,
                               migration_id='m-1')
        self.assertTrue(self.store.acquire(eid, 'engine-1', 600))
        log = self.log(eid)
        self.store.engine.dispose()

        restarted = self.make_store()
        restarted.upgrade()
        self.assertIn(eid, [e.id for e in restarted.list_evacuations()])
        evacuation = self.evacuation(eid, restarted)
        self.assertEqual((states.RUNNING, 'engine-1', {'vms': 2}, POLICY),
                         (evacuation.state, evacuation.owner,
                          evacuation.plan_summary, evacuation.policy))
        self.assertIsNotNone(evacuation.started_at)
        self.assertEqual(
            [(states.SUBMITTING, 'm-1'), (states.PENDING, None)],
            [(t.state, t.migration_id) for t in restarted.tasks(eid)])
        self.assertEqual(log, self.log(eid, restarted))
        self.assertFalse(restarted.acquire(eid, 'engine-2', 60))


class TestSQLiteStore(StoreTests, utils.TestCase):
    """The store on an embedded SQLite file, new for each test."""

    def new_database(self):
        path = self.useFixture(fixtures.TempDir()).path
        return 'sqlite:///' + os.path.join(path, 'evacuator.sqlite')

    database_url = new_database

    def test_file_on_disk(self):
        path = self.url[len('sqlite:///'):]
        self.assertTrue(os.path.isfile(path))
        with self.store.engine.connect() as conn:
            self.assertEqual('wal', conn.exec_driver_sql(
                'PRAGMA journal_mode').scalar())
            self.assertEqual(1, conn.exec_driver_sql(
                'PRAGMA foreign_keys').scalar())


class TestMariaDBStore(StoreTests, utils.TestCase):
    """The store on MariaDB, in a database of this class's own."""

    server = None
    unavailable = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = sa.create_engine(
            MYSQL_SERVER_URL, connect_args={'connect_timeout': 5})
        try:
            cls.database = cls.create_database()
        except sa.exc.OperationalError as exc:
            cls.unavailable = ('MariaDB/MySQL is not reachable at %s (set '
                               'NOVA_MIGRATION_EXT_TEST_MYSQL_URL to a '
                               'server URL without database): %s'
                               % (MYSQL_SERVER_URL, exc.orig))
            cls.server.dispose()

    @classmethod
    def tearDownClass(cls):
        if not cls.unavailable:
            cls.drop_database(cls.database)
            cls.server.dispose()
        super().tearDownClass()

    @classmethod
    def create_database(cls):
        name = 'nme_test_%s' % uuid.uuid4().hex[:16]
        with cls.server.begin() as conn:
            conn.exec_driver_sql(
                'CREATE DATABASE %s CHARACTER SET utf8mb4' % name)
        return name

    @classmethod
    def drop_database(cls, name):
        with cls.server.begin() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS %s' % name)

    @classmethod
    def url_of(cls, name):
        return '%s/%s?charset=utf8mb4' % (MYSQL_SERVER_URL.rstrip('/'),
                                          name)

    def setUp(self):
        if self.unavailable:
            services.skip_missing(self, services.MARIADB, self.unavailable)
        super().setUp()

    def database_url(self):
        return self.url_of(self.database)

    def new_database(self):
        name = self.create_database()
        self.addCleanup(self.drop_database, name)
        return self.url_of(name)

    def test_innodb_tables(self):
        with self.store.engine.connect() as conn:
            engines = dict(conn.exec_driver_sql(
                "SELECT table_name, engine FROM information_schema.tables "
                "WHERE table_schema = '%s'" % self.database).fetchall())
        self.assertEqual(dict.fromkeys(TABLES[1:], 'InnoDB'),
                         {k: v for k, v in engines.items()
                          if k != 'alembic_version'})

    def sql_mode(self, a_store):
        with a_store.engine.connect() as conn:
            return conn.exec_driver_sql('SELECT @@SESSION.sql_mode').scalar()

    def test_sessions_take_database_mysql_sql_mode(self):
        # oslo.db's [database] mysql_sql_mode, TRADITIONAL by default.
        self.assertIn('STRICT_ALL_TABLES', self.sql_mode(self.store))
        ansi = store.Store(self.url, mysql_sql_mode='ANSI')
        self.addCleanup(ansi.engine.dispose)
        self.assertIn('ANSI_QUOTES', self.sql_mode(ansi))

    def test_four_byte_characters_survive(self):
        # pymysql's utf8mb4, not the utf8 oslo.db would choose.
        eid = self.create(tasks=[task('srv-a', server_name='web \U0001F680')])
        self.assertEqual('web \U0001F680',
                         self.store.tasks(eid)[0].server_name)

    def hold_row_lock(self, evacuation_id):
        """Lock an evacuation's row, as a stuck writer would, till cleanup."""
        holder = self.store.engine.connect()
        self.addCleanup(holder.close)
        transaction = holder.begin()
        self.addCleanup(transaction.rollback)
        holder.exec_driver_sql(
            "SELECT id FROM evacuations WHERE id = '%s' FOR UPDATE"
            % evacuation_id)

    def test_statement_waiting_on_a_lock_times_out(self):
        # Without a read timeout the write waits for InnoDB's lock wait
        # timeout (50 s), past the lease of the pass that makes it.
        eid = self.create()
        self.hold_row_lock(eid)
        impatient = store.Store(self.url, timeout=2)
        self.addCleanup(impatient.engine.dispose)
        started = time.monotonic()
        # oslo.db names the read time-out a lost connection; set_state
        # may be retried on one, but not past the store's time-out.
        self.assertRaises(db_exc.DBConnectionError, impatient.set_state,
                          eid, states.RUNNING, 'engine-1')
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual(states.PLANNED, self.evacuation(eid).state)

    def test_upgrade_waits_for_another_upgrade_longer_than_timeout(self):
        # The upgrade lock is asked in steps shorter than the read timeout:
        # a 4 s wait on a 2 s timeout still ends with the schema upgraded.
        url = self.new_database()
        holder = self.server.connect()
        self.addCleanup(holder.close)
        # The lock is the server's: a test of the other worker may hold
        # it a moment (its own upgrade), so wait for it, and check.
        self.assertEqual(1, holder.exec_driver_sql(
            "SELECT GET_LOCK('%s', 60)" % store.UPGRADE_LOCK).scalar())
        release = threading.Timer(4, holder.exec_driver_sql,
                                  ("SELECT RELEASE_LOCK('%s')"
                                   % store.UPGRADE_LOCK,))
        release.start()
        self.addCleanup(release.join)
        waiting = store.Store(url, timeout=2)
        self.addCleanup(waiting.engine.dispose)
        started = time.monotonic()
        waiting.upgrade()
        self.assertGreaterEqual(time.monotonic() - started, 3)
        with waiting.engine.connect() as conn:
            self.assertEqual(HEAD, migration.MigrationContext.configure(
                conn).get_current_revision())


class TestSilentDatabase(utils.TestCase):
    """A database that accepts connections and never answers."""

    def setUp(self):
        super().setUp()
        self.listener = socket.socket()
        self.addCleanup(self.listener.close)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]

    def url(self):
        return 'mysql+pymysql://evacuator@127.0.0.1:%d/db' % self.port

    def test_connecting_times_out(self):
        # max_retries=0: oslo.db does not try the first connection.
        silent = store.Store(self.url(), timeout=1, max_retries=0)
        self.addCleanup(silent.engine.dispose)
        started = time.monotonic()
        # A lost connection, retried only within the store's time-out.
        self.assertRaises(db_exc.DBConnectionError, silent.list_evacuations)
        # pymysql's own default is 10 s.
        self.assertLess(time.monotonic() - started, 5)

    def test_first_connection_tried_max_retries_times_within_timeout(self):
        logger = self.useFixture(fixtures.FakeLogger(
            name='oslo_db.sqlalchemy.engines'))
        started = time.monotonic()
        self.assertRaises(db_exc.DBConnectionError, store.Store, self.url(),
                          timeout=1, max_retries=2, retry_interval=0)
        self.assertLess(time.monotonic() - started, 6)
        self.assertEqual(2, logger.output.count('SQL connection failed'))

    def test_driver_arguments_bound_every_wait(self):
        self.assertEqual(
            'connect_timeout=7&read_timeout=7&write_timeout=7'
            '&charset=utf8mb4',
            store._connect_parameters('mysql+pymysql://u@db/x', 7))
        self.assertEqual(
            'connect_timeout=7&options=-c+statement_timeout%3D7000',
            store._connect_parameters('postgresql://u@db/x', 7))
        self.assertEqual('timeout=7',
                         store._connect_parameters('sqlite:///x.db', 7))
        # What the URL or [database] connection_parameters say wins.
        self.assertEqual(
            'read_timeout=60&connect_timeout=7&write_timeout=7',
            store._connect_parameters(
                'mysql+pymysql://u@db/x?charset=utf8', 7, 'read_timeout=60'))

    def test_engine_connects_with_them(self):
        silent = store.Store(self.url(), timeout=7, max_retries=0)
        self.addCleanup(silent.engine.dispose)
        _args, kwargs = silent.engine.dialect.create_connect_args(
            silent.engine.url)
        self.assertEqual((7, 7, 7, 'utf8mb4'), (
            kwargs['connect_timeout'], kwargs['read_timeout'],
            kwargs['write_timeout'], kwargs['charset']))
        self.assertEqual(7, silent.engine.pool.timeout())
        # Messages name the database as configured.
        self.assertEqual(self.url(), silent.url.render_as_string())
