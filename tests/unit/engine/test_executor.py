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
"""Tests of the executor when nova cannot say, or the VM is gone.

A nova API that errors says nothing about the VM: the executor must not
read it as "nothing is running" and repair a VM that may still be moving.
"""

import datetime
import types

from novaclient import exceptions as nova_exc
from oslotest import base as oslotest_base

from nova_migration_ext.compute import throttle
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import executor as executor_mod
from tests.unit.engine import fakes
from tests.unit.engine import test_store

SERVER = 'srv-a'
STUCK_AFTER = 60


def outage():
    return nova_exc.ClientException(503, 'Service Unavailable')


def not_found():
    return nova_exc.NotFound(404, 'Instance %s could not be found.' % SERVER)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = datetime.datetime(2025, 3, 1, 12, 0, 0)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += datetime.timedelta(seconds=seconds)


class FakeGateway:
    """The gateway calls the executor makes; *fail* makes one raise.

    ``actions`` records what would change a VM in nova.
    """

    def __init__(self):
        self.server = None
        self.records = []
        self.progress = (None, None, 0, 0)
        self.guest = 'running'
        self.fail = {}
        self.actions = []

    def set_server(self, status, host, task_state=None, power_state=1):
        self.server = types.SimpleNamespace(**{
            'id': SERVER, 'status': status, 'OS-EXT-SRV-ATTR:host': host,
            'OS-EXT-STS:task_state': task_state,
            'OS-EXT-STS:power_state': power_state})

    def _answer(self, call, value=None):
        if call in self.fail:
            raise self.fail[call]
        return value

    def get_server(self, server_id):
        return self._answer('get_server', self.server)

    def migrations(self, server_id):
        return self._answer('migrations', list(self.records))

    def live_progress(self, server_id):
        return self._answer('live_progress', self.progress)

    def guest_state(self, server_id):
        return self.guest

    def last_error(self, server_id, since=None):
        return ''

    def _act(self, *action):
        self._answer(action[0])
        self.actions.append(action)

    def reset_state(self, server_id, state='active'):
        self._act('reset_state', server_id, state)
        # As nova does: the state is set and the task cleared.
        self.server.status = state.upper()
        setattr(self.server, 'OS-EXT-STS:task_state', None)

    def release_migration_allocation(self, server_id, migration_uuid):
        self._act('release_migration_allocation', server_id, migration_uuid)
        return ['rp-src']

    def abort_live_migration(self, server_id, migration_id):
        self._act('abort_live_migration', server_id, migration_id)

    copy_is_verified = True

    def copy_verified(self, server_id):
        return self._answer('copy_verified', self.copy_is_verified)

    def confirm_resize(self, server_id):
        self._act('confirm_resize', server_id)

    def revert_resize(self, server_id):
        self._act('revert_resize', server_id)

    def live_migrate(self, server_id, host, block_migration='auto'):
        self._act('live_migrate', server_id, host)

    def cold_migrate(self, server_id, host):
        self._act('cold_migrate', server_id, host)

    def set_metadata(self, server_id, metadata):
        self.metadata = dict(getattr(self, 'metadata', {}), **metadata)

    def delete_metadata(self, server_id, keys):
        pass


class ExecutorTestBase(oslotest_base.BaseTestCase):

    POLICY = {}

    def setUp(self):
        super().setUp()
        self.store = fakes.sqlite_store(self)
        self.clock = Clock()
        self.gateway = FakeGateway()
        self.evacuation_id = self.store.create_evacuation(
            source_hosts=['src'], actor='alice',
            policy=dict(test_store.POLICY, allow_downtime=True,
                        **self.POLICY),
            tasks=[test_store.task(SERVER, source_host='src',
                                   target_host='dst', method='block')])
        self.store.set_state(self.evacuation_id, states.RUNNING, 'alice')
        self.executor = executor_mod.Executor(
            self.store, self.gateway, self.evacuation_id, owner='ev',
            stuck_after=STUCK_AFTER, retry_base=5.0, settle_seconds=0.0,
            clock=self.clock)

    @property
    def task(self):
        [task] = self.store.tasks(self.evacuation_id)
        return task

    def move_task(self, *path, **fields):
        for state in path:
            self.store.update_task(self.task.id, 'test', state, **fields)

    def submitted(self, state=states.MIGRATING):
        """The task was handed to nova one second ago."""
        self.move_task(states.SUBMITTING, attempts=1,
                       submitted_at=self.clock())
        if state != states.SUBMITTING:
            self.move_task(state)
        self.clock.advance(1)

    def tick_for(self, seconds, step=30):
        """Tick every *step* seconds of the clock for *seconds*."""
        for _ in range(int(seconds // step) + 1):
            self.executor.tick()
            self.clock.advance(step)

    def record(self, status, seconds_after_submit=0):
        submitted = self.task.submitted_at
        self.gateway.records.append(types.SimpleNamespace(
            id=7, uuid='mig-7', status=status, created_at=(
                submitted + datetime.timedelta(
                    seconds=seconds_after_submit)).isoformat()))

    def audit_details(self):
        return [e.detail for e in self.store.audit_log(self.evacuation_id)]


class TestNovaCannotTell(ExecutorTestBase):
    """API errors mean "cannot tell", never "nothing is running"."""

    def test_outage_longer_than_stuck_after_resets_nothing(self):
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.gateway.fail.update(live_progress=outage(),
                                 migrations=outage())

        self.tick_for(10 * STUCK_AFTER)

        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.MIGRATING, self.task.state)

    def test_unreadable_migration_list_resets_nothing(self):
        # No live migration listed, but the migration list itself is
        # unreadable: nova may still be starting the move.
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.gateway.fail['migrations'] = outage()

        self.tick_for(10 * STUCK_AFTER)

        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.MIGRATING, self.task.state)

    def test_outage_hands_the_task_to_the_operator(self):
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.gateway.fail.update(live_progress=outage(),
                                 migrations=outage())

        self.tick_for(self.executor.unanswered_timeout + 60)

        task = self.task
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertEqual([], self.gateway.actions)
        self.assertIn('cannot tell', task.remedy)
        self.assertIn('Service Unavailable', task.last_error)
        self.assertIn('nothing was reset', task.remedy)
        self.assertIn('openstack drain server retry', task.remedy)

    def test_nova_answering_again_restarts_the_wait(self):
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.gateway.fail['live_progress'] = outage()
        self.tick_for(self.executor.unanswered_timeout - 60)
        del self.gateway.fail['live_progress']
        self.gateway.progress = ('7', 'running', 10, 100)
        self.executor.tick()
        self.gateway.fail['live_progress'] = outage()

        self.tick_for(self.executor.unanswered_timeout - 60)

        self.assertEqual(states.MIGRATING, self.task.state)

    def test_nothing_in_flight_is_reset(self):
        # nova answers, and says nothing runs: the known remedy applies.
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')

        self.tick_for(3 * STUCK_AFTER)

        # Reset once, then retried (nova's reset clears the task).
        self.assertEqual(('reset_state', SERVER, 'active'),
                         self.gateway.actions[0])
        self.assertEqual(['live_migrate'],
                         sorted({a[0] for a in self.gateway.actions[1:]}))
        self.assertIn('MIGRATING for 60s with no migration running',
                      self.task.remedy)

    def test_submitting_is_not_sent_again_blind(self):
        # After a restart: did nova get the request? The migration list
        # cannot say, so the VM must not be submitted a second time.
        self.submitted(states.SUBMITTING)
        self.gateway.set_server('ACTIVE', 'src')
        self.gateway.fail['migrations'] = outage()

        self.tick_for(10 * STUCK_AFTER)

        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.SUBMITTING, self.task.state)

    def test_error_is_not_repaired_blind(self):
        self.submitted()
        self.gateway.set_server('ERROR', 'dst')
        self.gateway.fail['migrations'] = outage()

        self.tick_for(10 * STUCK_AFTER)

        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.MIGRATING, self.task.state)

    def test_vanished_migration_is_not_retried_blind(self):
        self.submitted()
        self.gateway.set_server('ACTIVE', 'src')
        self.gateway.fail['migrations'] = outage()

        self.tick_for(10 * STUCK_AFTER)

        self.assertEqual(states.MIGRATING, self.task.state)


class TestServerDeleted(ExecutorTestBase):
    """A VM deleted mid-drain ends its task; other errors wait."""

    def assertGone(self):
        task = self.task
        self.assertIn(task.state, states.TASK_FINAL)
        self.assertEqual(states.GONE, task.state)
        self.assertIn('deleted by its owner', task.remedy)
        self.assertTrue(any('deleted by its owner' in detail
                            for detail in self.audit_details()))
        self.assertEqual([], self.gateway.actions)

    def test_deleted_while_migrating(self):
        self.submitted()
        self.gateway.fail['get_server'] = not_found()

        self.executor.tick()

        self.assertGone()
        with self.store.session() as session:
            evacuation = self.store.get(session, self.evacuation_id)
            self.assertEqual(states.COMPLETED, evacuation.state)

    def test_deleted_while_waiting_to_retry(self):
        self.submitted()
        self.move_task(states.RETRY_WAIT, not_before=self.clock())
        self.gateway.fail['get_server'] = not_found()

        self.executor.tick()

        self.assertGone()

    def test_deleted_before_it_was_submitted(self):
        self.gateway.fail.update(get_server=not_found(),
                                 live_migrate=not_found())

        self.executor.tick()

        self.assertGone()

    def test_other_errors_keep_waiting(self):
        self.submitted()
        self.gateway.fail['get_server'] = outage()

        self.tick_for(10 * STUCK_AFTER)

        self.assertEqual(states.MIGRATING, self.task.state)
        self.assertEqual([], self.gateway.actions)


class TestDroppedMigration(ExecutorTestBase):
    """A source nova-compute killed after accepting a live migration.

    Seen on real hosts (tests/lab/test_faults.py): the migration record
    stays "queued" for good, and nova-compute, started again, clears the
    VM's task. The attempt failed; it must not be watched forever.
    """

    def test_queued_behind_a_vm_with_no_task_is_a_failed_attempt(self):
        self.submitted()
        self.record('queued')
        self.gateway.set_server('ACTIVE', 'src')

        self.executor.tick()

        task = self.task
        self.assertEqual(states.RETRY_WAIT, task.state)
        self.assertIn('nova dropped migration 7: still queued',
                      task.last_error)
        self.assertEqual([], self.gateway.actions)

    def test_queued_with_the_task_set_is_waited_for(self):
        self.submitted()
        self.record('queued')
        self.gateway.set_server('MIGRATING', 'src', 'migrating')

        self.tick_for(10 * STUCK_AFTER)

        self.assertEqual(states.MIGRATING, self.task.state)
        self.assertEqual([], self.gateway.actions)

    def test_running_behind_a_vm_with_no_task_goes_to_the_operator(self):
        self.submitted()
        self.record('running')
        self.gateway.set_server('ACTIVE', 'src')

        self.tick_for(self.executor.unanswered_timeout + 60)

        task = self.task
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertIn('migration 7', task.last_error)
        self.assertEqual([], self.gateway.actions)


class TestColdMigrationHang(ExecutorTestBase):
    """A cold migration whose phase stops changing (issue 8).

    Nova has no abort for a cold migration: the engine never touches
    the VM, it hands the task to the operator with the reason.
    """

    def setUp(self):
        super().setUp()
        self.planned(seconds=10.0)

    def planned(self, seconds):
        self.store.update_task(self.task.id, 'test', method='cold',
                               expected_seconds=seconds)

    def test_phase_held_too_long_goes_to_the_operator(self):
        self.submitted()
        self.record('migrating')
        self.gateway.set_server('RESIZE', 'src', 'resize_migrating')

        self.tick_for(STUCK_AFTER + 60)

        task = self.task
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertIn('cold migration to dst has been in phase '
                      'resize_migrating (migration migrating)', task.remedy)
        self.assertEqual([], self.gateway.actions)

    def test_a_long_copy_is_given_three_times_its_planned_time(self):
        self.planned(seconds=10 * STUCK_AFTER)
        self.submitted()
        self.record('migrating')
        self.gateway.set_server('RESIZE', 'src', 'resize_migrating')

        self.tick_for(2 * STUCK_AFTER)
        self.assertEqual(states.MIGRATING, self.task.state)

        self.tick_for(30 * STUCK_AFTER, step=STUCK_AFTER / 2)
        self.assertEqual(states.NEEDS_OPERATOR, self.task.state)
        self.assertEqual([], self.gateway.actions)

    def test_a_phase_that_changes_is_not_a_hang(self):
        self.submitted()
        self.record('migrating')
        self.gateway.set_server('RESIZE', 'src', 'resize_migrating')
        self.tick_for(STUCK_AFTER * 0.8)
        self.gateway.set_server('RESIZE', 'dst', 'resize_finish')

        self.tick_for(STUCK_AFTER * 0.8)

        self.assertEqual(states.MIGRATING, self.task.state)


class TestStoppedVMInError(ExecutorTestBase):
    """A stopped VM set to ERROR on its source by a failed migration.

    Found by the fault campaign (seed 777): its retry waited forever for
    a VM that would never rest, and the evacuation never ended.
    """

    def setUp(self):
        super().setUp()
        self.store.update_task(self.task.id, 'test', method='cold',
                               original_status='SHUTOFF')
        self.gateway.guest_state = lambda server_id: 'shutdown'

    def test_goes_to_the_operator_untouched(self):
        self.submitted()
        self.record('error')
        self.move_task(states.RETRY_WAIT, not_before=None)
        self.gateway.set_server('ERROR', 'src', power_state=4)

        self.executor.tick()

        task = self.task
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertIn('stopped VM left in ERROR on src', task.remedy)
        self.assertEqual([], self.gateway.actions)

    def test_waits_while_a_migration_is_in_flight(self):
        self.submitted()
        self.record('migrating')
        self.move_task(states.RETRY_WAIT, not_before=None)
        self.gateway.set_server('ERROR', 'src', power_state=4)

        self.executor.tick()

        self.assertEqual(states.RETRY_WAIT, self.task.state)
        self.assertEqual([], self.gateway.actions)


class TestLeftMovingAfterItsMigration(ExecutorTestBase):
    """The migration ended; the VM still shows MIGRATING.

    Seen in the lab after a RabbitMQ outage during nova's post-migration.
    """

    def test_completed_migration_goes_to_the_operator_unreset(self):
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.record('completed')
        self.gateway.guest = None      # the source has no guest left

        self.tick_for(STUCK_AFTER - 30)
        self.assertEqual(states.MIGRATING, self.task.state)
        self.tick_for(2 * STUCK_AFTER)

        task = self.task
        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertIn('did not finish its post-migration', task.remedy)
        self.assertIn('nothing was reset', task.remedy)
        self.assertIn('"virsh list --all" on src and dst', task.remedy)

    def test_vm_finishing_late_is_done_untouched(self):
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.record('completed')
        self.tick_for(STUCK_AFTER - 30)
        self.gateway.set_server('ACTIVE', 'dst')

        self.executor.tick()

        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.DONE, self.task.state)

    def test_failed_migration_guest_on_source_is_reset_and_retried(self):
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.record('error')

        self.tick_for(2 * STUCK_AFTER)

        self.assertEqual(('reset_state', SERVER, 'active'),
                         self.gateway.actions[0])
        self.assertEqual(['live_migrate'],
                         sorted({a[0] for a in self.gateway.actions[1:]}))
        self.assertIn('rollback unfinished', self.task.remedy)

    def test_moved_but_left_moving_on_target_is_reset_and_done(self):
        # A token expired in nova's post-migration (chaos seed 37): nova
        # records the VM on its target, whose hypervisor runs the guest.
        self.submitted()
        self.gateway.set_server('MIGRATING', 'dst', 'migrating')
        self.record('error')

        self.tick_for(2 * STUCK_AFTER)

        self.assertEqual([('reset_state', SERVER, 'active')],
                         self.gateway.actions)
        self.assertEqual(states.DONE, self.task.state)
        self.assertIn('it moved', self.task.remedy)

    def test_completed_migration_with_guest_on_source_is_not_reset(self):
        # nova contradicts itself: the operator decides.
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.record('completed')

        self.tick_for(2 * STUCK_AFTER)

        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.NEEDS_OPERATOR, self.task.state)

    def test_failed_migration_guest_unknown_is_not_reset(self):
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.record('error')
        self.gateway.guest = None

        self.tick_for(2 * STUCK_AFTER)

        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.NEEDS_OPERATOR, self.task.state)
        self.assertIn('did not finish its rollback', self.task.remedy)


class TestProgressViewFails(ExecutorTestBase):
    """GET /servers/{id}/migrations fails; nova's migration list works."""

    def setUp(self):
        super().setUp()
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.gateway.fail['live_progress'] = nova_exc.ClientException(
            500, 'Unexpected API Error')

    def test_running_status_that_holds_goes_to_the_operator(self):
        self.record('running')

        self.tick_for(STUCK_AFTER + 60)

        task = self.task
        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertIn('nothing was aborted or reset', task.remedy)
        self.assertIn('Unexpected API Error', task.last_error)

    def test_changing_status_is_followed(self):
        self.record('preparing')
        self.tick_for(STUCK_AFTER - 30)
        self.gateway.records[0].status = 'running'

        self.tick_for(STUCK_AFTER - 30)

        self.assertEqual(states.MIGRATING, self.task.state)

    def test_ended_migration_is_judged_from_the_list(self):
        self.record('completed')
        self.gateway.guest = None

        self.tick_for(2 * STUCK_AFTER)

        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.NEEDS_OPERATOR, self.task.state)
        self.assertIn('post-migration', self.task.remedy)

    def test_no_record_either_waits(self):
        self.tick_for(10 * STUCK_AFTER)

        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.MIGRATING, self.task.state)


class TestErrorAfterColdMove(ExecutorTestBase):
    """ERROR after a cold move that worked: reset, and nothing leaks."""

    def setUp(self):
        super().setUp()
        self.store.update_task(self.task.id, 'test', method='cold')
        self.submitted()

    def test_unconfirmed_resize_releases_the_source_allocation(self):
        # ERROR while waiting in VERIFY_RESIZE: nova can no longer confirm
        # it, so the migration keeps the source's share in Placement.
        self.gateway.set_server('ERROR', 'dst')
        self.record('finished')

        self.executor.tick()

        self.assertEqual([('reset_state', SERVER, 'active'),
                          ('release_migration_allocation', SERVER, 'mig-7')],
                         self.gateway.actions)
        task = self.task
        self.assertEqual(states.DONE, task.state)
        self.assertIn('released in Placement', task.remedy)
        self.assertIn('srv-a_resize on src', task.remedy)
        self.assertIn('srv-a: deleting what unconfirmed migration mig-7 '
                      'holds in Placement on src', self.audit_details())

    def test_failed_confirm_releases_nothing_more(self):
        # nova deleted the allocation itself when its confirm failed.
        self.gateway.set_server('ERROR', 'dst')
        self.record('error')

        self.executor.tick()

        self.assertEqual([('reset_state', SERVER, 'active')],
                         self.gateway.actions)
        self.assertEqual(states.DONE, self.task.state)

    def test_placement_down_is_named_in_the_remedy(self):
        self.gateway.set_server('ERROR', 'dst')
        self.record('finished')
        self.gateway.fail['release_migration_allocation'] = outage()

        self.executor.tick()

        task = self.task
        self.assertEqual(states.DONE, task.state)
        self.assertIn('openstack resource provider allocation delete mig-7',
                      task.remedy)


class TestVerifiedCopyGate(ExecutorTestBase):
    """A cold move is confirmed only after a verified copy (issue 9)."""

    def setUp(self):
        super().setUp()
        self.store.update_task(self.task.id, 'test', method='cold')
        self.submitted()
        self.gateway.set_server('VERIFY_RESIZE', 'dst')
        self.record('finished')

    def test_verified_copy_is_confirmed(self):
        self.executor.tick()
        self.assertEqual([('confirm_resize', SERVER)], self.gateway.actions)

    def test_unverified_copy_goes_to_the_operator_unconfirmed(self):
        self.gateway.copy_is_verified = False
        self.executor.tick()
        self.assertEqual([], self.gateway.actions)
        task = self.task
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertIn('the copy was not verified', task.remedy)
        self.assertIn('openstack server resize confirm', task.remedy)

    def test_cannot_tell_waits(self):
        self.gateway.fail['copy_verified'] = outage()
        self.tick_for(3 * STUCK_AFTER)
        self.assertEqual([], self.gateway.actions)
        self.assertEqual(states.MIGRATING, self.task.state)
        del self.gateway.fail['copy_verified']
        self.executor.tick()
        self.assertEqual([('confirm_resize', SERVER)], self.gateway.actions)


class TestUnverifiedCopiesAccepted(TestVerifiedCopyGate):
    """A cloud whose computes copy with nova's stock copy."""

    POLICY = {'require_verified_copy': False}

    def test_unverified_copy_goes_to_the_operator_unconfirmed(self):
        self.gateway.copy_is_verified = False
        self.executor.tick()
        self.assertEqual([('confirm_resize', SERVER)], self.gateway.actions)

    def test_cannot_tell_waits(self):
        # Not even asked.
        self.gateway.fail['copy_verified'] = outage()
        self.executor.tick()
        self.assertEqual([('confirm_resize', SERVER)], self.gateway.actions)


class TestTwoPhasePolicy(ExecutorTestBase):
    """--two-phase-cold reaches the driver, signed like the cap."""

    POLICY = {'two_phase_cold': True}

    def setUp(self):
        super().setUp()
        self.store.update_task(self.task.id, 'test', method='cold')
        self.executor.bandwidth_cap_secret = 'operator-secret'

    def test_cold_submit_signs_the_two_phase_flag(self):
        self.executor.tick()
        self.assertEqual([('cold_migrate', SERVER, 'dst')],
                         self.gateway.actions)
        self.assertEqual(1, throttle.verified_cap(
            self.gateway.metadata, 'operator-secret', SERVER,
            key=throttle.TWO_PHASE_KEY))
        # Not usable as a cap: the key is part of what is signed.
        forged = {throttle.BANDWIDTH_KEY:
                  self.gateway.metadata[throttle.TWO_PHASE_KEY]}
        self.assertRaises(throttle.InvalidCap, throttle.verified_cap,
                          forged, 'operator-secret', SERVER)


class TestHalfFinishedAbort(ExecutorTestBase):
    """The copy ended, nova's post-migration hung, the engine aborted.

    Seen in the lab's RabbitMQ outage mid-migration.
    """

    def test_retry_of_a_vm_that_never_rests_goes_to_the_operator(self):
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.gateway.progress = ('15', 'running', 0, 65536)

        self.tick_for(STUCK_AFTER + 60)
        self.assertEqual(states.RETRY_WAIT, self.task.state)
        self.assertEqual('abort_live_migration', self.gateway.actions[0][0])
        self.tick_for(2 * STUCK_AFTER)

        task = self.task
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertEqual(1, len(self.gateway.actions))
        self.assertIn('still MIGRATING (task migrating) on src', task.remedy)
        self.assertIn('live migration 15 aborted', task.remedy)

    def test_retry_of_a_vm_rolling_back_waits(self):
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.gateway.progress = ('15', 'running', 0, 65536)
        self.tick_for(STUCK_AFTER + 60)
        self.gateway.set_server('ACTIVE', 'src')

        self.tick_for(60)

        self.assertEqual(states.MIGRATING, self.task.state)


class TestQueuedBehindStuck(ExecutorTestBase):
    """A migration queued on its source behind one that never ends."""

    def test_queued_alone_for_stuck_after_goes_to_the_operator(self):
        self.submitted()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.gateway.progress = ('16', 'queued', 0, 0)

        self.tick_for(STUCK_AFTER - 30)
        self.assertEqual(states.MIGRATING, self.task.state)
        self.tick_for(STUCK_AFTER)

        task = self.task
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertEqual([], self.gateway.actions)
        self.assertIn('has been queued on src', task.remedy)
        self.assertIn('Nothing was aborted', task.remedy)

    def test_queued_behind_one_of_ours_waits(self):
        # Two VMs of one source; nova-compute there moves one at a time.
        evacuation_id = self.store.create_evacuation(
            source_hosts=['src'], actor='alice',
            policy=dict(test_store.POLICY, allow_downtime=True),
            tasks=[test_store.task(name, source_host='src',
                                   target_host='dst', method='block')
                   for name in ('srv-1', 'srv-2')])
        self.store.set_state(evacuation_id, states.RUNNING, 'alice')
        for task in self.store.tasks(evacuation_id):
            for state in (states.SUBMITTING, states.MIGRATING):
                self.store.update_task(task.id, 'test', state, attempts=1,
                                       submitted_at=self.clock())
        executor = executor_mod.Executor(
            self.store, self.gateway, evacuation_id, owner='ev',
            stuck_after=STUCK_AFTER, settle_seconds=0.0, clock=self.clock)
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        moving = {'done': 0}

        def progress(server_id):
            if server_id == 'srv-1':
                moving['done'] += 1000
                return ('15', 'running', moving['done'], 10 ** 9)
            return ('16', 'queued', 0, 0)
        self.gateway.live_progress = progress

        for _ in range(10):
            executor.tick()
            self.clock.advance(STUCK_AFTER)

        self.assertEqual([states.MIGRATING, states.MIGRATING],
                         [t.state for t in self.store.tasks(evacuation_id)])
        self.assertEqual([], self.gateway.actions)


class TestTaskJob(ExecutorTestBase):
    """What the drain model is told of a task."""

    def job(self, method, status):
        self.store.update_task(self.task.id, 'test', method=method,
                               original_status=status)
        return executor_mod.task_job(self.task, drain_policy.Policy())

    def test_only_moves_that_start_a_guest_contend_for_setups(self):
        self.assertTrue(self.job('block', 'ACTIVE').starts_guest)
        self.assertTrue(self.job('cold', 'ACTIVE').starts_guest)
        self.assertFalse(self.job('cold', 'SHUTOFF').starts_guest)
