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
"""What the planner knows of the cloud: its hosts and their servers.

Plain dataclasses, filled from nova's API by :mod:`.nova_gateway` or built
directly by tests and benchmarks.
"""

import collections
import dataclasses
import functools

from nova_migration_ext.compute import host_stats
from nova_migration_ext.compute import orphans


@dataclasses.dataclass
class Host:
    """A compute host as nova reports it.

    :param shared_storage: name of the storage its instances path lives
        on when shared with other hosts (None for local disks).
    """

    name: str
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    disk_free_bytes: int
    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0
    enabled: bool = True
    up: bool = True
    base_images: frozenset = frozenset()   # file names in its image cache
    libvirt_version: int | None = None
    qemu_version: int | None = None
    shared_storage: str | None = None
    link_bytes_per_s: float | None = None  # its migration link, if known
    disk_read_bytes_per_s: float | None = None   # its instances path's
    disk_write_bytes_per_s: float | None = None  # disk, if measured


@dataclasses.dataclass
class Server:
    """A VM to move.

    :param disk_bytes: bytes of its local disks (flavor sizes when the real
        allocation is not known).
    :param server_groups: tuples of (group id, policy) with policy
        ``affinity``, ``anti-affinity``, ``soft-…`` or None.
    """

    id: str
    name: str
    host: str
    status: str
    vcpus: int
    memory_mb: int
    disk_bytes: int
    project_id: str = ''
    image_id: str | None = None
    image_deleted: bool = False
    volumes: tuple = ()
    server_groups: tuple = ()
    task_state: str | None = None
    dirty_bytes_per_s: float | None = None   # measured, if known
    disk_allocated_bytes: int | None = None  # measured, if known

    @property
    def copied_disk_bytes(self):
        """Bytes a copy of its local disks moves: measured, else sizes."""
        if self.disk_allocated_bytes is None:
            return self.disk_bytes
        return self.disk_allocated_bytes

    @functools.cached_property
    def base_image(self):
        """File name of its image in a host's image cache, or None."""
        return orphans.cache_name(self.image_id) if self.image_id else None


def with_facts(hosts, facts_by_host):
    """*hosts* completed with the facts their computes published.

    :param facts_by_host: host name -> stats in the encoding of
        :mod:`nova_migration_ext.compute.host_stats` (the driver's
        ``migration_ext.host.facts`` notifications). A host without facts
        keeps what nova's API says. With facts, its image cache is known
        and its free disk is the smaller of nova's figure and the real free
        space on its instances path (minus the reserved space), which is
        what the disk_fit precheck will check.
    """
    completed = []
    for host in hosts:
        stats = facts_by_host.get(host.name)
        if not stats:
            completed.append(host)
            continue
        facts = host_stats.from_stats(host.name, stats)
        changes = {'base_images': frozenset(facts.base_images or ())}
        if facts.free_bytes is not None:
            changes['disk_free_bytes'] = max(min(
                host.disk_free_bytes,
                facts.free_bytes - facts.reserved_bytes), 0)
        for name in ('libvirt_version', 'qemu_version', 'link_bytes_per_s',
                     'disk_read_bytes_per_s', 'disk_write_bytes_per_s'):
            if getattr(facts, name) is not None:
                changes[name] = getattr(facts, name)
        completed.append(dataclasses.replace(host, **changes))
    return completed


def with_measurements(servers, facts_by_host):
    """*servers* with what their hosts measured of them, where known.

    Their guests' dirty rates and their disks' allocated bytes.

    :param facts_by_host: as for :func:`with_facts`.
    """
    measured = collections.defaultdict(dict)
    for name, stats in facts_by_host.items():
        facts = host_stats.from_stats(name, stats)
        for uuid, rate in (facts.dirty_rates or {}).items():
            measured[(name, uuid)]['dirty_bytes_per_s'] = float(rate)
        for uuid, size in (facts.instance_disk_bytes or {}).items():
            measured[(name, uuid)]['disk_allocated_bytes'] = int(size)
    return [dataclasses.replace(server, **measured[(server.host, server.id)])
            if (server.host, server.id) in measured else server
            for server in servers]


def parse_storage_groups(option):
    """``{group: [host, ...]}`` from ``[evacuator] shared_storage_groups``.

    :param option: ``{group: 'host;host;...'}`` as oslo.config reads it.
    :raises ValueError: when a host is in two groups.
    """
    groups, seen = {}, {}
    for name, text in (option or {}).items():
        hosts = [h for h in str(text).replace(';', ' ').split() if h]
        for member in hosts:
            if seen.setdefault(member, name) != name:
                raise ValueError(
                    'Host %s is in shared storage groups %s and %s; a host '
                    'has one instances path.' % (member,
                                                 seen[member], name))
        groups[name] = hosts
    return groups


def with_shared_storage(hosts, groups):
    """*hosts* with the shared storage the operator named for them."""
    group_of = {h: name for name, members in (groups or {}).items()
                for h in members}
    return [dataclasses.replace(host, shared_storage=group_of[host.name])
            if host.name in group_of else host for host in hosts]
