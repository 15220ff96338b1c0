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
"""The planner: which VM goes where, how, and how long it will take.

A dry run is the plan itself: nothing is changed until the plan is
started. Destinations are chosen from real capacity (vCPU, RAM, disk),
server-group (anti-)affinity, hypervisor versions and balance, preferring
targets that already hold the VM's base image; the cheap prechecks of the
driver run on each choice and their verdicts are part of the plan.
"""

import collections
import dataclasses
import heapq
import math

from oslo_config import cfg

from nova_migration_ext import conf as ext_conf
from nova_migration_ext.contract import drains
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.engine import drain_model
from nova_migration_ext.engine import scheduling
from nova_migration_ext.prechecks import base
from nova_migration_ext.prechecks import disk_fit
from nova_migration_ext.prechecks import hypervisor_version
from nova_migration_ext.prechecks import shared_volumes

MOVABLE = ('ACTIVE', 'SHUTOFF')
OVERHEAD_SECONDS = drain_model.OVERHEAD_SECONDS
# Downtime a running VM's guest sees, for the plan: a live switch-over;
# for a cold move, the power-off and the boot on the target plus the copy
# while it is down (the whole disk, or with a two-phase copy the share it
# rewrites meanwhile, TWO_PHASE_REWRITE, and the read-back that verifies
# the copy on both hosts, at VERIFY_RATE). benchmarks/cold_copy.py
# measures what these stand for.
LIVE_DOWNTIME_SECONDS = 1.0
POWER_CYCLE_SECONDS = 10.0
TWO_PHASE_REWRITE = 0.02
VERIFY_RATE = 1e9         # bytes/s read back and hashed
CANDIDATES = 4            # fitting targets compared for a base image


class PlanError(ValueError):
    """The request cannot be planned; the message says what to fix."""


@dataclasses.dataclass
class Move:
    server_id: str
    server_name: str
    project_id: str
    source: str
    status: str
    method: str
    target: str
    bytes_total: int
    expected_seconds: float
    verdicts: list
    expected_downtime_seconds: float = 0.0
    dirty_bytes_per_s: float = 0.0
    memory_bytes: int = 0

    def task_fields(self):
        return {'server_id': self.server_id,
                'server_name': self.server_name,
                'project_id': self.project_id,
                'source_host': self.source,
                'original_status': self.status,
                'method': self.method, 'target_host': self.target,
                'bytes_total': self.bytes_total,
                'expected_seconds': self.expected_seconds,
                'dirty_bytes_per_s': self.dirty_bytes_per_s,
                'memory_bytes': self.memory_bytes,
                'verdicts': self.verdicts}


@dataclasses.dataclass
class Unplaceable:
    server_id: str
    server_name: str
    source: str
    status: str
    reason: str


@dataclasses.dataclass
class Plan:
    """The moves, what cannot move, and how the drain is expected to run.

    :param links: host -> bytes per second of its migration link, for the
        hosts of the moves.
    :param disks: host -> bytes per second its disk reads (a source) or
        writes (a target), where measured.
    :param limits: the :class:`scheduling.Limits` the drain runs under.
    """

    moves: list
    unplaceable: list
    makespan_seconds: float
    links: dict = dataclasses.field(default_factory=dict)
    limits: scheduling.Limits | None = None
    disks: dict = dataclasses.field(default_factory=dict)

    def to_resource(self, with_moves=False):
        """This plan as the API shows it: a :class:`~.drains.Plan`.

        :param with_moves: list each move (a dry run); a stored drain's
            moves are its tasks.
        """
        moves = None
        if with_moves:
            moves = [drains.Move(
                server_id=m.server_id, name=m.server_name, source=m.source,
                target=m.target, method=m.method, status=m.status,
                project_id=m.project_id, bytes=m.bytes_total,
                expected_seconds=m.expected_seconds,
                expected_downtime_seconds=m.expected_downtime_seconds,
                verdicts=[list(v) for v in m.verdicts or ()])
                for m in self.moves]
        return drains.Plan(
            vms=len(self.moves) + len(self.unplaceable),
            by_method=dict(collections.Counter(m.method for m in self.moves)),
            bytes=sum(m.bytes_total for m in self.moves),
            estimated_seconds=round(self.makespan_seconds),
            limits=drains.Limits.from_dict(self.limits.to_dict())
            if self.limits else None,
            unplaceable=[drains.Unplaceable(
                server_id=u.server_id, name=u.server_name, source=u.source,
                status=u.status, reason=u.reason) for u in self.unplaceable],
            moves=moves)


class _Target:
    """A target host with what remains free once the planned VMs land."""

    __slots__ = ('host', 'free_vcpus', 'free_ram', 'free_disk', 'version',
                 '_totals')

    def __init__(self, host):
        self.host = host
        vcpus = host.vcpus * host.cpu_allocation_ratio
        ram = host.memory_mb * host.ram_allocation_ratio
        self.free_vcpus = vcpus - host.vcpus_used
        self.free_ram = ram - host.memory_mb_used
        self.free_disk = host.disk_free_bytes
        self._totals = (vcpus or 1, ram or 1,
                        host.disk_free_bytes or 1)
        self.version = 0

    def key(self):
        """Heap key: the emptiest host by its scarcest resource first."""
        vcpus, ram, disk = self._totals
        return -min(self.free_vcpus / vcpus, self.free_ram / ram,
                    self.free_disk / disk)

    def disk_needed(self, server, source):
        """Disk a VM takes here: none when both hosts share storage."""
        if source.shared_storage and \
                source.shared_storage == self.host.shared_storage:
            return 0
        return server.disk_bytes

    def fits(self, server, source):
        return (self.free_vcpus >= server.vcpus and
                self.free_ram >= server.memory_mb and
                self.free_disk >= self.disk_needed(server, source))

    def take(self, server, source):
        self.free_disk -= self.disk_needed(server, source)
        self.free_vcpus -= server.vcpus
        self.free_ram -= server.memory_mb
        self.version += 1


def _checks_conf():
    conf = cfg.ConfigOpts()
    ext_conf.register_opts(conf)
    conf([], project='nova-migration-ext')
    return conf


class Planner:
    """Build a :class:`Plan` from an inventory snapshot."""

    def __init__(self, hosts, servers, policy):
        self.hosts = {h.name: h for h in hosts}
        self.servers = list(servers)
        self.policy = policy
        conf = _checks_conf()
        self._checks = [disk_fit.DiskFit(conf),
                        hypervisor_version.HypervisorVersion(conf),
                        shared_volumes.SharedVolumes(conf)]

    def validate(self, sources, targets, busy_hosts=()):
        """Raise :class:`PlanError` for bad input; change nothing."""
        try:
            self.policy.validate()
        except ValueError as exc:
            raise PlanError(str(exc))
        if not sources:
            raise PlanError('Name at least one source host.')
        unknown = sorted((set(sources) | set(targets or ())) -
                         self.hosts.keys())
        if unknown:
            raise PlanError(
                'Unknown host(s) %s. Known compute hosts: %s.'
                % (', '.join(unknown),
                   ', '.join(sorted(self.hosts)[:20]) +
                   (' …' if len(self.hosts) > 20 else '')))
        both = sorted(set(sources) & set(targets or ()))
        if both:
            raise PlanError('Host(s) %s are listed as source and as target; '
                            'a host being emptied cannot receive VMs.'
                            % ', '.join(both))
        busy = sorted((set(sources) | set(targets or ())) & set(busy_hosts))
        if busy:
            raise PlanError('Host(s) %s are already being emptied by another '
                            'evacuation; finish or cancel it first, or leave '
                            'them out.' % ', '.join(busy))

    def plan(self, sources, targets=None, busy_hosts=()):
        """Plan moving every VM off *sources* onto *targets*.

        *targets* defaults to every other enabled host.
        """
        self.validate(sources, targets, busy_hosts)
        sources = set(sources)
        if targets is None:
            targets = [n for n in self.hosts
                       if n not in sources and n not in set(busy_hosts)]
        pool = {n: _Target(self.hosts[n]) for n in targets
                if self.hosts[n].enabled and self.hosts[n].up}
        heap = [(t.key(), t.version, n) for n, t in pool.items()]
        heapq.heapify(heap)
        group_hosts = collections.defaultdict(set)
        affinity_host = {}
        moving = [s for s in self.servers if s.host in sources]
        for server in self.servers:
            if server.host not in sources:
                for group, rule in server.server_groups:
                    group_hosts[group].add(server.host)
                    if rule == 'affinity':
                        affinity_host[group] = server.host
        moves, unplaceable = [], []
        # Biggest first: best-fit decreasing packs tightest.
        for server in sorted(moving, key=lambda s: (-s.memory_mb,
                                                    -s.disk_bytes, s.id)):
            why = self._unmovable(server)
            if why:
                unplaceable.append(self._unplaceable(server, why))
                continue
            target = self._choose(server, pool, heap, group_hosts,
                                  affinity_host)
            if target is None:
                unplaceable.append(self._unplaceable(
                    server, self._no_target_reason(server, pool)))
                continue
            method, refusal = self._method(server, target.host)
            if method is None:
                unplaceable.append(self._unplaceable(server, refusal))
                continue
            target.take(server, self.hosts[server.host])
            heapq.heappush(heap, (target.key(), target.version,
                                  target.host.name))
            for group, rule in server.server_groups:
                group_hosts[group].add(target.host.name)
                if rule == 'affinity':
                    affinity_host.setdefault(group, target.host.name)
            moves.append(self._move(server, target.host, method))
        links, disks = self._budgets(moves)
        estimate = drain_estimate(moves, self.policy, links, disks)
        return Plan(moves, unplaceable, estimate.makespan, links,
                    estimate.limits, disks)

    def _budgets(self, moves):
        """(links, disks) of the hosts of *moves*, where known.

        A source's disk reads, a target's writes.
        """
        links, disks = {}, {}
        roles = [(m.source, 'disk_read_bytes_per_s') for m in moves] + \
            [(m.target, 'disk_write_bytes_per_s') for m in moves]
        for name, disk_speed in roles:
            host = self.hosts[name]
            if host.link_bytes_per_s:
                links[name] = host.link_bytes_per_s
            if getattr(host, disk_speed):
                disks[name] = getattr(host, disk_speed)
        return links, disks

    def _unmovable(self, server):
        if server.status not in MOVABLE:
            return ('status %s: bring it to ACTIVE or SHUTOFF first '
                    '("openstack drain remedy list" proposes how)'
                    % server.status)
        if server.task_state:
            return 'task %s in progress' % server.task_state
        if self.policy.method == 'live' and server.status == 'SHUTOFF':
            return 'stopped, so only a cold migration can move it, and the ' \
                   'policy is live only'
        if (self.policy.method == 'cold' and server.status == 'ACTIVE' and
                not self.policy.downtime_allowed(server)):
            return 'the policy is cold only but allows no downtime for it'
        return None

    def _method(self, server, target):
        """(method, None), or (None, why no method is allowed)."""
        if server.status == 'SHUTOFF' or self.policy.method == 'cold':
            return drain_policy.METHOD_COLD, None
        source = self.hosts[server.host]
        cold_allowed = self.policy.method == 'auto' and \
            self.policy.downtime_allowed(server)
        if server.volumes and self.policy.tunnelled and \
                not (source.shared_storage and
                     source.shared_storage == target.shared_storage):
            if cold_allowed:
                return drain_policy.METHOD_COLD, None
            return None, ('its volumes need a cold migration (a tunnelled '
                          'block migration cannot skip them) and %s'
                          % self._no_downtime())
        method = drain_policy.METHOD_BLOCK
        if source.shared_storage and \
                source.shared_storage == target.shared_storage:
            method = drain_policy.METHOD_LIVE
        rate = self._rate(method, source, target)
        dirty = server.dirty_bytes_per_s
        if dirty and dirty * scheduling.CONVERGENCE_MARGIN > rate:
            if cold_allowed:
                return drain_policy.METHOD_COLD, None
            return None, (
                'its guest dirties %.0f MB/s of memory, more than half of '
                'the %.0f MB/s its migration can get: a live migration '
                'would never end, and %s. Allow downtime for it (a cold '
                'migration) or quiet its workload first'
                % (dirty / 1e6, rate / 1e6, self._no_downtime()))
        return method, None

    def _no_downtime(self):
        return ('the policy is live only' if self.policy.method == 'live'
                else 'the policy allows no downtime for it')

    def _allowed(self, server, target, group_hosts, affinity_host):
        name = target.host.name
        for group, rule in server.server_groups:
            if rule == 'anti-affinity' and name in group_hosts[group]:
                return False
            if rule == 'affinity' and affinity_host.get(group, name) != name:
                return False
        source = self.hosts[server.host]
        for attr in ('libvirt_version', 'qemu_version'):
            mine, theirs = getattr(source, attr), getattr(target.host, attr)
            if mine and theirs and theirs < mine:
                return False
        return True

    def _choose(self, server, pool, heap, group_hosts, affinity_host):
        source = self.hosts[server.host]

        def usable(target):
            return target.fits(server, source) and self._allowed(
                server, target, group_hosts, affinity_host)
        for group, rule in server.server_groups:
            if rule == 'affinity' and group in affinity_host:
                target = pool.get(affinity_host[group])
                return target if target and usable(target) else None
        popped, fitting = [], []
        while heap and len(fitting) < CANDIDATES:
            key, version, name = heapq.heappop(heap)
            target = pool[name]
            if version != target.version:
                continue    # stale entry
            popped.append((key, version, name))
            if usable(target):
                fitting.append(target)
                if self._has_base(server, target):
                    break
        for entry in popped:
            heapq.heappush(heap, entry)
        if not fitting:
            return None
        for target in fitting:
            if self._has_base(server, target):
                return target
        return fitting[0]

    @staticmethod
    def _has_base(server, target):
        return server.base_image in target.host.base_images

    def _no_target_reason(self, server, pool):
        best = max(pool.values(), key=lambda t: t.free_ram, default=None)
        if best is None:
            return 'no enabled target host'
        return ('no target has %d vCPU, %d MiB RAM and %s disk free within '
                'the server-group and hypervisor-version rules (most free '
                'RAM: %s with %d MiB); add targets or free capacity'
                % (server.vcpus, server.memory_mb, base.gib(server.disk_bytes),
                   best.host.name, best.free_ram))

    def _unplaceable(self, server, reason):
        return Unplaceable(server.id, server.name, server.host,
                           server.status, reason)

    def _move(self, server, target, method):
        source = self.hosts[server.host]
        memory = server.memory_mb * drain_policy.MiB
        if method == drain_policy.METHOD_LIVE:
            copied = memory
        elif method == drain_policy.METHOD_BLOCK:
            copied = memory + server.copied_disk_bytes
        else:
            copied = server.copied_disk_bytes
        rate = self._rate(method, source, target)
        seconds = OVERHEAD_SECONDS + copied / rate
        dirty = 0.0
        if method != drain_policy.METHOD_COLD:
            dirty = scheduling.assumed_dirty(server.dirty_bytes_per_s,
                                             server.status)
        return Move(server.id, server.name, server.project_id, server.host,
                    server.status, method, target.name, copied,
                    round(seconds, 1),
                    self._verdicts(server, source, target, method),
                    round(self._downtime(server, method,
                                         rate), 1), dirty,
                    0 if method == drain_policy.METHOD_COLD else memory)

    def _rate(self, method, source, target):
        """Bytes per second one migration copies alone on its links."""
        return min(self.policy.copy_rate(method),
                   scheduling.stream_cap(self.policy, method) or math.inf,
                   target.link_bytes_per_s or math.inf,
                   source.link_bytes_per_s or math.inf,
                   target.disk_write_bytes_per_s or math.inf,
                   source.disk_read_bytes_per_s or math.inf)

    def _downtime(self, server, method, rate):
        """Seconds the guest of *server* is expected to be down."""
        if server.status != 'ACTIVE':
            return 0.0
        if method != drain_policy.METHOD_COLD:
            return LIVE_DOWNTIME_SECONDS
        if self.policy.two_phase_cold:
            return (POWER_CYCLE_SECONDS +
                    TWO_PHASE_REWRITE * server.copied_disk_bytes / rate +
                    server.copied_disk_bytes / VERIFY_RATE)
        return POWER_CYCLE_SECONDS + server.copied_disk_bytes / rate

    def _verdicts(self, server, source, target, method):
        kind = {drain_policy.METHOD_LIVE: base.MigrationKind.LIVE,
                drain_policy.METHOD_BLOCK: base.MigrationKind.BLOCK,
                drain_policy.METHOD_COLD: base.MigrationKind.COLD}[method]
        disks = (base.Disk('vda', allocated_size=server.disk_bytes),) + \
            tuple(base.Disk('vd%s' % chr(ord('b') + i), source_type='block',
                            is_volume=True)
                  for i, _vol in enumerate(server.volumes))
        request = base.PrecheckInput(
            instance_uuid=server.id, instance_name=server.name, kind=kind,
            phase=base.Phase.SOURCE,
            source=base.HostFacts(host=source.name,
                                  libvirt_version=source.libvirt_version,
                                  qemu_version=source.qemu_version),
            destination=base.HostFacts(
                host=target.name, free_bytes=target.disk_free_bytes,
                libvirt_version=target.libvirt_version,
                qemu_version=target.qemu_version),
            disks=disks, tunnelled=self.policy.tunnelled)
        verdicts = []
        for check in self._checks:
            if check.applies_to(request):
                verdict = check.check(request)
                verdicts.append([verdict.check, verdict.status.value,
                                 verdict.reason])
        return verdicts


@dataclasses.dataclass
class Estimate:
    makespan: float
    limits: scheduling.Limits


def move_jobs(moves, policy):
    """The scheduler's view of *moves* (:class:`drain_model.Job`)."""
    return [scheduling.job(m.server_id, m.source, m.target, m.method,
                           m.bytes_total, m.dirty_bytes_per_s, policy,
                           m.memory_bytes)
            for m in moves]


def drain_estimate(moves, policy, links=None, disks=None):
    """How the drain of *moves* is expected to run (:mod:`.drain_model`).

    The executor's scheduler decides when each move starts, as it will in
    the real drain; *links* and *disks* give the hosts' link and disk
    speeds where known.
    """
    result, limits = scheduling.estimate(
        move_jobs(moves, policy), policy,
        scheduling.link_lookup(links, policy, disks))
    return Estimate(result.makespan, limits)


def estimate_makespan(moves, policy, links=None, disks=None):
    """Seconds the drain of *moves* is expected to take."""
    return drain_estimate(moves, policy, links, disks).makespan
