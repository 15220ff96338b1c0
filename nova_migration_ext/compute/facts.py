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
"""Facts about hosts and instances that the prechecks read.

Each compute running the driver measures its own facts (free space on the
instances path, files in the image cache, hypervisor versions) and publishes
them in its ComputeNode ``stats``, refreshed by the resource tracker every
``update_resources_interval``. A peer reads them from there, so no extra RPC
call is needed.
"""

import os
import re

from nova import objects
from oslo_log import log as logging
import psutil

from nova_migration_ext.compute import host_stats
from nova_migration_ext.prechecks import base

LOG = logging.getLogger(__name__)
_UUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-'
                   r'[0-9a-f]{12}$')


class LocalStorage:
    """The instances path of this host and its image cache."""

    def __init__(self, instances_path, cache_subdir='_base'):
        self.instances_path = instances_path
        self.base_dir = os.path.join(instances_path, cache_subdir)

    def free_bytes(self):
        stat = os.statvfs(self.instances_path)
        return stat.f_bavail * stat.f_frsize

    def base_images(self):
        """Map each complete file of the image cache to its size."""
        images = {}
        for entry in _entries(self.base_dir):
            if entry.name.endswith('.part') or not entry.is_file():
                continue
            try:
                images[entry.name] = _allocated(entry.stat())
            except FileNotFoundError:
                continue
        return images

    def instance_disk_bytes(self):
        """Map each instance's uuid to the bytes its folder's files take.

        Allocated blocks, not sizes: what a sparse-aware copy or a block
        migration moves (the backing base file is not counted).
        """
        sizes = {}
        for entry in _entries(self.instances_path):
            if not _UUID.match(entry.name) or not entry.is_dir(
                    follow_symlinks=False):
                continue
            try:
                sizes[entry.name] = sum(
                    _allocated(item.stat(follow_symlinks=False))
                    for item in os.scandir(entry.path)
                    if item.is_file(follow_symlinks=False))
            except FileNotFoundError:
                continue
        return sizes

    def base_image_path(self, name):
        return os.path.join(self.base_dir, name)

    def base_image_size(self, name):
        try:
            return _allocated(os.stat(self.base_image_path(name)))
        except FileNotFoundError:
            return None


def _entries(path):
    """The entries of folder *path*; none when it does not exist."""
    try:
        return list(os.scandir(path))
    except FileNotFoundError:
        return []


def _allocated(stat):
    """Bytes a file takes on disk (its allocated blocks)."""
    return stat.st_blocks * 512


def local_facts(host, storage, reserved_bytes, libvirt_version=None,
                qemu_version=None):
    """Measure this host's :class:`~base.HostFacts` now."""
    return base.HostFacts(
        host=host, instances_path=storage.instances_path,
        free_bytes=storage.free_bytes(), reserved_bytes=reserved_bytes,
        base_images=storage.base_images(), libvirt_version=libvirt_version,
        qemu_version=qemu_version)


def link_bytes_per_s(address):
    """Speed of the interface holding *address*, in bytes/s, or None.

    The kernel's figure for the NIC (``/sys/class/net/*/speed``) through
    psutil: an upper bound of what a migration over it can reach.
    """
    if not address:
        return None
    for name, addresses in psutil.net_if_addrs().items():
        if any(a.address == address for a in addresses):
            stats = psutil.net_if_stats().get(name)
            if stats and stats.speed > 0:
                return stats.speed * 1e6 / 8    # Mbit/s
            return None
    return None


def remote_facts(context, host):
    """Facts that *host* published, or bare facts when it published none."""
    try:
        node = objects.ComputeNode.get_first_node_by_host_for_old_compat(
            context, host)
    except Exception as exc:
        LOG.warning('No compute node record for %s (%s); its facts are '
                    'unknown.', host, exc)
        return base.HostFacts(host=host)
    return host_stats.from_stats(host, node.stats, node.hypervisor_version)


def domain_disks(guest_disks, block_device_info, disk_info):
    """Build :class:`~base.Disk` facts for every disk of a domain.

    :param guest_disks: ``LibvirtConfigGuestDisk`` objects of the domain.
    :param block_device_info: nova's block device info dict.
    :param disk_info: nova's ``get_instance_disk_info`` list (local disks
        with their real sizes), or None when it could not be read.
    """
    volume_devs = {
        vol['mount_device'].rpartition('/')[2]
        for vol in (block_device_info or {}).get('block_device_mapping', ())
        if vol.get('mount_device')}
    sizes = {info['path']: info for info in (disk_info or ())}
    disks = []
    for dev in guest_disks:
        path = dev.source_path
        info = sizes.get(path, {})
        is_volume = dev.target_dev in volume_devs
        local = not is_volume and dev.source_type in ('file', 'block')
        disks.append(base.Disk(
            target_dev=dev.target_dev, path=path,
            source_type=dev.source_type, driver_format=dev.driver_format,
            virtual_size=info.get('virt_disk_size'),
            allocated_size=info.get('disk_size') if local else 0,
            backing_file=info.get('backing_file') or None,
            is_volume=is_volume, shareable=bool(dev.shareable),
            readonly=bool(dev.readonly)))
    return tuple(disks)


def bdm_dicts(block_device_info):
    """Volume mappings of nova's block device info as plain dicts."""
    result = []
    for vol in (block_device_info or {}).get('block_device_mapping', ()):
        info = vol.get('connection_info') or {}
        result.append({
            'destination_type': 'volume',
            'device_name': vol.get('mount_device'),
            'volume_id': info.get('serial') or info.get('volume_id'),
            'multiattach': bool(info.get('multiattach')),
        })
    return tuple(result)
