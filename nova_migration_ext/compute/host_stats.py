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
"""Host facts as strings: the codec of ComputeNode stats and notifications.

Each compute running the driver publishes its facts twice, in the same
encoding: in its ComputeNode ``stats`` (read by its peers' prechecks) and in
a ``migration_ext.host.facts`` notification (read by the evacuator, which
cannot see ComputeNode stats through nova's API). This module needs
neither nova nor Django.
"""

import json

from nova_migration_ext.prechecks import base

FACTS_EVENT = 'migration_ext.host.facts'
STATS_PREFIX = 'migration_ext_'
_FREE = STATS_PREFIX + 'free_bytes'
_RESERVED = STATS_PREFIX + 'reserved_bytes'
_BASES = STATS_PREFIX + 'base_images'
_LIBVIRT = STATS_PREFIX + 'libvirt_version'
_QEMU = STATS_PREFIX + 'qemu_version'
_PATH = STATS_PREFIX + 'instances_path'
_LINK = STATS_PREFIX + 'link_bytes_per_s'
_DISK_READ = STATS_PREFIX + 'disk_read_bytes_per_s'
_DISK_WRITE = STATS_PREFIX + 'disk_write_bytes_per_s'
_DIRTY = STATS_PREFIX + 'dirty_rates'
_DISKS = STATS_PREFIX + 'instance_disk_bytes'


def to_stats(facts):
    """Encode facts as ComputeNode stats (a dict of strings)."""
    stats = {_FREE: str(facts.free_bytes), _RESERVED: str(
        facts.reserved_bytes), _PATH: facts.instances_path,
        _BASES: json.dumps(dict(sorted((facts.base_images or {}).items())))}
    if facts.libvirt_version is not None:
        stats[_LIBVIRT] = str(facts.libvirt_version)
    if facts.qemu_version is not None:
        stats[_QEMU] = str(facts.qemu_version)
    for key, value in ((_LINK, facts.link_bytes_per_s),
                       (_DISK_READ, facts.disk_read_bytes_per_s),
                       (_DISK_WRITE, facts.disk_write_bytes_per_s)):
        if value:
            stats[key] = str(int(value))
    for key, values in ((_DIRTY, facts.dirty_rates),
                        (_DISKS, facts.instance_disk_bytes)):
        if values is not None:
            stats[key] = json.dumps({uuid: int(value) for uuid, value in
                                     sorted(values.items())})
    return stats


def _json_or_none(value):
    return json.loads(value) if value else None


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def from_stats(host, stats, hypervisor_version=None):
    """Decode the facts a peer published; missing ones stay None."""
    stats = stats or {}
    if isinstance(stats, str):
        stats = json.loads(stats)
    bases = stats.get(_BASES)
    return base.HostFacts(
        host=host, instances_path=stats.get(_PATH),
        free_bytes=_int_or_none(stats.get(_FREE)),
        reserved_bytes=_int_or_none(stats.get(_RESERVED)) or 0,
        base_images=json.loads(bases) if bases else None,
        libvirt_version=_int_or_none(stats.get(_LIBVIRT)),
        qemu_version=_int_or_none(stats.get(_QEMU, hypervisor_version)),
        link_bytes_per_s=_int_or_none(stats.get(_LINK)),
        disk_read_bytes_per_s=_int_or_none(stats.get(_DISK_READ)),
        disk_write_bytes_per_s=_int_or_none(stats.get(_DISK_WRITE)),
        dirty_rates=_json_or_none(stats.get(_DIRTY)),
        instance_disk_bytes=_json_or_none(stats.get(_DISKS)))
