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
"""Tests of the concurrency slots and of the makespan estimate."""

import collections
import random

import fixtures
from oslotest import base as oslotest_base

from nova_migration_ext.evacuation import inventory
from nova_migration_ext.evacuation import planner
from nova_migration_ext.evacuation import slots


def move(name, seconds, source='s1', target=None):
    return planner.Move(name, name, 'p1', source, 'ACTIVE', 'block',
                        target or 't-%s' % name, 0, float(seconds), [])


def policy(max_per_source=8, max_per_target=8, max_total=8):
    return inventory.Policy(max_per_source=max_per_source,
                            max_per_target=max_per_target,
                            max_total=max_total)


class RecordingSlots(slots.Slots):
    """Slots that log takes and give-backs and keep their own peaks."""

    def __init__(self, *args):
        super().__init__(*args)
        self.events = []
        self.mine = collections.Counter()
        self.peaks = collections.Counter()

    def _count(self, source, target, step):
        for key in (('source', source), ('target', target), ('total',)):
            self.mine[key] += step
            self.peaks[key] = max(self.peaks[key], self.mine[key])

    def take(self, source, target):
        super().take(source, target)
        self.events.append(('take', source, target))
        self._count(source, target, 1)

    def give_back(self, source, target):
        super().give_back(source, target)
        self.events.append(('give', source, target))
        self._count(source, target, -1)

    def peak(self, kind):
        return max([n for key, n in self.peaks.items() if key[0] == kind],
                   default=0)


class TestSlots(oslotest_base.BaseTestCase):

    def test_limits(self):
        counter = slots.Slots(max_per_source=2, max_per_target=1,
                              max_total=3)
        self.assertTrue(counter.can_start('s1', 't1'))
        counter.take('s1', 't1')
        self.assertFalse(counter.can_start('s2', 't1'))
        self.assertTrue(counter.can_start('s1', 't2'))
        counter.take('s1', 't2')
        self.assertFalse(counter.can_start('s1', 't3'))
        self.assertFalse(counter.full)
        counter.take('s2', 't3')
        self.assertTrue(counter.full)
        self.assertFalse(counter.can_start('s3', 't4'))
        exc = self.assertRaises(RuntimeError, counter.take, 's3', 't4')
        self.assertEqual('no free slot for s3 -> t4', str(exc))
        self.assertEqual((2, 1, 3), (counter.by_source['s1'],
                                     counter.by_target['t1'],
                                     counter.total))
        counter.give_back('s1', 't1')
        self.assertFalse(counter.full)
        self.assertTrue(counter.can_start('s2', 't1'))
        self.assertTrue(counter.can_start('s1', 't1'))

    def test_refused_take_changes_nothing(self):
        counter = slots.Slots(1, 1, 1)
        counter.take('s1', 't1')
        self.assertRaises(RuntimeError, counter.take, 's2', 't2')
        self.assertEqual((0, 0, 1), (counter.by_source['s2'],
                                     counter.by_target['t2'],
                                     counter.total))

    def test_for_policy(self):
        counter = slots.Slots.for_policy(policy(3, 4, 5))
        self.assertEqual((3, 4, 5), (counter.max_per_source,
                                     counter.max_per_target,
                                     counter.max_total))
        self.assertEqual(0, counter.total)


class TestMakespan(oslotest_base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.made = []

        made = self.made

        class Recording(RecordingSlots):
            def __init__(self, *args):
                super().__init__(*args)
                made.append(self)

        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.evacuation.slots.Slots', Recording))

    def estimate(self, moves, a_policy):
        seconds = planner.estimate_makespan(moves, a_policy)
        recorded, = self.made
        self.assertLessEqual(recorded.peak('source'),
                             a_policy.max_per_source)
        self.assertLessEqual(recorded.peak('target'),
                             a_policy.max_per_target)
        self.assertLessEqual(recorded.peak('total'), a_policy.max_total)
        self.assertEqual(len(moves), len([e for e in recorded.events
                                          if e[0] == 'take']))
        self.assertEqual(0, recorded.total)
        self.assertEqual(set(), {n for n in recorded.mine.values() if n})
        self.slots = recorded
        return seconds

    def started(self):
        """Targets in the order their migrations started."""
        return [target for event, _s, target in self.slots.events
                if event == 'take']

    def test_nothing(self):
        self.assertEqual(0.0, self.estimate([], policy()))

    def test_one_move(self):
        self.assertEqual(42.5, self.estimate([move('a', 42.5)], policy()))

    def test_per_source_limit(self):
        moves = [move(n, 100) for n in 'abcd']
        self.assertEqual(200.0, self.estimate(moves, policy(2)))
        self.assertEqual(2, self.slots.peak('source'))
        moves.append(move('e', 100))
        self.made.clear()
        self.assertEqual(300.0, self.estimate(moves, policy(2)))
        self.made.clear()
        self.assertEqual(100.0, self.estimate(moves, policy(5)))

    def test_sources_run_in_parallel(self):
        moves = [move('a', 100, 's1'), move('b', 100, 's1'),
                 move('c', 100, 's2'), move('d', 100, 's2')]
        self.assertEqual(200.0, self.estimate(moves, policy(1)))
        self.assertEqual(2, self.slots.peak('total'))

    def test_per_target_limit(self):
        moves = [move(n, 100, 's-' + n, 't1') for n in 'abcd']
        self.assertEqual(400.0, self.estimate(moves, policy(
            max_per_target=1)))
        self.assertEqual(1, self.slots.peak('target'))

    def test_two_targets(self):
        moves = [move(n, 100, 's-' + n, t)
                 for n, t in zip('abcd', ('t1', 't1', 't2', 't2'))]
        self.assertEqual(200.0, self.estimate(moves, policy(
            max_per_target=1)))

    def test_per_target_limit_under_per_source_limit(self):
        moves = [move(n, 100, 's1', t)
                 for n, t in zip('abcd', ('t1', 't1', 't1', 't2'))]
        self.assertEqual(300.0, self.estimate(moves, policy(
            max_per_source=2, max_per_target=1)))
        self.assertEqual(2, self.slots.peak('source'))

    def test_total_limit(self):
        moves = [move(n, 100, 's-' + n) for n in 'abcdef']
        self.assertEqual(200.0, self.estimate(moves, policy(max_total=3)))
        self.assertEqual(3, self.slots.peak('total'))

    def test_freed_slot_filled_at_once(self):
        moves = [move('short1', 30), move('long', 100), move('short2', 30),
                 move('short3', 30)]
        # In waves of two this would take 100 + 30 seconds.
        self.assertEqual(100.0, self.estimate(moves, policy(max_total=2)))
        self.assertEqual(
            [('take', 's1', 't-short1'), ('take', 's1', 't-long'),
             ('give', 's1', 't-short1'), ('take', 's1', 't-short2'),
             ('give', 's1', 't-short2'), ('take', 's1', 't-short3'),
             ('give', 's1', 't-short3'), ('give', 's1', 't-long')],
            self.slots.events)

    def test_plan_order_is_kept(self):
        # The executor starts moves in plan order (the planner puts the
        # biggest first); the estimate follows the same order.
        moves = [move('long', 100)] + [move('s%d' % i, 10)
                                       for i in range(4)]
        self.assertEqual(100.0, self.estimate(moves, policy(2)))
        self.assertEqual('t-long', self.started()[0])

    def test_plan_order_long_last(self):
        moves = [move('s%d' % i, 10) for i in range(4)] + [
            move('long', 100)]
        self.assertEqual(120.0, self.estimate(moves, policy(2)))

    def test_freed_slot_filled_across_sources(self):
        moves = [move('long', 100, 's1')] + [
            move('short%d' % i, 30, 's2') for i in range(3)]
        self.assertEqual(100.0, self.estimate(moves, policy(max_total=2)))
        self.assertEqual(('give', 's1', 't-long'), self.slots.events[-1])

    def test_freed_target_slot_filled_at_once(self):
        moves = [move('long', 100, 's0', 't1')] + [
            move('short%d' % i, 30, 's%d' % (i + 1), 't1') for i in range(3)]
        self.assertEqual(100.0, self.estimate(moves, policy(
            max_per_target=2)))

    def test_serial(self):
        moves = [move(n, s) for n, s in zip('abc', (10, 50, 30))]
        self.assertEqual(90.0, self.estimate(moves, policy(1, 1, 1)))
        self.assertEqual(['t-a', 't-b', 't-c'], self.started())

    def test_limits_never_exceeded(self):
        rng = random.Random(7)
        moves = [move('m%02d' % i, rng.randrange(10, 300),
                      's%d' % rng.randrange(5), 't%d' % rng.randrange(6))
                 for i in range(60)]
        work = sum(m.expected_seconds for m in moves)
        for limits in ((1, 1, 1), (2, 2, 8), (3, 1, 4), (2, 3, 5),
                       (8, 8, 2)):
            self.made.clear()
            a_policy = policy(*limits)
            seconds = self.estimate(moves, a_policy)
            for kind, limit in (('source', limits[0]),
                                ('target', limits[1])):
                per = collections.Counter()
                for m in moves:
                    per[m.source if kind == 'source' else m.target] += \
                        m.expected_seconds
                self.assertGreaterEqual(seconds, max(per.values()) / limit)
            self.assertGreaterEqual(seconds, work / limits[2])
            self.assertGreaterEqual(
                seconds, max(m.expected_seconds for m in moves))
            self.assertLessEqual(seconds, work)
        self.made.clear()
        self.assertEqual(work, self.estimate(moves, policy(1, 1, 1)))
