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
"""The operator's controls on a running evacuation, in the embedded cloud:
pause, resume, cancel, retry, skip, and an executor restarted mid-task.
"""

import datetime
import time

import testtools.content

from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import engine as engine_mod
from nova_migration_ext.engine import executor as executor_mod
from nova_migration_ext.engine import store as store_mod
from tests.functional import cloud
from tests.functional import test_evacuation

OLD = test_evacuation.OLD
NEW = test_evacuation.NEW
POLL = 0.2
TRANSITIONAL = ('MIGRATING', 'RESIZE', 'VERIFY_RESIZE')
MIGRATION_FINAL = ('completed', 'error', 'failed', 'cancelled', 'confirmed',
                   'reverted', 'done')


class ControlTestBase(test_evacuation.EvacuationTestBase):
    """Helpers to drive an evacuation tick by tick."""

    def setUp(self):
        super().setUp()
        self.url = self.store.engine.url.render_as_string(
            hide_password=False)
        # Whatever a test leaves running in nova ends before nova does.
        self.addCleanup(self.wait_nova_idle)

    def start(self, sources, targets=NEW, **policy):
        policy.setdefault('max_total', 1)
        evacuation_id, _plan = self.engine.plan(
            sources, targets, drain_policy.Policy(**policy), actor='planner')
        self.engine.start(evacuation_id, actor='starter')
        self.addCleanup(self.add_details, evacuation_id)
        return evacuation_id

    def add_details(self, evacuation_id):
        self.addDetail('tasks-%s' % evacuation_id[:8],
                       testtools.content.text_content('\n'.join(
                           '%(name)s %(state)s attempts=%(attempts)s '
                           'error=%(last_error)s remedy=%(remedy)s'
                           % t.to_dict()
                           for t in self.engine.show(evacuation_id).tasks)))
        self.addDetail('audit-%s' % evacuation_id[:8],
                       testtools.content.text_content('\n'.join(
                           '%s %s %s' % (e.actor, e.action, e.detail)
                           for e in self.store.audit_log(evacuation_id))))

    def tick_until(self, executor, predicate, timeout=90, what=''):
        """Tick until *predicate(show)* holds; returns that show()."""
        deadline = time.monotonic() + timeout
        while True:
            executor.tick()
            info = self.engine.show(executor.evacuation_id)
            if predicate(info):
                return info
            if time.monotonic() > deadline:
                self.fail('timed out waiting for %s: %s'
                          % (what, info.counts))
            time.sleep(POLL)

    def tick_until_idle(self, executor, timeout=90):
        """Tick until no task is active and nova has settled every VM."""
        def idle(info):
            return not any(t.state in states.TASK_ACTIVE
                           for t in info.tasks) and self.nova_quiet()
        self.tick_until(executor, idle, timeout, 'no active task')
        self.wait_nova_idle()
        return self.engine.show(executor.evacuation_id)

    def assert_drained_from(self, servers, sources):
        """Every server moved to a new host; the sources are disabled."""
        for server in servers:
            server = self.api.get_server(server['id'])
            self.assertIn(server['OS-EXT-SRV-ATTR:host'], NEW)
            self.assertEqual('ACTIVE', server['status'])
            self.assertIsNone(server['OS-EXT-STS:task_state'])
        for host in OLD:
            service = self.admin_api.get_services(
                host=host, binary='nova-compute')[0]
            if host in sources:
                self.assertEqual('disabled', service['status'])
                self.assertIn('Emptied by evacuation',
                              service['disabled_reason'])
            else:
                self.assertEqual('enabled', service['status'])

    def nova_busy(self):
        """Tasks nova's services still run (RPC calls, live migrations).

        'live_migration_at_dest' is only a record, which nova never ends
        when a rollback needs no clean-up on the destination (shared
        instances path): no thread runs for it.
        """
        services = list(self.computes.values()) + [self.conductor,
                                                   self.scheduler]
        return [task for service in services
                for task in service.manager._in_progress_tasks.values()
                if task['name'] != 'live_migration_at_dest']

    def wait_nova_idle(self, timeout=60):
        """Wait until no nova service runs anything for a server.

        A live migration's thread may outlive the rollback that made the
        server look settled (an aborted migrateToURI3 returns later).
        """
        deadline = time.monotonic() + timeout
        while self.nova_busy() or not self.nova_quiet():
            if time.monotonic() > deadline:
                self.fail('nova still busy: %s' % self.nova_busy())
            time.sleep(POLL)

    def nova_quiet(self):
        for migration in self.api.get_migrations():
            if migration['status'] not in MIGRATION_FINAL:
                return False
        for server in self.api.get_servers():
            if server['status'] in TRANSITIONAL or \
                    server['OS-EXT-STS:task_state']:
                return False
        return True

    def task(self, evacuation_id, name):
        [task] = [t for t in self.store.tasks(evacuation_id)
                  if t.server_name == name]
        return task

    def by_state(self, info, state):
        return [t for t in info.tasks if t.state == state]

    def all_migrations(self):
        return self.migrations_per_server(failed_too=True)

    def assert_untouched(self, server_id, host):
        """ACTIVE on *host*, nothing under way, never moved."""
        server = self.api.get_server(server_id)
        self.assertEqual(host, server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('ACTIVE', server['status'])
        self.assertIsNone(server['OS-EXT-STS:task_state'])
        self.assertEqual(0, self.moves[server_id])
        self.assertEqual(
            'running', self.engine.gateway.guest_state(server_id))

    def assert_moved_once(self, server_id, host):
        server = self.api.get_server(server_id)
        self.assertEqual(host, server['OS-EXT-SRV-ATTR:host'])
        self.assertIn(server['OS-EXT-SRV-ATTR:host'], NEW)
        self.assertEqual('ACTIVE', server['status'])
        self.assertIsNone(server['OS-EXT-STS:task_state'])
        self.assertEqual(1, self.moves[server_id])

    def state_log(self, evacuation_id):
        """(actor, action, detail) of the evacuation's state changes."""
        return [(e.actor, e.action, e.detail)
                for e in self.store.audit_log(evacuation_id)
                if e.action in states.EVACUATION_TRANSITIONS]

    def fresh_engine(self):
        """What a restarted evacuator builds: new store, same database."""
        return engine_mod.Engine(store_mod.Store(self.url), self.gateway(),
                                 owner='test-evacuator',
                                 **self.engine.executor_args)


class PauseTest(ControlTestBase):

    def test_pause_lets_running_finish_and_starts_nothing(self):
        servers = self.boot_many(3, 'old1') + self.boot_many(3, 'old2')
        evacuation_id = self.start(OLD)
        executor = self.engine.executor(evacuation_id)

        info = self.tick_until(
            executor, lambda i: i.counts.get('done', 0) >= 1,
            what='a first VM moved')
        # max_total=1: the tick that saw the first VM done started the
        # second one, which is under way when the operator pauses.
        self.assertEqual(1, info.counts['done'])
        self.assertEqual(1, info.counts['migrating'])
        self.assertEqual(4, info.counts['pending'])
        self.engine.pause(evacuation_id, actor='operator-a')
        self.assertEqual(states.PAUSED,
                         self.engine.show(evacuation_id).state)

        info = self.tick_until_idle(executor)
        self.assertEqual({'done': 2, 'pending': 4}, info.counts)
        self.assertEqual(states.PAUSED, info.state)
        migrations = self.all_migrations()
        for _i in range(5):
            self.assertEqual(states.PAUSED, executor.tick())
            time.sleep(POLL)
        info = self.engine.show(evacuation_id)
        self.assertEqual({'done': 2, 'pending': 4}, info.counts)
        self.assertEqual(migrations, self.all_migrations())
        self.assertEqual(2, sum(migrations.values()))
        for task in self.by_state(info, states.PENDING):
            self.assert_untouched(task.server_id, task.source)

        self.engine.resume(evacuation_id, actor='operator-b')
        state = self.engine.run(evacuation_id, poll_interval=POLL,
                                timeout=120)

        self.assertEqual(states.COMPLETED, state)
        self.assert_drained(servers)
        info = self.engine.show(evacuation_id)
        self.assertEqual({'done': 6}, info.counts)
        migrations = self.all_migrations()
        for server in servers:
            self.assertEqual(1, self.moves[server['id']], server['name'])
            self.assertEqual(1, migrations[server['id']], server['name'])
        self.assertEqual(
            [('starter', 'running', 'planned -> running'),
             ('operator-a', 'paused', 'running -> paused: no new '
              'migrations; running ones finish'),
             ('operator-b', 'running', 'paused -> running'),
             ('test-evacuator', 'completed',
              'running -> completed: every VM moved')],
            self.state_log(evacuation_id))
        # Between pause and resume the only task change is the running
        # VM finishing: nothing was submitted.
        log = [e.action for e in self.store.audit_log(evacuation_id)]
        paused = log[log.index('paused') + 1:log.index('running', log.index(
            'paused'))]
        self.assertEqual(['task-done'], paused)


class CancelTest(ControlTestBase):

    def setUp(self):
        super().setUp()
        self.faults = cloud.Faults(self)

    def test_cancel_mid_run(self):
        self.boot_many(5, 'old1')
        evacuation_id = self.start(['old1'])
        executor = self.engine.executor(evacuation_id)
        info = self.tick_until(
            executor, lambda i: i.counts.get('done', 0) >= 1,
            what='a first VM moved')
        [second] = self.by_state(info, states.MIGRATING)
        # Let nova finish the second move before the operator cancels:
        # the engine has not seen it yet, nothing is left to abort.
        self._wait_for_server_parameter(
            {'id': second.server_id},
            {'OS-EXT-SRV-ATTR:host': second.target, 'status': 'ACTIVE',
             'OS-EXT-STS:task_state': None}, max_retries=100)
        self.wait_nova_idle()

        self.engine.cancel(evacuation_id, actor='operator')

        info = self.engine.show(evacuation_id)
        self.assertEqual(states.CANCELLED, info.state)
        self.assertEqual({'done': 1, 'migrating': 1, 'cancelled': 3},
                         info.counts)
        info = self.tick_until_idle(executor)
        self.assertEqual(states.CANCELLED, info.state)
        self.assertEqual({'done': 2, 'cancelled': 3}, info.counts)
        self.assertEqual(states.DONE, self.task(
            evacuation_id, second.name).state)
        for task in self.by_state(info, states.DONE):
            self.assert_moved_once(task.server_id, task.target)
        for task in self.by_state(info, states.TASK_CANCELLED):
            self.assert_untouched(task.server_id, 'old1')
        migrations = self.all_migrations()
        self.assertEqual(2, sum(migrations.values()))
        for server in self.api.get_servers():
            self.assertNotIn(server['status'], TRANSITIONAL)
            self.assertIsNone(server['OS-EXT-STS:task_state'])
        # Further ticks and a run start nothing.
        for _i in range(3):
            self.assertEqual(states.CANCELLED, executor.tick())
            time.sleep(POLL)
        self.assertEqual(states.CANCELLED, self.engine.run(
            evacuation_id, poll_interval=POLL, timeout=10))
        self.assertEqual(migrations, self.all_migrations())
        self.assertEqual(info.counts,
                         self.engine.show(evacuation_id).counts)
        log = [(e.actor, e.action, e.detail)
               for e in self.store.audit_log(evacuation_id)]
        self.assertIn(('operator', 'cancelled', 'running -> cancelled'),
                      log)
        self.assertNotIn('abort', [action for _a, action, _d in log])

    def test_cancel_aborts_hanging_live_migration(self):
        self.boot_many(2, 'old1')
        self.faults.migration_hangs()
        evacuation_id = self.start(['old1'])
        executor = self.engine.executor(evacuation_id)
        first, second = self.store.tasks(evacuation_id)

        def copying(info):
            if not self.faults.fired['migration hangs']:
                return False
            progress = self.engine.gateway.live_progress(first.server_id)
            # (id, [status,] processed bytes, total bytes)
            return progress[0] is not None and progress[-2] > 0
        info = self.tick_until(executor, copying, what='a hung migration')
        self.assertEqual({'migrating': 1, 'pending': 1}, info.counts)

        self.engine.cancel(evacuation_id, actor='operator')

        actions = [(e.actor, e.action, e.detail)
                   for e in self.store.audit_log(evacuation_id)]
        self.assertIn(('operator', 'abort', 'live migration of %s aborted'
                       % first.server_id), actions)
        self.assertEqual(states.TASK_CANCELLED,
                         self.task(evacuation_id, second.server_name).state)
        info = self.tick_until_idle(executor)
        self.assertEqual(states.CANCELLED, info.state)
        self.assert_untouched(second.server_id, 'old1')
        # Not moved: still on its source, its guest running there.
        server = self.api.get_server(first.server_id)
        self.assertEqual('old1', server['OS-EXT-SRV-ATTR:host'])
        self.assertIsNone(server['OS-EXT-STS:task_state'])
        self.assertEqual(0, self.moves[first.server_id])
        self.assertEqual('running', self.engine.gateway.guest_state(
            first.server_id))
        [migration] = [m for m in self.api.get_migrations()
                       if m['instance_uuid'] == first.server_id]
        self.assertIn(migration['status'], ('cancelled', 'error'))
        self.assertEqual({first.server_id: 1}, self.all_migrations())
        self.addDetail('aborted-server', testtools.content.text_content(
            '%(status)s on %(OS-EXT-SRV-ATTR:host)s' % server))

        def consistent():
            # ACTIVE on its source and both tasks cancelled: nothing
            # waits for a retry that a cancelled evacuation never makes.
            self.assertEqual(
                {states.TASK_CANCELLED: 2},
                self.engine.show(evacuation_id).counts)
            self.assert_untouched(first.server_id, 'old1')
        # nova sets the VM to ERROR about 2 s after it rolled the aborted
        # migration back (ACTIVE meanwhile): the executor closes the task
        # only after the VM rested settle_seconds, resetting it first.
        consistent()
        self.assertIn('reset-state', [
            e.action for e in self.store.audit_log(evacuation_id)])


class WindowTest(ControlTestBase):

    def test_nothing_starts_outside_the_window(self):
        servers = self.boot_many(2, 'old1')
        now = executor_mod.utcnow()
        opens = now + datetime.timedelta(hours=1)
        closes = now + datetime.timedelta(hours=2)
        evacuation_id = self.start(
            ['old1'], max_total=2,
            window=(opens.strftime('%H:%M'), closes.strftime('%H:%M')))
        offset = [datetime.timedelta(0)]
        executor = self.engine.executor(evacuation_id)
        executor.clock = lambda: executor_mod.utcnow() + offset[0]

        for _tick in range(3):
            executor.tick()
            time.sleep(POLL)
        info = self.engine.show(evacuation_id)
        self.assertEqual(states.RUNNING, info.state)
        self.assertEqual({states.PENDING: 2}, info.counts)
        self.assertEqual('%s-%s UTC: outside it, no new migration starts'
                         % (opens.strftime('%H:%M'),
                            closes.strftime('%H:%M')), info.window)
        self.assertEqual({}, self.all_migrations())
        for server in servers:
            self.assert_untouched(server['id'], 'old1')

        # The window opens (the executor's clock moves into it).
        offset[0] = datetime.timedelta(hours=1, minutes=1)
        info = self.tick_until(
            executor, lambda i: i.state == states.COMPLETED,
            what='the drain inside the window')
        self.assertEqual({states.DONE: 2}, info.counts)
        self.assert_drained_from(servers, ['old1'])
        self.assertEqual({s['id']: 1 for s in servers}, self.all_migrations())


class RetrySkipTest(ControlTestBase):

    def setUp(self):
        super().setUp()
        self.faults = cloud.Faults(self)

    def fail_first(self, evacuation_id):
        """The first VM's precheck times out; one attempt only: operator.

        Arm each host once only: nova's RPC tracking proxy keeps the first
        manager method it looked up, so a second fault on it never fires.
        """
        first = self.store.tasks(evacuation_id)[0]
        self.faults.rpc_timeout(first.target_host)
        return first

    def test_retry_and_skip(self):
        on_old1 = self.boot_many(2, 'old1')
        on_old2 = self.boot_many(2, 'old2')

        # Retry: the VM left for the operator moves once asked again.
        evacuation_id = self.start(['old1'], ['new1', 'new2'],
                                   max_attempts=1)
        first = self.fail_first(evacuation_id)
        executor = self.engine.executor(evacuation_id)
        info = self.tick_until(
            executor, lambda i: i.counts.get('needs_operator'),
            what='needs_operator')
        self.assertEqual(states.RUNNING, info.state)
        self.assertEqual(1, self.faults.fired['RPC timeout'])
        self.assert_untouched(first.server_id, 'old1')
        task = self.task(evacuation_id, first.server_name)
        self.assertEqual(1, task.attempts)
        self.assertIn('No valid host was found', task.last_error)

        self.engine.retry(evacuation_id, first.server_name,
                          actor='operator')

        task = self.task(evacuation_id, first.server_name)
        self.assertEqual((states.PENDING, 0), (task.state, task.attempts))
        state = self.engine.run(evacuation_id, poll_interval=POLL,
                                timeout=120)
        self.assertEqual(states.COMPLETED, state)
        self.assert_drained_from(on_old1, ['old1'])
        info = self.engine.show(evacuation_id)
        self.assertEqual({'done': 2}, info.counts)
        for task in info.tasks:
            self.assertEqual(1, task.attempts)
            self.assert_moved_once(task.server_id, task.target)
        # The failed attempt left a migration record but no move.
        self.assertEqual(2, self.all_migrations()[first.server_id])
        self.assertIn(
            ('operator', 'task-pending', '%s %s: needs_operator -> pending: '
             'retry asked by operator' % (first.server_name,
                                          first.server_id)),
            [(e.actor, e.action, e.detail)
             for e in self.store.audit_log(evacuation_id)])

        # Skip: another evacuation completes without the skipped VM.
        evacuation_id = self.start(['old2'], ['new3'], max_attempts=1)
        first = self.fail_first(evacuation_id)
        executor = self.engine.executor(evacuation_id)
        info = self.tick_until(executor,
                               lambda i: i.counts.get('needs_operator'),
                               what='needs_operator')
        self.assertEqual(states.RUNNING, info.state)
        self.assertEqual(2, self.faults.fired['RPC timeout'])

        self.engine.skip(evacuation_id, first.server_name, actor='operator')

        self.assertEqual(states.SKIPPED,
                         self.task(evacuation_id, first.server_name).state)
        state = self.engine.run(evacuation_id, poll_interval=POLL,
                                timeout=120)
        self.assertEqual(states.COMPLETED, state)
        info = self.engine.show(evacuation_id)
        self.assertEqual({'done': 1, 'skipped': 1}, info.counts)
        self.assert_untouched(first.server_id, 'old2')
        [done] = self.by_state(info, states.DONE)
        self.assert_moved_once(done.server_id, done.target)
        self.assertEqual({first.server_id: 1, done.server_id: 1},
                         {s['id']: self.all_migrations()[s['id']]
                          for s in on_old2})
        self.assertIn(
            ('operator', 'task-skipped', '%s %s: needs_operator -> skipped: '
             'skipped by operator' % (first.server_name, first.server_id)),
            [(e.actor, e.action, e.detail)
             for e in self.store.audit_log(evacuation_id)])

    def test_retry_after_evacuation_completed(self):
        [server] = self.boot_many(1, 'old1')
        for host in NEW:
            self.faults.rpc_timeout(host)
        evacuation_id = self.start(['old1'], max_attempts=1)
        state = self.engine.run(evacuation_id, poll_interval=POLL,
                                timeout=120)
        self.assertEqual(states.COMPLETED, state)
        info = self.engine.show(evacuation_id)
        self.assertEqual({'needs_operator': 1}, info.counts)
        self.assertIn(('test-evacuator', 'completed',
                       'running -> completed: 1 VM(s) left for the '
                       'operator'), self.state_log(evacuation_id))
        self.assert_untouched(server['id'], 'old1')

        self.engine.retry(evacuation_id, server['name'], actor='operator')
        self.engine.run(evacuation_id, poll_interval=POLL, timeout=60)

        def moved():
            # What the operator is told to do ("openstack drain server
            # retry") once the evacuation ended with VMs left for them.
            task = self.task(evacuation_id, server['name'])
            self.assertEqual(states.DONE, task.state)
            self.assert_moved_once(server['id'], task.target_host)
            self.assertEqual(states.COMPLETED,
                             self.engine.show(evacuation_id).state)
        moved()


class RestartTest(ControlTestBase):

    def test_submitting_before_nova_was_asked(self):
        servers = self.boot_many(2, 'old1')
        evacuation_id = self.start(['old1'])
        first = self.store.tasks(evacuation_id)[0]
        # The old executor wrote 'submitting' and died before asking nova.
        self.store.update_task(first.id, 'test', states.SUBMITTING,
                               attempts=1,
                               submitted_at=executor_mod.utcnow())

        actions = self._restart_and_finish(evacuation_id, servers, first)
        self.assertEqual(
            ['task-submitting', 'task-pending', 'task-submitting',
             'task-migrating', 'task-done'], [a for a, _d in actions])
        self.assertIn('nova never received it', actions[1][1])

    def _submitted_then_restart(self, wait_for_move):
        servers = self.boot_many(2, 'old1')
        evacuation_id = self.start(['old1'])
        first = self.store.tasks(evacuation_id)[0]
        submitted_at = executor_mod.utcnow()
        # The old executor asked nova and died before writing 'migrating'.
        self.engine.gateway.live_migrate(first.server_id, first.target_host)
        self.store.update_task(first.id, 'test', states.SUBMITTING,
                               attempts=1, submitted_at=submitted_at)
        if wait_for_move:
            self._wait_for_server_parameter(
                {'id': first.server_id},
                {'OS-EXT-SRV-ATTR:host': first.target_host,
                 'status': 'ACTIVE', 'OS-EXT-STS:task_state': None},
                max_retries=100)

        return self._restart_and_finish(evacuation_id, servers, first)

    def _restart_and_finish(self, evacuation_id, servers, first):
        """A restarted evacuator finishes; each VM moved once.

        Returns (action, detail) of *first*'s audit entries.
        """
        engine = self.fresh_engine()
        state = engine.run(evacuation_id, poll_interval=POLL, timeout=120)

        self.assertEqual(states.COMPLETED, state)
        self.assert_drained_from(servers, ['old1'])
        migrations = self.all_migrations()
        for task in engine.store.tasks(evacuation_id):
            self.assertEqual((states.DONE, 1), (task.state, task.attempts))
            self.assertEqual(1, migrations[task.server_id])
            self.assert_moved_once(task.server_id, task.target_host)
        return [(e.action, e.detail)
                for e in engine.store.audit_log(evacuation_id)
                if e.task_id == first.id]

    def test_submitting_after_nova_accepted(self):
        actions = self._submitted_then_restart(wait_for_move=False)
        self.assertEqual(['task-submitting', 'task-migrating', 'task-done'],
                         [a for a, _d in actions])
        self.assertIn('nova had accepted it before the restart',
                      actions[1][1])

    def test_submitting_after_nova_moved_it(self):
        actions = self._submitted_then_restart(wait_for_move=True)
        self.assertEqual(['task-submitting', 'task-done'],
                         [a for a, _d in actions])
        self.assertIn('found on', actions[1][1])
