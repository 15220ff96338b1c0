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
"""Tests of what ``show`` computes: progress, phase and ETA."""

from nova_migration_ext.contract import display
from nova_migration_ext.contract import states
from nova_migration_ext.engine import engine as engine_mod
from nova_migration_ext.engine import service
from tests.unit.engine import fakes
from tests.unit.engine import test_store
from tests.unit import utils

GB = 10 ** 9


class TestShow(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.store = fakes.sqlite_store(self)
        # One source, one target, one migration at a time, 50 MB/s links
        # and guests that dirty nothing: the drain is the sum of what each
        # VM has left, 15 s of setup + 80 s of copy for a whole one.
        policy = dict(test_store.POLICY, max_per_source=1, max_per_target=1,
                      max_total=1, bandwidth_mb_per_s=50)
        self.evacuation_id = self.store.create_evacuation(
            source_hosts=['cmp-1'], policy=policy, actor='alice',
            tasks=[test_store.task(name, bytes_total=4 * GB,
                                   expected_seconds=95.0,
                                   dirty_bytes_per_s=0.0)
                   for name in ('a', 'b', 'c')])
        self.store.set_state(self.evacuation_id, states.RUNNING, 'alice')
        self.engine = engine_mod.Engine(self.store, gateway=None)
        self.tasks = {t.server_id: t
                      for t in self.store.tasks(self.evacuation_id)}

    def move(self, server_id, *path, **fields):
        for state in path:
            self.store.update_task(self.tasks[server_id].id, 'ev', state,
                                   **fields)

    def test_nothing_moved_yet(self):
        info = self.engine.show(self.evacuation_id)
        self.assertEqual(0.0, info.progress)
        self.assertEqual(3 * 95, info.eta_seconds)
        self.assertEqual([0.0] * 3, [t.progress for t in info.tasks])

    def test_progress_phase_and_eta(self):
        self.move('a', states.SUBMITTING, states.MIGRATING, states.DONE)
        self.move('b', states.SUBMITTING, states.MIGRATING, bytes_done=GB,
                  phase='copying memory and disks')
        info = self.engine.show(self.evacuation_id)
        by_id = {t.server_id: t for t in info.tasks}
        self.assertEqual((100.0, ''), (by_id['a'].progress,
                                       by_id['a'].phase))
        self.assertEqual((25.0, 'copying memory and disks'),
                         (by_id['b'].progress, by_id['b'].phase))
        self.assertEqual(0.0, by_id['c'].progress)
        # 4 + 1 of 12 GB moved.
        self.assertEqual(round(100.0 * 5 / 12, 1), info.progress)
        # b copies its last 3 GB (60 s, its setup done), then c: 95 s.
        self.assertEqual(60 + 95, info.eta_seconds)

    def test_vms_left_for_the_operator_count_no_time(self):
        self.move('a', states.SUBMITTING, states.NEEDS_OPERATOR)
        self.assertEqual(2 * 95, self.engine.show(
            self.evacuation_id).eta_seconds)

    def test_list_counts_the_vms_left_for_the_operator(self):
        self.move('a', states.SUBMITTING, states.NEEDS_OPERATOR)
        self.move('b', states.SUBMITTING, states.NEEDS_OPERATOR)
        other = self.store.create_evacuation(
            source_hosts=['cmp-2'], policy=test_store.POLICY, actor='bob',
            tasks=[test_store.task('d')])
        self.move('c', states.SUBMITTING, states.MIGRATING, bytes_done=GB)
        listed = {e.id: e for e in service.summaries(self.engine)}
        self.assertEqual(2, listed[self.evacuation_id].needs_operator)
        self.assertEqual(0, listed[other].needs_operator)
        # The list's progress is show's.
        self.assertEqual(self.engine.show(self.evacuation_id).progress,
                         listed[self.evacuation_id].progress)
        self.assertEqual(round(100.0 / 12, 1),
                         listed[self.evacuation_id].progress)
        self.assertEqual(0.0, listed[other].progress)

    def test_estimate_runs_moves_under_way_first(self):
        # c is under way although planned last: it holds the only slot.
        self.move('c', states.SUBMITTING, states.MIGRATING,
                  bytes_done=2 * GB)
        self.assertEqual(40 + 2 * 95, self.engine.show(
            self.evacuation_id).eta_seconds)

    def test_estimate_counts_setup_until_the_copy_starts(self):
        self.move('c', states.SUBMITTING)
        self.assertEqual(3 * 95, self.engine.show(
            self.evacuation_id).eta_seconds)

    def test_estimate_shares_the_links(self):
        # Three at once off one 50 MB/s link: the copies share it.
        policy = dict(test_store.POLICY, max_per_source=3, max_per_target=3,
                      bandwidth_mb_per_s=50)
        shared = self.store.create_evacuation(
            source_hosts=['cmp-5'], policy=policy, actor='alice',
            tasks=[test_store.task(name, bytes_total=4 * GB,
                                   source_host='cmp-5',
                                   dirty_bytes_per_s=0.0)
                   for name in ('d', 'e', 'f')])
        self.assertEqual(15 + 3 * 80, self.engine.show(shared).eta_seconds)


class TestDuration(utils.TestCase):

    def test_duration(self):
        self.assertEqual('0m00s', display.duration(None))
        self.assertEqual('4m10s', display.duration(250))
        self.assertEqual('1h05m', display.duration(3900.7))


class TestLease(utils.TestCase):
    """``show`` says whether an evacuator still drives the evacuation."""

    def setUp(self):
        super().setUp()
        self.store = fakes.sqlite_store(self)
        self.evacuation_id = self.store.create_evacuation(
            source_hosts=['cmp-1'], policy=test_store.POLICY, actor='alice',
            tasks=[test_store.task('a')])
        self.engine = engine_mod.Engine(self.store, gateway=None)

    def lease(self):
        return self.engine.show(self.evacuation_id).lease

    def test_planned_has_no_driver(self):
        self.assertEqual('', self.lease())

    def test_running_not_picked_up(self):
        self.store.set_state(self.evacuation_id, states.RUNNING, 'alice')
        self.assertEqual('no evacuator has picked it up yet', self.lease())

    def test_held_lease(self):
        self.store.set_state(self.evacuation_id, states.RUNNING, 'alice')
        self.store.acquire(self.evacuation_id, 'ev1', 60)
        self.assertRegex(self.lease(), r'^ev1, renewed \((59|60) s left\)$')

    def test_lapsed_lease_says_no_evacuator_drives_it(self):
        self.store.set_state(self.evacuation_id, states.RUNNING, 'alice')
        self.store.acquire(self.evacuation_id, 'ev1', -120)
        self.assertRegex(self.lease(), r'^ev1 stopped renewing it 1[12]\d s '
                         r'ago: no evacuator drives it')
