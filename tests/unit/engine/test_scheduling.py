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
"""Tests of the executor's scheduler: limits, order, convergence."""

import random

from oslotest import base as oslotest_base

from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.engine import drain_model
from nova_migration_ext.engine import scheduling

GB = 1e9


def job(key, source='s1', target='t1', method='block', nbytes=10 * GB,
        dirty=0.0):
    return drain_model.Job(key, source, target, method, nbytes, dirty)


def link(host):
    return GB


def policy(**limits):
    return drain_policy.Policy(**limits)


class TestLimits(oslotest_base.BaseTestCase):

    def test_big_vms_two_per_source(self):
        # 100 s of copy each against 15 s of setup: one in setup while
        # one copies keeps the link busy.
        limits = scheduling.limits_for(policy(), [
            job(n, nbytes=100 * GB) for n in 'abc'], link)
        self.assertEqual((2, 2, None), (limits.per_source,
                                        limits.per_target, limits.total))
        self.assertEqual(('per_source', 'per_target'), limits.derived)

    def test_small_vms_more_per_source(self):
        limits = scheduling.limits_for(policy(), [
            job(n, nbytes=5 * GB) for n in 'abc'], link)
        self.assertEqual(4, limits.per_source)

    def test_few_targets_take_more_each(self):
        jobs = [job('%s%d' % (s, i), source=s, target='t%d' % (i % 2),
                    nbytes=100 * GB) for s in ('s1', 's2', 's3', 's4')
                for i in range(4)]
        limits = scheduling.limits_for(policy(), jobs, link)
        self.assertEqual((2, 4), (limits.per_source, limits.per_target))

    def test_tiny_vms_hide_at_most_three_setups(self):
        limits = scheduling.limits_for(policy(), [
            job(n, nbytes=0.1 * GB) for n in 'abc'], link)
        self.assertEqual(4, limits.per_source)

    def test_slow_targets_take_more_per_source(self):
        # Each copy is held to its target's 250 MB/s disk: four fill the
        # source's 1 GB/s, a fifth overlaps their setups.
        def budget(host):
            return GB if host.startswith('s') else 250e6
        jobs = [job('%s%d' % (s, i), source=s, target='t%d' % i,
                    nbytes=100 * GB) for s in ('s1', 's2') for i in range(8)]
        limits = scheduling.limits_for(policy(), jobs, budget)
        self.assertEqual(5, limits.per_source)
        self.assertEqual(2, scheduling.limits_for(
            policy(), jobs, link).per_source)

    def test_the_operator_wins(self):
        limits = scheduling.limits_for(policy(
            max_per_source=1, max_per_target=3, max_total=5),
            [job('a', nbytes=5 * GB)], link)
        self.assertEqual((1, 3, 5, ()), (limits.per_source,
                                         limits.per_target, limits.total,
                                         limits.derived))

    def test_stored_limits_yield_to_the_policy(self):
        stored = scheduling.Limits(3, 4, None, ('per_source',)).to_dict()
        self.assertEqual(
            scheduling.Limits(3, 2, 6, ('per_source',)),
            scheduling.limits_from_dict(stored, policy(max_per_target=2,
                                                       max_total=6)))


class TestBudgets(oslotest_base.BaseTestCase):

    def test_a_host_moves_what_its_link_or_its_disk_allows(self):
        budget = scheduling.link_lookup(
            {'a': 1.25e9, 'b': 1.25e9}, policy(),
            {'a': 300e6, 'b': 2e9, 'c': 400e6})
        # a's disk, b's link, c's disk below the default link (1 GB/s),
        # d unknown: the default link.
        self.assertEqual([300e6, 1.25e9, 400e6, 1e9],
                         [budget(h) for h in 'abcd'])

    def test_stored_plans_bring_their_disks(self):
        budget, limits = scheduling.for_plan(
            {'links': {'a': 1.25e9}, 'disks': {'a': 300e6}}, policy())
        self.assertEqual(300e6, budget('a'))
        self.assertIsNone(limits)
        # A plan stored before disks were measured.
        budget, _limits = scheduling.for_plan({'links': {'a': 1.25e9}},
                                              policy())
        self.assertEqual(1.25e9, budget('a'))


class TestOrder(oslotest_base.BaseTestCase):

    def scheduler(self, jobs, **limits):
        return scheduling.Scheduler(policy(**limits), jobs, link)

    def keys(self, jobs):
        return [j.key for j in jobs]

    def test_biggest_first_within_a_source(self):
        jobs = [job('small', nbytes=GB, target='t1'),
                job('big', nbytes=9 * GB, target='t2'),
                job('mid', nbytes=5 * GB, target='t3')]
        scheduler = self.scheduler(jobs, max_per_source=1)
        self.assertEqual(['big'], self.keys(scheduler.start()))
        scheduler.ended(jobs[1])
        self.assertEqual(['mid'], self.keys(scheduler.start()))

    def test_sources_with_most_work_left_first(self):
        jobs = [job('a1', 's1', 't1', nbytes=5 * GB),
                job('b1', 's2', 't2', nbytes=4 * GB),
                job('b2', 's2', 't3', nbytes=4 * GB)]
        scheduler = self.scheduler(jobs, max_per_source=1, max_total=1)
        # s2 has 8 GB to send, s1 5 GB: s2 first though a1 is bigger.
        self.assertEqual(['b1'], self.keys(scheduler.start()))

    def test_limits_hold(self):
        jobs = [job('%d' % i, 's%d' % (i % 2), 't%d' % (i % 3))
                for i in range(12)]
        scheduler = self.scheduler(jobs, max_per_source=3,
                                   max_per_target=2, max_total=4)
        started = scheduler.start()
        self.assertEqual(4, len(started))
        self.assertEqual([], scheduler.start())
        scheduler.ended(started[0])
        # The freed slot is filled at once.
        self.assertEqual(1, len(scheduler.start()))

    def test_target_full_lets_the_next_vm_of_the_source_start(self):
        jobs = [job('x', 's2', 't1', nbytes=50 * GB),
                job('a', 's1', 't1', nbytes=9 * GB),
                job('b', 's1', 't2', nbytes=GB)]
        scheduler = self.scheduler(jobs, max_per_target=1)
        self.assertEqual(['x', 'b'], self.keys(scheduler.start()))
        scheduler.ended(jobs[0])
        self.assertEqual(['a'], self.keys(scheduler.start()))

    def test_failed_attempt_waits_again(self):
        a = job('a')
        scheduler = self.scheduler([a], max_per_source=1)
        self.assertEqual(['a'], self.keys(scheduler.start()))
        scheduler.ended(a, done=False)
        self.assertEqual(['a'], self.keys(scheduler.start()))
        scheduler.ended(a)
        self.assertTrue(scheduler.idle())

    def test_running_jobs_hold_their_slots(self):
        a, b = job('a', target='t1'), job('b', target='t2')
        scheduler = self.scheduler([a, b], max_per_source=1)
        scheduler.running(a)
        self.assertEqual([], scheduler.start())


class TestConvergence(oslotest_base.BaseTestCase):
    """A live migration starts only where it can outrun its guest."""

    def test_busy_writer_waits_for_a_quiet_link(self):
        quiet = job('quiet', target='t1', nbytes=50 * GB, dirty=1e6)
        busy = job('busy', target='t2', nbytes=GB, dirty=0.3 * GB)
        scheduler = scheduling.Scheduler(policy(), [quiet, busy], link)
        # Half of the source's link (0.5 GB/s) is less than twice busy's
        # 0.3 GB/s: it waits although a slot is free.
        self.assertEqual(['quiet'], [j.key for j in scheduler.start()])
        scheduler.ended(quiet)
        self.assertEqual(['busy'], [j.key for j in scheduler.start()])

    def test_a_writer_too_busy_for_any_share_starts_alone(self):
        hog = job('hog', dirty=2 * GB)
        scheduler = scheduling.Scheduler(policy(), [hog], link)
        self.assertEqual(['hog'], [j.key for j in scheduler.start()])

    def test_a_newcomer_may_not_starve_a_running_writer(self):
        busy = job('busy', target='t1', nbytes=90 * GB, dirty=0.3 * GB)
        quiet = job('quiet', target='t2', nbytes=GB, dirty=0.0)
        scheduler = scheduling.Scheduler(policy(), [busy, quiet], link)
        self.assertEqual(['busy'], [j.key for j in scheduler.start()])

    def test_a_cold_copy_may_not_starve_a_running_writer(self):
        busy = job('busy', target='t1', nbytes=90 * GB, dirty=0.3 * GB)
        cold = job('cold', target='t2', method='cold', nbytes=GB,
                   dirty=0.3 * GB)
        self.assertFalse(cold.re_sends)
        scheduler = scheduling.Scheduler(policy(max_per_source=2),
                                         [busy, cold], link)
        # cold's own guest is down, but busy's share would halve: wait.
        self.assertEqual(['busy'], [j.key for j in scheduler.start()])

    def test_the_target_link_counts_too(self):
        running = job('running', 's2', 't1', nbytes=90 * GB, dirty=0.3 * GB)
        newcomer = job('new', 's1', 't1', nbytes=GB)
        scheduler = scheduling.Scheduler(policy(), [running, newcomer],
                                         link)
        self.assertEqual(['running'], [j.key for j in scheduler.start()])


class Recording(scheduling.Scheduler):
    """A scheduler that checks its limits at every start."""

    def _take(self, a_job):
        super()._take(a_job)
        limits = self.limits
        assert len(self.running_on[a_job.source]) <= limits.per_source
        assert len([j for j in self.running_on[a_job.target]
                    if j.target == a_job.target]) <= limits.per_target
        assert limits.total is None or self.total <= limits.total
        self.peak = max(getattr(self, 'peak', 0), self.total)


class TestRandomDrains(oslotest_base.BaseTestCase):

    def test_every_job_ends_and_limits_hold(self):
        rng = random.Random(7)
        for _ in range(50):
            jobs = [job(i, 's%d' % rng.randrange(3), 't%d' % rng.randrange(4),
                        rng.choice(('block', 'live', 'cold')),
                        rng.uniform(0.1, 50) * GB,
                        rng.choice((0.0, 1e6, 0.2 * GB, 0.7 * GB)))
                    for i in range(rng.randrange(1, 30))]
            limits = {k: rng.choice((None, 1, 2, 3))
                      for k in ('max_per_source', 'max_per_target',
                                'max_total')}
            scheduler = Recording(policy(**limits), jobs, link)
            result = drain_model.simulate(jobs, scheduler, link)
            self.assertEqual({j.key for j in jobs}, set(result.ends))
            self.assertTrue(scheduler.idle())
            self.assertGreaterEqual(
                result.makespan + 1e-6, drain_model.lower_bound(jobs, link))

    def test_derived_limits_beat_fixed_ones_on_many_sources(self):
        jobs = [job('%d-%d' % (s, i), 's%d' % s, 't%d' % ((s + i) % 40),
                    nbytes=(i + 1) * 20 * GB, dirty=10e6)
                for s in range(20) for i in range(5)]
        derived, _limits = scheduling.estimate(jobs, policy(), link)
        fixed, _limits = scheduling.estimate(jobs, policy(
            max_per_source=2, max_per_target=2, max_total=8), link)
        # The bound (300 s) counts no setup: the first copies start at 15 s.
        bound = drain_model.lower_bound(jobs, link)
        self.assertLess(derived.makespan, 1.2 * bound)
        self.assertGreater(fixed.makespan, 2 * derived.makespan)
