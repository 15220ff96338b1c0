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
"""How long a drain takes: a fluid model of migrations sharing host links.

The plan's ETA and ``benchmarks/drain_makespan.py`` both run it, with the
executor's own scheduler (:mod:`.scheduling`) deciding when each
migration starts. What it models, per migration:

* a setup time (scheduling, claims, port binding, domain definition)
  that holds the migration's slot but moves no bytes;
* then a copy of ``Job.bytes`` sharing the link of its source and of its
  target with every other copy on them; a copy never runs faster than its
  own cap (the copy tool's speed for a cold copy, the operator's bandwidth
  cap for a live one);
* a live or block migration re-sends what its guest dirties meanwhile: at
  rate r against a dirty rate d it advances at r - d, so it never ends
  while r <= d. nova then gives up at ``live_migration_completion_timeout``
  (800 s per GiB of data by default) and the VM stays where it was: the
  migration is handed back to the scheduler as a retry;
* sharing: ``local`` gives each copy min(link_s / n_s, link_t / n_t,
  cap), n_h the copies on host h (cheap: only the copies on the hosts an
  event touches change rate, so a 20,000-VM plan is estimated in
  seconds); ``maxmin`` gives the max-min fair rates TCP flows tend to
  (every copy's rate recomputed at every event; for the benchmark).

Not modelled: failures other than non-convergence, the control plane's
own limits, storage contention beyond the cold copy's cap.
"""

import collections
import dataclasses
import heapq
import itertools
import math

OVERHEAD_SECONDS = 15.0          # setup of one migration, measured in doc/
DEFAULT_DIRTY_BYTES_PER_S = 10e6  # a running guest whose rate is unknown
COLD_COPY_BYTES_PER_S = 500e6    # our verified copy over ssh (AES-GCM)
COMPLETION_TIMEOUT_PER_GIB = 800.0   # nova's default
MiB = 1024 ** 2
GiB = 1024 ** 3
COLD = 'cold'
_EPS = 1e-9


@dataclasses.dataclass(eq=False)
class Job:
    """One migration as the model and the scheduler see it.

    :param dirty: bytes per second its guest dirties (live and block
        migrations re-send them; 0 for a stopped VM or a cold copy).
    :param cap: bytes per second it cannot exceed, or None.
    :param memory: of *bytes*, the guest's memory, sent last and re-sent
        as it is dirtied; the rest (local disks) goes first, once. None:
        all of *bytes*.
    :param starts_guest: its setup starts a guest on the target (a live
        or block migration, a cold one of a running VM); only such setups
        count against ``setup_parallelism``. A stopped VM's cold move
        defines its domain there and waits on nova's steps.
    """

    key: object
    source: str
    target: str
    method: str
    bytes: float
    dirty: float = 0.0
    cap: float | None = None
    setup: float | None = None     # None: the model's setup time
    memory: float | None = None
    starts_guest: bool = True
    re_sends: bool = dataclasses.field(init=False, default=False)

    def __post_init__(self):
        self.re_sends = self.method != COLD and self.dirty > 0


@dataclasses.dataclass
class Result:
    makespan: float
    peak: int                 # most migrations at once
    ends: dict                # Job.key -> second it ended
    aborted: int              # migrations nova gave up on (then retried)
    bytes_sent: float


class _Flow:
    __slots__ = ('job', 'setup_left', 'setup_rate', 'deadline', 'left',
                 'rate', 'since', 'version', 'copying', 'timeout', 'order')

    def __init__(self, job, now, overhead, timeout_per_gib, order):
        self.job = job
        self.order = order          # ties are broken by start order
        self.setup_left = overhead if job.setup is None else job.setup
        self.setup_rate = 1.0
        self.timeout = timeout_per_gib * max(
            job.bytes / GiB, 1.0) if job.re_sends else math.inf
        self.deadline = math.inf
        self.left = float(job.bytes)
        self.rate = 0.0
        self.since = now
        self.version = 0
        self.copying = False

    def settle_setup(self, now):
        self.setup_left -= self.setup_rate * (now - self.since)
        self.since = now

    def ready_time(self):
        return self.since + max(self.setup_left, 0.0) / self.setup_rate

    def progress(self):
        """Bytes of the memory done per second at the current rate."""
        return self.rate - (self.job.dirty if self.job.re_sends else 0.0)

    def _memory(self):
        memory = self.job.memory
        return self.left if memory is None else min(memory, self.left)

    def settle(self, now):
        """Bring ``left`` up to *now*; returns the bytes sent meanwhile."""
        elapsed = now - self.since
        self.since = now
        if elapsed <= 0 or not self.copying or self.rate <= 0:
            return 0.0
        sent = self.rate * elapsed
        disks = self.left - self._memory()
        if disks > 0:               # the disks first, at the full rate
            spent = min(elapsed, disks / self.rate)
            self.left -= self.rate * spent
            elapsed -= spent
        self.left -= max(self.progress(), 0.0) * elapsed
        return sent

    def end_time(self):
        if self.rate <= 0:
            return self.deadline
        memory = self._memory()
        step = self.progress()
        finish = self.since + (self.left - memory) / self.rate + (
            memory / step if step > 0 else (math.inf if memory > 0 else 0))
        return min(finish, self.deadline)


def _cap(job, rate):
    return min(rate, job.cap) if job.cap else rate


def rates_local(flows, links, count):
    """min(link_s / n_s, link_t / n_t, cap) for each of *flows*.

    :param count: host -> copies on it (all of them, not only *flows*).
    """
    return [_cap(f.job, min(links(f.job.source) / count[f.job.source],
                            links(f.job.target) / count[f.job.target]))
            for f in flows]


def rates_maxmin(flows, links, count=None):
    """Max-min fair rates of all copying *flows*, caps respected.

    Progressive filling: raise every rate together, freeze the flows of a
    full link or at their cap, repeat. (*count* is not needed: every
    copying flow is given, and the filling counts them itself.)
    """
    rates = [0.0] * len(flows)
    free = {}
    for f in flows:
        for h in (f.job.source, f.job.target):
            free.setdefault(h, links(h))
    active = list(range(len(flows)))
    while active:
        growing = collections.Counter()     # host -> flows still growing
        for i in active:
            growing[flows[i].job.source] += 1
            growing[flows[i].job.target] += 1
        step = min(free[h] / n for h, n in growing.items())
        for i in active:
            cap = flows[i].job.cap
            if cap:
                step = min(step, cap - rates[i])
        step = max(step, 0.0)
        for i in active:
            rates[i] += step
        full = set()
        for h, n in growing.items():
            free[h] -= step * n
            if free[h] <= _EPS * links(h):
                full.add(h)
        active = [i for i in active
                  if flows[i].job.source not in full and
                  flows[i].job.target not in full and
                  not (flows[i].job.cap and
                       rates[i] >= flows[i].job.cap * (1 - _EPS))]
    return rates


SHARING = {'local': rates_local, 'maxmin': rates_maxmin}


def simulate(jobs, scheduler, links, sharing='local',
             overhead=OVERHEAD_SECONDS,
             timeout_per_gib=COMPLETION_TIMEOUT_PER_GIB, max_aborts=3,
             under_way=(), setup_parallelism=None):
    """Run *jobs* under *scheduler*; returns a :class:`Result`.

    :param scheduler: has ``start(now)`` -> jobs to start now, and
        ``ended(job, done)``; it is given *jobs* when made.
    :param under_way: jobs of *jobs* already running at t=0 (the
        scheduler counts them as running).
    :param links: host -> bytes per second of its link.
    :param max_aborts: attempts nova gives up on before the model stops
        retrying a job (it then counts as ended where it was).
    :param setup_parallelism: setups that start a guest a target host
        runs at full speed at once; more share it (n setups each at
        P / n). None: no limit.
    """
    share = SHARING[sharing]
    now = 0.0
    running = {}                       # job -> flow
    by_host = collections.defaultdict(set)
    copying_on = collections.Counter()
    setting_up = collections.defaultdict(set)     # target -> flows
    events = []                        # (time, seq, version, flow)
    seq = itertools.count()
    started = itertools.count()
    ends, aborts = {}, collections.Counter()
    peak = 0
    sent = 0.0

    def schedule(flow):
        flow.version += 1
        when = flow.ready_time() if not flow.copying else flow.end_time()
        if when < math.inf:
            heapq.heappush(events, (when, next(seq), flow.version, flow))

    def reshare(hosts):
        nonlocal sent
        if sharing == 'local':
            flows = {f for h in hosts for f in by_host[h] if f.copying}
        else:
            flows = {f for f in running.values() if f.copying}
        flows = sorted(flows, key=lambda f: f.order)
        for flow, rate in zip(flows, share(flows, links, copying_on)):
            sent += flow.settle(now)
            flow.rate = rate
            schedule(flow)

    def reshare_setups(target):
        flows = setting_up[target]
        rate = 1.0
        if setup_parallelism and len(flows) > setup_parallelism:
            rate = setup_parallelism / len(flows)
        for flow in sorted(flows, key=lambda f: f.order):
            flow.settle_setup(now)
            flow.setup_rate = rate
            schedule(flow)

    def start_new(jobs=None):
        nonlocal peak
        targets = set()
        for job in (scheduler.start(now) if jobs is None else jobs):
            flow = _Flow(job, now, overhead, timeout_per_gib, next(started))
            running[job] = flow
            for h in (job.source, job.target):
                by_host[h].add(flow)
            if job.starts_guest:
                setting_up[job.target].add(flow)
                targets.add(job.target)
            schedule(flow)
        for target in sorted(targets):
            reshare_setups(target)
        peak = max(peak, len(running))

    start_new(list(under_way))
    start_new()
    while events:
        when, _s, version, flow = heapq.heappop(events)
        if version != flow.version or flow.job not in running:
            continue
        now = when
        job = flow.job
        if not flow.copying:
            flow.copying = True
            flow.since = now
            flow.deadline = now + flow.timeout
            setting_up[job.target].discard(flow)
            reshare_setups(job.target)
            copying_on[job.source] += 1
            copying_on[job.target] += 1
            reshare((job.source, job.target))
            continue
        sent += flow.settle(now)
        done = flow.left <= 1e-6 * max(job.bytes, 1.0) + 1.0
        del running[job]
        for h in (job.source, job.target):
            by_host[h].discard(flow)
            copying_on[h] -= 1
        if done:
            ends[job.key] = now
        else:
            aborts[job.key] += 1
            if aborts[job.key] >= max_aborts:
                ends[job.key] = now
                done = True
        scheduler.ended(job, done)
        reshare((job.source, job.target))
        start_new()
    if len(ends) != len(jobs):
        raise RuntimeError('%d of %d migrations never started'
                           % (len(jobs) - len(ends), len(jobs)))
    return Result(max(ends.values(), default=0.0), peak, ends,
                  sum(aborts.values()), sent)


def lower_bound(jobs, links):
    """Seconds no scheduler can beat: the busiest link's bytes / speed."""
    per_host = collections.Counter()
    for job in jobs:
        per_host[job.source] += job.bytes
        per_host[job.target] += job.bytes
    return max((b / links(h) for h, b in per_host.items()), default=0.0)
