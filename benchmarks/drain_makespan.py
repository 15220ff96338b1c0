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
planner; the same moves (same VM, same target, same bytes) are then run
by a simulator under each scheduler, so only *when* migrations start
differs:

``engine a/b/c``
    Our executor with max_per_source=a, max_per_target=b, max_total=c.
    It walks the tasks in plan order (task id, i.e. biggest VM first over
    all sources) and starts every one whose source, target and the
    evacuation have a free slot, as soon as a slot is freed
    (``Executor._fill``; the executor's polling delay is not modelled).
``longest a/b/c``
    The same limits, but each source's migrations longest first, sources
    in order of their longest VM (the order an earlier
    ``estimate_makespan`` assumed; it now follows the executor's).
``waves of 2``
    Lock-step waves, Watcher's default (``parallelization`` of 2 for
    ``migrate`` in its weight planner): at most 2 migrations start
    together, in plan order, and the next wave starts only when both have
    finished.
``fire&forget``
    ``nova host-evacuate-live`` (and ``nova host-servers-migrate`` for
    stopped VMs, which cannot be live-migrated): every migration of a
    source is submitted at t=0. nova-compute on the source runs at most
    ``max_concurrent_live_migrations`` (nova's default: 1) live
    migrations at a time and queues the others in submission order (the
    order nova lists the host's servers; here creation order); cold
    migrations have no such limit and all run at once. There is no limit
    across hosts and none per target.

Time model, the same for every scheduler:

* every migration first spends ``planner.OVERHEAD_SECONDS`` (15 s:
  scheduling, port binding, domain start) holding its slot but moving
  no bytes, then copies ``Move.bytes_total`` (RAM for live, RAM + local
  disks for block, disks for cold, as the planner computes it);
  dirty-page re-sends, compression and failures are not modelled;
* every host has one NIC of B = 1 GB/s (1e9 bytes/s) shared by all the
  migrations copying from or to it (sources and targets of a drain are
  distinct hosts, so it does not matter whether the NIC is full duplex).
  ``--sharing maxmin`` (default): the rates are the max-min fair
  allocation (progressive filling: raise every flow's rate together,
  freeze the flows of a host whose NIC is full, repeat), which is what
  TCP flows roughly converge to; ``--sharing simple``: each copying
  migration gets min(B / n_source, B / n_target), where n_host is the
  number of migrations copying from or to that host (not work-conserving:
  a flow held back by a busy target does not give its share of the
  source's NIC to the others). One stream alone can fill the NIC;
* fluid, event-driven: the rates hold until the next event (an overhead
  ends, a copy ends), when the finished migrations free their slots, the
  scheduler starts new ones and the rates are recomputed.

Lower bounds:

* ``LB`` = max over hosts of (bytes the host must send or receive) / B.
  No scheduler can beat it; the ratio column is makespan / LB;
* ``LB limits`` adds what the scheduler's own concurrency limits force,
  even with no NIC sharing: with at most c migrations at once off a host
  (onto a host, overall), the sum of (overhead + bytes / B) over its
  migrations divided by c (waves of 2: c=2 overall; fire&forget: c=1
  per source, counting its live migrations only). It shows how much of
  the gap to LB is due to the limits themselves rather than to the order
  of the starts.

Scenarios (``synthetic.cloud``, seed 42): 40 hosts / 800 VMs draining 8
onto the other 32; 48 hosts with the 800 VMs on the first 40, draining 8
onto the 8 empty ones (a hardware refresh, where targets are contended);
200 hosts / 4,000 VMs draining 20; 1,000 hosts / 20,000 VMs draining 100.

``peak`` is the largest number of migrations running at once. ``planner
est`` is ``planner.estimate_makespan`` for the engine's limits, with the
policy's per-stream bandwidth set to B: it lets every stream copy at B
however many share a NIC, so it can fall below LB. The check
line runs the ``engine`` order through this simulator with NIC
sharing off (each stream always at the policy's bandwidth, i.e. B) and
prints it beside ``estimate_makespan``: the two must agree.
"""

import argparse
import collections
import sys
import time

from nova_migration_ext.evacuation import inventory
from nova_migration_ext.evacuation import planner
from nova_migration_ext.evacuation import slots as slots_mod

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import synthetic  # noqa: E402

BANDWIDTH = 1e9                      # bytes/s of one host NIC (1 GB/s)
OVERHEAD = planner.OVERHEAD_SECONDS
EPS = 1e-9


class Mig:
    """One migration in the simulation."""

    __slots__ = ('move', 'source', 'target', 'bytes', 'cold', 'left',
                 'ready', 'copying', 'end')

    def __init__(self, move):
        self.move = move
        self.source = move.source
        self.target = move.target
        self.bytes = move.bytes_total
        self.cold = move.method == inventory.METHOD_COLD
        self.left = float(self.bytes)
        self.ready = None
        self.copying = False
        self.end = None


# -- bandwidth sharing -------------------------------------------------------

def rates_maxmin(copying, bandwidth):
    """Max-min fair rates of flows each using two host NICs."""
    rates = [0.0] * len(copying)
    free = collections.defaultdict(lambda: bandwidth)
    active = list(range(len(copying)))
    while active:
        count = collections.Counter()
        for i in active:
            count[copying[i].source] += 1
            count[copying[i].target] += 1
        step = min(free[h] / n for h, n in count.items())
        for i in active:
            rates[i] += step
        full = set()
        for h, n in count.items():
            free[h] -= step * n
            if free[h] <= EPS * bandwidth:
                full.add(h)
        active = [i for i in active if copying[i].source not in full and
                  copying[i].target not in full]
    return rates


def rates_simple(copying, bandwidth):
    """Each flow gets min(B / n_source, B / n_target)."""
    count = collections.Counter()
    for m in copying:
        count[m.source] += 1
        count[m.target] += 1
    return [bandwidth / max(count[m.source], count[m.target])
            for m in copying]


def rates_none(copying, bandwidth):
    """No sharing: every stream copies at the full rate."""
    return [bandwidth] * len(copying)


SHARING = {'maxmin': rates_maxmin, 'simple': rates_simple,
           'none': rates_none}


def simulate(moves, scheduler, sharing, bandwidth=BANDWIDTH,
             overhead=OVERHEAD):
    """Return (makespan seconds, peak concurrency) of *moves*.

    *scheduler* is called as ``scheduler.start(now, finished)`` at t=0 and
    after every event, with the migrations that just finished, and returns
    the migrations to start now.
    """
    migs = [Mig(m) for m in moves]
    scheduler.setup(migs)
    now = 0.0
    running = []
    peak = 0
    finished = []
    while True:
        # Hand the finished migrations back one at a time, like the pops
        # of estimate_makespan, so that ties are broken the same way.
        for batch in [[m] for m in finished] or [[]]:
            for m in scheduler.start(now, batch):
                m.ready = now + overhead
                running.append(m)
        peak = max(peak, len(running))
        if not running:
            break
        for m in running:
            if not m.copying and m.ready - now <= EPS * max(1.0, now):
                m.copying = True
        copying = [m for m in running if m.copying]
        rates = sharing(copying, bandwidth)
        step = float('inf')
        for m in running:
            if not m.copying:
                step = min(step, m.ready - now)
        for m, rate in zip(copying, rates):
            step = min(step, m.left / rate)
        now += step
        for m, rate in zip(copying, rates):
            m.left -= rate * step
        finished = []
        still = []
        for m in running:
            if m.copying and m.left <= 1e-9 * m.bytes + 1.0:
                m.end = now
                finished.append(m)
            else:
                still.append(m)
        running = still
    if any(m.end is None for m in migs):
        raise RuntimeError('%s left migrations unstarted'
                           % type(scheduler).__name__)
    return now, peak


# -- schedulers --------------------------------------------------------------

class Executor:
    """Our executor's ``_fill``: plan order, first with free slots."""

    def __init__(self, policy):
        self.policy = policy

    def label(self):
        p = self.policy
        return 'engine %d/%d/%d' % (p.max_per_source, p.max_per_target,
                                    p.max_total)

    def setup(self, migs):
        self.pending = list(migs)
        self.slots = slots_mod.Slots.for_policy(self.policy)

    def start(self, now, finished):
        for m in finished:
            self.slots.give_back(m.source, m.target)
        started, left = [], []
        for m in self.pending:
            if not self.slots.full and \
                    self.slots.can_start(m.source, m.target):
                self.slots.take(m.source, m.target)
                started.append(m)
            else:
                left.append(m)
        self.pending = left
        return started


class LongestPerSource(Executor):
    """Each source's migrations longest first."""

    def label(self):
        return 'longest' + super().label()[len('engine'):]

    def setup(self, migs):
        self.slots = slots_mod.Slots.for_policy(self.policy)
        self.queues = collections.defaultdict(collections.deque)
        for m in sorted(migs, key=lambda m: -m.move.expected_seconds):
            self.queues[m.source].append(m)

    def start(self, now, finished):
        # Round-robin over the sources, longest first in each.
        slots, queues, started = self.slots, self.queues, []
        for m in finished:
            slots.give_back(m.source, m.target)
        for source in list(queues):
            if slots.full:
                break
            queue = queues[source]
            for _ in range(len(queue)):
                m = queue[0]
                if slots.can_start(m.source, m.target):
                    queue.popleft()
                    slots.take(m.source, m.target)
                    started.append(m)
                    if slots.by_source[source] >= slots.max_per_source:
                        break
                else:
                    queue.rotate(-1)
            if not queue:
                del queues[source]
        return started


class Waves:
    """Lock-step waves: the next wave when the whole wave is done."""

    def __init__(self, size=2):
        self.size = size

    def label(self):
        return 'waves of %d' % self.size

    def setup(self, migs):
        self.pending = collections.deque(migs)
        self.running = 0

    def start(self, now, finished):
        self.running -= len(finished)
        if self.running:
            return []
        wave = [self.pending.popleft()
                for _ in range(min(self.size, len(self.pending)))]
        self.running = len(wave)
        return wave


class FireAndForget:
    """Everything submitted at once; nova-compute queues live ones."""

    def __init__(self, per_source=1):
        self.per_source = per_source

    def label(self):
        return 'fire&forget'

    def setup(self, migs):
        self.queues = collections.defaultdict(collections.deque)
        self.cold = []
        for m in sorted(migs, key=lambda m: _creation_order(
                m.move.server_name)):
            if m.cold:
                self.cold.append(m)
            else:
                self.queues[m.source].append(m)
        self.live = collections.Counter()

    def start(self, now, finished):
        started, self.cold = self.cold, []
        for m in finished:
            if not m.cold:
                self.live[m.source] -= 1
        for source, queue in self.queues.items():
            while queue and self.live[source] < self.per_source:
                started.append(queue.popleft())
                self.live[source] += 1
        return started


def _creation_order(name):
    return int(name.rsplit('-', 1)[1])


# -- lower bounds ------------------------------------------------------------

def lower_bound(moves, bandwidth=BANDWIDTH):
    per_host = collections.Counter()
    for m in moves:
        per_host[m.source] += m.bytes_total
        per_host[m.target] += m.bytes_total
    return max(per_host.values()) / bandwidth


def limits_bound(moves, per_source, per_target, total, live_only=False,
                 bandwidth=BANDWIDTH, overhead=OVERHEAD):
    """Time forced by concurrency limits alone (None = no limit)."""
    busy_src = collections.Counter()
    busy_dst = collections.Counter()
    busy = 0.0
    for m in moves:
        if live_only and m.method == inventory.METHOD_COLD:
            continue
        t = overhead + m.bytes_total / bandwidth
        busy_src[m.source] += t
        busy_dst[m.target] += t
        busy += t
    bounds = [lower_bound(moves, bandwidth)]
    if per_source:
        bounds.append(max(busy_src.values()) / per_source)
    if per_target:
        bounds.append(max(busy_dst.values()) / per_target)
    if total:
        bounds.append(busy / total)
    return max(bounds)


# -- the benchmark -----------------------------------------------------------

LIMITS = ((2, 2, 8), (4, 4, 64))


def policy_for(limits):
    per_source, per_target, total = limits
    return inventory.Policy(allow_downtime=True, max_per_source=per_source,
                            max_per_target=per_target, max_total=total,
                            bandwidth_mb_per_s=BANDWIDTH / 1e6)


def scenario(title, hosts, servers, sources, targets, sharing, rows):
    started = time.perf_counter()
    plan = planner.Planner(hosts, servers, policy_for(LIMITS[0])).plan(
        sources, targets)
    moves = plan.moves
    lb = lower_bound(moves)
    totals = plan.totals()
    print('%s: %d moves (%s), %d unplaceable, %.1f TB, planned in %.2f s; '
          'LB %.2f h' % (title, totals['moves'], ', '.join(
              '%d %s' % (n, k) for k, n in sorted(
                  totals['by_method'].items())),
              totals['unplaceable'], totals['bytes'] / 1e12,
              time.perf_counter() - started, lb / 3600))
    runs = []
    for limits in LIMITS:
        policy = policy_for(limits)
        estimate = planner.estimate_makespan(moves, policy)
        bound = limits_bound(moves, *limits)
        runs.append((Executor(policy), bound, estimate))
        runs.append((LongestPerSource(policy), bound, estimate))
    runs.append((Waves(2), limits_bound(moves, None, None, 2), None))
    runs.append((FireAndForget(1), limits_bound(moves, 1, None, None,
                                                live_only=True), None))
    for scheduler, bound, estimate in runs:
        makespan, peak = simulate(moves, scheduler, SHARING[sharing])
        rows.append((title, scheduler.label(), makespan / 3600, makespan / lb,
                     bound / 3600, peak,
                     '%.2f' % (estimate / 3600) if estimate else '-'))
    policy = policy_for(LIMITS[0])
    check, _peak = simulate(moves, Executor(policy), rates_none)
    print('  check (sharing off, engine %d/%d/%d): simulator %.3f h, '
          'estimate_makespan %.3f h' % (LIMITS[0] + (
              check / 3600, planner.estimate_makespan(moves, policy) / 3600)))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sharing', choices=('maxmin', 'simple'),
                        default='maxmin',
                        help='how migrations share a host NIC')
    args = parser.parse_args(argv[1:])
    started = time.perf_counter()
    print('B = %.0f GB/s per host NIC, %.0f s overhead per migration, '
          'sharing: %s' % (BANDWIDTH / 1e9, OVERHEAD, args.sharing))
    rows = []
    hosts, servers, sources = synthetic.cloud(40, 800, 8)
    scenario('40 hosts/800 VMs, drain 8 onto 32', hosts, servers, sources,
             None, args.sharing, rows)
    hosts, servers, sources = synthetic.cloud(48, 800, 8, loaded_hosts=40)
    scenario('48 hosts/800 VMs, 8 onto 8 new', hosts, servers, sources,
             [h.name for h in hosts[40:]], args.sharing, rows)
    hosts, servers, sources = synthetic.cloud(200, 4000, 20)
    scenario('200 hosts/4000 VMs, drain 20 onto 180', hosts, servers,
             sources, None, args.sharing, rows)
    hosts, servers, sources = synthetic.cloud(1000, 20000, 100)
    scenario('1000 hosts/20000 VMs, drain 100 onto 900', hosts, servers,
             sources, None, args.sharing, rows)
    header = ('scenario', 'scheduler', 'makespan h', 'x LB', 'LB limits h',
              'peak', 'planner est h')
    widths = [max(len(header[0]), max(len(r[0]) for r in rows)), 18, 10, 6,
              11, 5, 13]
    line = '  '.join('%-*s' % (w, h) for w, h in zip(widths, header))
    print()
    print(line)
    print('-' * len(line))
    for title, label, hours, ratio, bound, peak, estimate in rows:
        print('%-*s  %-18s  %10.2f  %6.2f  %11.2f  %5d  %13s'
              % (widths[0], title, label, hours, ratio, bound, peak,
                 estimate))
    print()
    print('wall time %.1f s' % (time.perf_counter() - started))


if __name__ == '__main__':
    main(sys.argv)
