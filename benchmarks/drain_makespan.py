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
"""Benchmark: how long a drain takes under different schedulers.

Usage: PYTHONPATH=. python benchmarks/drain_makespan.py [--sharing MODEL]

A synthetic cloud (benchmarks/synthetic.py) is planned once by our
planner with the default policy; the same moves (same VM, same target,
same bytes, same dirty rate) are then run through the drain model
(``nova_migration_ext/engine/drain_model.py``: setup time, links
shared by the copies on them, dirty pages re-sent, nova giving up on a
live migration that never converges) under each scheduler, so only
*when* migrations start differs:

``default``
    The executor's scheduler (``scheduling.Scheduler``) with the default
    policy: limits derived from the drain, longest remaining work first,
    no live migration started where it cannot converge.
``2/2/8``
    The same scheduler with the limits the policy had as defaults before
    (2 per source, 2 per target, 8 in all), as an operator could set.
``waves of 2``
    Watcher's default (``parallelization`` 2 for ``migrate``): at most 2
    migrations start together, in plan order, and the next wave starts
    only when both have ended.
``fire&forget``
    ``nova host-evacuate-live`` and ``nova host-servers-migrate``: every
    migration submitted at t=0; nova-compute on each source runs
    ``max_concurrent_live_migrations`` (1) live migrations at a time in
    the order nova lists them, cold ones all at once; no limit per target
    or overall. A migration nova gives up on is submitted again at the end
    of its source's queue (the operator runs the command again).

Every host's link is B = 1 GB/s; a cold copy runs at most at 500 MB/s
(the copy tool); setup takes 15 s. The guests dirty 2, 10, 50 or 200 MB/s
(half, 30 %, 15 %, 5 % of them); in the "busy guests" scenario five
times that, so that some cannot converge even alone (the plan moves
those cold). In the last scenario the links carry 1.25 GB/s (10 GbE) but every
target's disk writes only 300 MB/s, as the computes measured and
published it: each host's budget is the slower of the two. There one
more run, ``links only``, is the default scheduler shown the links but
not the disks (the control for the disk budgets; the drain itself still
runs at the disks' speed).
``LB`` is the busiest host's bytes / its budget: no scheduler can beat
it.
``--sharing maxmin`` (default) shares links as TCP flows tend to
(max-min fair); ``local`` as the plan's ETA does.

The last lines, one per scenario:
``scenario: X.XXx LB, fire&forget Y.YYx, waves Z.ZZx`` (the default
policy's makespan over LB, and the other two's over LB).
"""

import argparse
import collections
import sys
import time

from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.engine import drain_model
from nova_migration_ext.engine import planner
from nova_migration_ext.engine import scheduling

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import synthetic  # noqa: E402

MAX_CONCURRENT_LIVE_MIGRATIONS = 1     # nova's default


class Waves:
    """Lock-step waves in plan order: the next when the whole wave ended."""

    def __init__(self, jobs, size=2):
        self.pending = collections.deque(jobs)
        self.size = size
        self.running = 0

    def start(self, now=None):
        if self.running:
            return []
        wave = [self.pending.popleft()
                for _ in range(min(self.size, len(self.pending)))]
        self.running = len(wave)
        return wave

    def ended(self, job, done=True):
        self.running -= 1
        if not done:
            self.pending.append(job)


class FireAndForget:
    """Everything submitted at once; nova-compute queues live ones."""

    def __init__(self, jobs, order):
        self.queues = collections.defaultdict(collections.deque)
        self.cold = []
        for job in sorted(jobs, key=order):
            if job.method == drain_model.COLD:
                self.cold.append(job)
            else:
                self.queues[job.source].append(job)
        self.live = collections.Counter()

    def start(self, now=None):
        started, self.cold = self.cold, []
        for source, queue in self.queues.items():
            while queue and self.live[source] < \
                    MAX_CONCURRENT_LIVE_MIGRATIONS:
                started.append(queue.popleft())
                self.live[source] += 1
        return started

    def ended(self, job, done=True):
        if job.method == drain_model.COLD:
            if not done:
                self.cold.append(job)
            return
        self.live[job.source] -= 1
        if not done:
            self.queues[job.source].append(job)


def scenario(title, hosts, servers, sources, targets, sharing):
    policy = drain_policy.Policy(allow_downtime=True)
    started = time.perf_counter()
    plan = planner.Planner(hosts, servers, policy).plan(sources, targets)
    planned = time.perf_counter() - started
    link = scheduling.link_lookup(plan.links, policy, plan.disks)
    # The control for disk budgets: the scheduler sees the links alone.
    links_only = scheduling.link_lookup(plan.links, policy)

    def jobs(a_policy):
        return planner.move_jobs(plan.moves, a_policy)

    lb = drain_model.lower_bound(jobs(policy), link)
    totals = plan.to_resource()
    print('%s: %d moves (%s), %d unplaceable, %.1f TB, planned in %.2f s '
          '(ETA %.2f h); LB %.2f h'
          % (title, totals.move_count, ', '.join(
              '%d %s' % (n, k) for k, n in sorted(
                  totals.by_method.items())),
             len(totals.unplaceable), totals.bytes / 1e12, planned,
             plan.makespan_seconds / 3600, lb / 3600))
    fixed = drain_policy.Policy(allow_downtime=True, max_per_source=2,
                                max_per_target=2, max_total=8)
    order = {m.server_id: i for i, m in enumerate(
        sorted(plan.moves, key=lambda m: int(m.server_name.split('-')[1])))}
    runs = collections.OrderedDict()
    schedulers = [
            ('default', lambda: scheduling.Scheduler(
                policy, jobs(policy), link))]
    if plan.disks:
        schedulers.append(('links only', lambda: scheduling.Scheduler(
            policy, jobs(policy), links_only)))
    for label, make in schedulers + [
            ('2/2/8', lambda: scheduling.Scheduler(
                fixed, jobs(fixed), link)),
            ('waves of 2', lambda: Waves(jobs(policy))),
            ('fire&forget', lambda: FireAndForget(
                jobs(policy), lambda j: order[j.key]))]:
        scheduler = make()
        its_jobs = _scheduler_jobs(scheduler)
        began = time.perf_counter()
        result = drain_model.simulate(its_jobs, scheduler, link, sharing)
        runs[label] = result
        limits = getattr(scheduler, 'limits', None)
        shown = ('  limits %s/%s/%s' % (
            limits.per_source, limits.per_target, limits.total or '-')
            if limits else '')
        print('  %-12s %6.2f h  %5.2fx LB  peak %4d  aborted %3d  '
              'sent %5.1f TB%s  (%.1f s)'
              % (label, result.makespan / 3600, result.makespan / lb,
                 result.peak, result.aborted, result.bytes_sent / 1e12,
                 shown, time.perf_counter() - began))
    return lb, runs


def _scheduler_jobs(scheduler):
    if isinstance(scheduler, scheduling.Scheduler):
        return [j for q in scheduler.queues.values() for j in q]
    if isinstance(scheduler, Waves):
        return list(scheduler.pending)
    return scheduler.cold + [j for q in scheduler.queues.values() for j in q]


SCENARIOS = (
    ('40 hosts/800 VMs, drain 8 onto 32', (40, 800, 8), {}, None),
    ('48 hosts/800 VMs, 8 onto 8 new', (48, 800, 8), {'loaded_hosts': 40},
     slice(40, None)),
    ('200 hosts/4000 VMs, drain 20 onto 180', (200, 4000, 20), {}, None),
    ('1000 hosts/20000 VMs, drain 100 onto 900', (1000, 20000, 100), {},
     None),
    ('200 hosts/4000 VMs, busy guests (dirty x5)', (200, 4000, 20),
     {'dirty_scale': 5}, None),
    ('200 hosts/4000 VMs, 10 GbE, disks write 300 MB/s', (200, 4000, 20),
     {'link_bytes_per_s': 1.25e9, 'disk_write_bytes_per_s': 300e6}, None),
)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sharing', choices=sorted(drain_model.SHARING),
                        default='maxmin',
                        help='how migrations share a host link')
    args = parser.parse_args(argv[1:])
    started = time.perf_counter()
    print('B = 1 GB/s per host link, cold copy <= %.0f MB/s, %.0f s setup '
          'per migration, sharing: %s'
          % (drain_model.COLD_COPY_BYTES_PER_S / 1e6,
             drain_model.OVERHEAD_SECONDS, args.sharing))
    lines = []
    for title, shape, kwargs, target_slice in SCENARIOS:
        hosts, servers, sources = synthetic.cloud(*shape, **kwargs)
        targets = ([h.name for h in hosts[target_slice]]
                   if target_slice else None)
        lb, runs = scenario(title, hosts, servers, sources, targets,
                            args.sharing)
        lines.append('%s: %.2fx LB, fire&forget %.2fx, waves %.2fx'
                     % (title, runs['default'].makespan / lb,
                        runs['fire&forget'].makespan / lb,
                        runs['waves of 2'].makespan / lb))
    print()
    print('wall time %.1f s' % (time.perf_counter() - started))
    for line in lines:
        print(line)


if __name__ == '__main__':
    main(sys.argv)
