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
"""Tests of the drain model: setup, shared links, dirty pages, give-up."""

from oslotest import base as oslotest_base

from nova_migration_ext.engine import drain_model

GB = 1e9
GiB = drain_model.GiB


def job(key, source='s1', target='t1', method='block', nbytes=10 * GB,
        dirty=0.0, cap=None, setup=None, memory=None):
    return drain_model.Job(key, source, target, method, nbytes, dirty, cap,
                           setup, memory)


class AllAtOnce:
    """Starts every job at t=0; counts what ended and how."""

    def __init__(self, jobs):
        self.jobs = list(jobs)
        self.ended_jobs = []

    def start(self, now=None):
        started, self.jobs = self.jobs, []
        return started

    def ended(self, a_job, done=True):
        self.ended_jobs.append((a_job.key, done))
        if not done:
            self.jobs.append(a_job)


def link(speed=GB):
    return lambda host: speed


class TestModel(oslotest_base.BaseTestCase):

    def run_jobs(self, jobs, sharing='local', **kwargs):
        self.scheduler = AllAtOnce(jobs)
        return drain_model.simulate(jobs, self.scheduler,
                                    kwargs.pop('links', link()), sharing,
                                    **kwargs)

    def test_nothing(self):
        self.assertEqual(0.0, self.run_jobs([]).makespan)

    def test_setup_then_copy(self):
        result = self.run_jobs([job('a')])
        self.assertAlmostEqual(15 + 10, result.makespan)
        self.assertEqual({'a': result.makespan}, result.ends)
        self.assertAlmostEqual(10 * GB, result.bytes_sent)

    def test_a_cold_copy_is_bound_by_its_tool(self):
        result = self.run_jobs([job('a', method='cold', cap=500e6)])
        self.assertAlmostEqual(15 + 20, result.makespan)

    def test_copies_share_the_source_link(self):
        result = self.run_jobs([job('a', target='t1'),
                                job('b', target='t2')])
        self.assertAlmostEqual(15 + 20, result.makespan)
        self.assertEqual(2, result.peak)

    def test_copies_share_the_target_link(self):
        result = self.run_jobs([job('a', source='s1'),
                                job('b', source='s2')])
        self.assertAlmostEqual(15 + 20, result.makespan)

    def test_a_copy_alone_speeds_up_when_the_other_ends(self):
        result = self.run_jobs([job('a', nbytes=2 * GB),
                                job('b', nbytes=10 * GB, target='t2')])
        # Both at 0.5 GB/s until a ends at 15 + 4 s; then b alone.
        self.assertAlmostEqual(15 + 4, result.ends['a'])
        self.assertAlmostEqual(15 + 4 + 8, result.ends['b'])

    def test_dirty_pages_are_sent_again(self):
        result = self.run_jobs([job('a', dirty=0.5 * GB)])
        # Progress at 1 - 0.5 GB/s: twice the time, twice the bytes.
        self.assertAlmostEqual(15 + 20, result.makespan)
        self.assertAlmostEqual(20 * GB, result.bytes_sent)

    def test_only_the_memory_is_sent_again(self):
        # 8 GB of disks at 1 GB/s, then 2 GB of memory at 1 - 0.5.
        result = self.run_jobs([job('a', dirty=0.5 * GB, memory=2 * GB)])
        self.assertAlmostEqual(15 + 8 + 4, result.makespan)
        self.assertAlmostEqual(12 * GB, result.bytes_sent)

    def test_the_memory_phase_survives_a_change_of_rate(self):
        # b shares the link for its 15 s of setup + 2 s of copy (1 GB at
        # 0.5 GB/s): a copies 1 GB of disk meanwhile, the rest alone.
        result = self.run_jobs([
            job('a', dirty=0.25 * GB, memory=2 * GB, nbytes=10 * GB),
            job('b', nbytes=GB, target='t2')])
        self.assertAlmostEqual(17, result.ends['b'])
        self.assertAlmostEqual(17 + 7 + 2 / 0.75, result.ends['a'])

    def test_a_cold_copy_sends_nothing_again(self):
        result = self.run_jobs([job('a', method='cold', dirty=0.5 * GB)])
        self.assertAlmostEqual(15 + 10, result.makespan)

    def test_a_migration_slower_than_its_guest_never_ends(self):
        # Sharing the link with b, a gets 0.5 GB/s against 0.6 dirtied:
        # nova gives up after 800 s per GiB. The retry starts at once and
        # converges once b has ended (at 15 + 1600 s), a then alone.
        result = self.run_jobs([job('a', nbytes=GiB, dirty=0.6 * GB),
                                job('b', nbytes=800 * GB, method='cold',
                                    target='t2')])
        self.assertEqual(1, result.aborted)
        self.assertIn(('a', False), self.scheduler.ended_jobs)
        self.assertGreater(result.ends['a'], 15 + 800)

    def test_given_up_for_good_after_max_aborts(self):
        result = self.run_jobs([job('a', nbytes=GiB, dirty=2 * GB)],
                               max_aborts=2)
        self.assertEqual(2, result.aborted)
        self.assertAlmostEqual(2 * (15 + 800), result.makespan)

    def test_under_way_without_setup(self):
        jobs = [job('a', setup=0.0)]
        scheduler = AllAtOnce([])
        result = drain_model.simulate(jobs, scheduler, link(),
                                      under_way=jobs)
        self.assertAlmostEqual(10, result.makespan)

    def test_setups_share_a_target_beyond_its_parallelism(self):
        jobs = [job(n, source='s%d' % i, nbytes=1.0, setup=10.0)
                for i, n in enumerate('abcd')]
        self.assertAlmostEqual(10, self.run_jobs(jobs).makespan, 3)
        # Two at full speed: four take twice as long, together.
        self.assertAlmostEqual(20, self.run_jobs(
            jobs, setup_parallelism=2).makespan, 3)
        # Other targets are not slowed.
        other = [job('e', source='s9', target='t2', nbytes=1.0, setup=10.0)]
        result = self.run_jobs(jobs + other, setup_parallelism=2)
        self.assertAlmostEqual(10, result.ends['e'], 3)

    def test_setup_that_starts_no_guest_does_not_contend(self):
        jobs = [job(n, source='s%d' % i, nbytes=1.0, setup=10.0)
                for i, n in enumerate('ab')]
        stopped = job('c', source='s8', method='cold', nbytes=1.0,
                      setup=10.0)
        stopped.starts_guest = False
        result = self.run_jobs(jobs + [stopped], setup_parallelism=1)
        # The two that start guests share the target; the cold move of a
        # stopped VM neither waits for them nor slows them.
        self.assertAlmostEqual(20, result.makespan, 3)
        self.assertAlmostEqual(10, result.ends['c'], 3)

    def test_job_never_started_is_an_error(self):
        self.assertRaises(RuntimeError, drain_model.simulate,
                          [job('a')], AllAtOnce([]), link())

    def test_maxmin_gives_a_capped_copy_share_to_the_others(self):
        jobs = [job('a', method='cold', cap=0.2 * GB, nbytes=2 * GB),
                job('b', target='t2', nbytes=8 * GB)]
        local = self.run_jobs(jobs, 'local')
        maxmin = self.run_jobs(jobs, 'maxmin')
        # local: b gets half the link although a uses only 0.2 of it.
        self.assertAlmostEqual(15 + 10, local.ends['a'])
        self.assertAlmostEqual(15 + 8 / 0.8, maxmin.ends['b'])
        self.assertLess(maxmin.ends['b'], local.ends['b'])

    def test_maxmin_equals_local_on_symmetric_links(self):
        jobs = [job(n, target='t%d' % i) for i, n in enumerate('abcd')]
        self.assertAlmostEqual(self.run_jobs(jobs, 'local').makespan,
                               self.run_jobs(jobs, 'maxmin').makespan)

    def test_lower_bound_is_the_busiest_link(self):
        jobs = [job('a', nbytes=3 * GB), job('b', nbytes=5 * GB,
                                             target='t2'),
                job('c', source='s2', target='t2', nbytes=4 * GB)]
        self.assertAlmostEqual(9.0, drain_model.lower_bound(jobs, link()))
        self.assertGreaterEqual(self.run_jobs(jobs, 'maxmin').makespan,
                                9.0)
