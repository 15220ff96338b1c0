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
"""When each migration of a drain starts: the executor's scheduler.

The executor asks it at every pass, and the drain model
(:mod:`.drain_model`) at every event, so the plan's ETA follows the same
decisions. Three rules:

* **Limits derived from the drain** where the operator set none. Per
  source: enough copies to fill the source's budget where each is held
  back by its target or its copy tool, plus enough that one's setup
  overlaps another's copy, so the source never idles (source budget /
  the median copy's speed alone + setup time / the median copy's time
  alone, at most 3 of those, between 2 and 8 in all). Per target: the
  sources' migrations spread over the targets (between 2 and 8).
  Overall: none; each host's budget is the limit that matters, not a
  number for the whole cloud: the slower of its link and its disk (read
  on a source, write on a target, as its compute measured them). A
  limit the operator set always wins.
* **Longest remaining work first**: sources are served in the order of
  the bytes they still have to send, and each source sends its biggest
  VM first, so that every source stays busy to the end and no source is
  left alone with its biggest VM.
* **No live migration that cannot converge**: a migration starts only if
  its share of both links (the link divided among the copies it would
  then share it with) is at least ``CONVERGENCE_MARGIN`` times the highest
  dirty rate among the live and block migrations there, its own included:
  neither it nor one already running is starved below what its guest
  dirties. Otherwise it waits for the links to clear; alone on both hosts
  it always starts.
"""

import collections
import dataclasses
import math

from nova_migration_ext.engine import drain_model

CONVERGENCE_MARGIN = 2.0
PER_SOURCE_RANGE = (2, 8)
# Migrations in setup beside a source's copies: short copies need more
# to hide their setups, but setups load the control plane, not links.
MAX_HIDING_SETUPS = 3
PER_TARGET_RANGE = (2, 8)


@dataclasses.dataclass(frozen=True)
class Limits:
    """Concurrency limits in force; ``total`` None means no overall one."""

    per_source: int
    per_target: int
    total: int | None
    derived: tuple = ()       # names of the limits derived from the drain

    def to_dict(self):
        return dict(dataclasses.asdict(self), derived=list(self.derived))


def limits_from_dict(data, policy):
    """Limits stored with a plan; a limit the policy now sets wins."""
    return Limits(policy.max_per_source or data['per_source'],
                  policy.max_per_target or data['per_target'],
                  policy.max_total, tuple(data.get('derived') or ()))


def link_lookup(links, policy, disks=None):
    """host -> bytes per second it can move: its budget.

    Its link (*links*, else the policy's default), or its disk where
    *disks* knows it slower: a drain's bytes cross both.
    """
    default = policy.bandwidth_mb_per_s * 1e6
    links, disks = links or {}, disks or {}

    def budget(host):
        return min(links.get(host) or default, disks.get(host) or math.inf)
    return budget


def for_plan(plan_summary, policy):
    """(links, limits) a stored plan runs under; limits None: derive them.

    :param plan_summary: an evacuation's ``plan_summary`` (its ``links``,
        ``disks`` and ``limits``), or None.
    """
    summary = plan_summary or {}
    limits = summary.get('limits')
    return (link_lookup(summary.get('links'), policy, summary.get('disks')),
            limits_from_dict(limits, policy) if limits else None)


def assumed_dirty(measured, status):
    """Bytes per second a guest dirties, as the scheduler assumes it.

    *measured* where its host measured it, a default for a running guest
    that was not measured, nothing for a stopped one.
    """
    if status != 'ACTIVE':
        return 0.0
    if measured is None:
        return drain_model.DEFAULT_DIRTY_BYTES_PER_S
    return measured


def stream_cap(policy, method):
    """Bytes per second one migration cannot exceed, or None.

    A cold copy is bound by the copy tool; a live one by the operator's
    cap, if any.
    """
    if method == drain_model.COLD:
        return drain_model.COLD_COPY_BYTES_PER_S
    if policy.max_bandwidth_mib_per_s:
        return policy.max_bandwidth_mib_per_s * drain_model.MiB
    return None


def job(key, source, target, method, nbytes, dirty, policy, memory=None):
    """The :class:`drain_model.Job` of one migration under *policy*.

    :param memory: of *nbytes*, the guest's memory (re-sent as it is
        dirtied); None: all of them.
    """
    cold = method == drain_model.COLD
    return drain_model.Job(key, source, target, method, float(nbytes or 0),
                           0.0 if cold else float(dirty or 0.0),
                           stream_cap(policy, method),
                           memory=None if memory is None else float(memory))


def estimate(jobs, policy, links, limits=None, under_way=()):
    """Simulate the drain of *jobs* under this scheduler.

    :param under_way: jobs already running (their setup done or not).
    :returns: (:class:`drain_model.Result`, :class:`Limits`).
    """
    scheduler = Scheduler(policy, jobs, links, limits)
    for job in under_way:
        scheduler.running(job)
    return (drain_model.simulate(jobs, scheduler, links,
                                 under_way=under_way), scheduler.limits)


def _clamp(value, bounds):
    return max(bounds[0], min(bounds[1], value))


def _alone(job, links):
    """Bytes per second *job* copies alone on its hosts."""
    return min(links(job.source), links(job.target), job.cap or math.inf)


def _median(values, empty):
    values = sorted(values)
    return values[len(values) // 2] if values else empty


def _streams_to_fill(jobs, links):
    """Copies a source needs at once to fill its budget (median).

    One where a copy alone fills it; more where each is held back by its
    target's budget or its copy tool.
    """
    return math.ceil(_median((links(j.source) / _alone(j, links)
                              for j in jobs), 1.0) - 1e-9)


def _median_copy_seconds(jobs, links):
    return _median((j.bytes / _alone(j, links) for j in jobs),
                   drain_model.OVERHEAD_SECONDS)


def limits_for(policy, jobs, links, overhead=drain_model.OVERHEAD_SECONDS):
    """The limits of a drain: the operator's, or derived from *jobs*."""
    derived = []
    per_source = policy.max_per_source
    if per_source is None:
        hiding_setups = min(math.ceil(overhead / max(
            _median_copy_seconds(jobs, links), 1.0)), MAX_HIDING_SETUPS)
        per_source = _clamp(_streams_to_fill(jobs, links) + hiding_setups,
                            PER_SOURCE_RANGE)
        derived.append('per_source')
    per_target = policy.max_per_target
    if per_target is None:
        sources = len({j.source for j in jobs}) or 1
        targets = len({j.target for j in jobs}) or 1
        per_target = _clamp(math.ceil(per_source * sources / targets),
                            PER_TARGET_RANGE)
        derived.append('per_target')
    return Limits(per_source, per_target, policy.max_total, tuple(derived))


class Scheduler:
    """Chooses which waiting migrations start now.

    :param jobs: every migration of the drain not yet ended, as
        :class:`drain_model.Job`, waiting ones in plan order.
    :param links: host -> bytes per second of its migration link.
    """

    def __init__(self, policy, jobs, links, limits=None):
        self.links = links
        self.limits = limits or limits_for(policy, jobs, links)
        self.queues = collections.defaultdict(list)
        self.remaining = collections.Counter()
        self.running_on = collections.defaultdict(list)
        self.total = 0
        for job in jobs:
            self.queues[job.source].append(job)
            self.remaining[job.source] += job.bytes
        for queue in self.queues.values():
            queue.sort(key=lambda j: -j.bytes)     # stable: plan order
        self._to_visit = set(self.queues)
        self._waiting_on = collections.defaultdict(set)   # host -> sources
        self._held_by_total = set()

    # -- what runs ----------------------------------------------------------

    def running(self, job):
        """*job* already runs (the executor found it so)."""
        self.queues[job.source].remove(job)
        self._take(job)

    def _take(self, job):
        self.running_on[job.source].append(job)
        self.running_on[job.target].append(job)
        self.total += 1

    def ended(self, job, done=True):
        """*job* ended; if not *done* it waits again to be retried."""
        self.running_on[job.source].remove(job)
        self.running_on[job.target].remove(job)
        self.total -= 1
        if done:
            self.remaining[job.source] -= job.bytes
        else:
            self.queues[job.source].append(job)
        self._to_visit.add(job.source)
        for host in (job.source, job.target):
            self._to_visit |= self._waiting_on.pop(host, set())
        self._to_visit |= self._held_by_total
        self._held_by_total = set()

    # -- what starts --------------------------------------------------------

    def start(self, now=None):
        """The migrations to start now, in order; they count as running."""
        limits = self.limits
        started = []
        order = sorted(self._to_visit,
                       key=lambda s: (-self.remaining[s], s))
        self._to_visit = set()
        for source in order:
            queue = self.queues.get(source)
            while queue and len(self.running_on[source]) < \
                    limits.per_source:
                if limits.total is not None and self.total >= limits.total:
                    self._held_by_total.add(source)
                    break
                job = self._first_startable(source, queue)
                if job is None:
                    break
                queue.remove(job)
                self._take(job)
                started.append(job)
        return started

    def _first_startable(self, source, queue):
        for job in queue:
            blocker = self._blocker(job)
            if blocker is None:
                return job
            self._waiting_on[blocker].add(source)
        return None

    def _blocker(self, job):
        """The host that keeps *job* from starting now, or None."""
        running_on = self.running_on
        if len(running_on[job.target]) >= self.limits.per_target:
            return job.target
        own = job.dirty if job.re_sends else 0.0
        for host in (job.source, job.target):
            others = running_on[host]
            if not others:
                continue
            dirtiest = own
            for other in others:
                if other.re_sends and other.dirty > dirtiest:
                    dirtiest = other.dirty
            if dirtiest and self.links(host) / (len(others) + 1) < \
                    CONVERGENCE_MARGIN * dirtiest:
                return host
        return None

    def idle(self):
        """Whether nothing runs and nothing can start."""
        return self.total == 0 and not any(self.queues.values())
