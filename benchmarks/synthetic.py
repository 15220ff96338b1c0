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
"""A synthetic cloud for benchmarks and tests: hosts and servers."""

import random

from nova_migration_ext.compute import orphans
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.engine import inventory

GiB = drain_policy.GiB
# Dirty rates (bytes/s) of the synthetic guests and their shares: idle
# services, ordinary applications, busy databases, a few heavy writers.
DIRTY_RATES = (2e6, 10e6, 50e6, 200e6)
DIRTY_WEIGHTS = (50, 30, 15, 5)


def cloud(n_hosts, n_servers, n_sources, seed=42, loaded_hosts=None,
          dirty_scale=1.0, link_bytes_per_s=None, disk_write_bytes_per_s=None):
    """Return (hosts, servers, source names) with realistic variety.

    Servers are spread over the first *loaded_hosts* hosts (default: all);
    the first *n_sources* hosts are the sources. *dirty_scale* multiplies
    the guests' dirty rates. *link_bytes_per_s* and
    *disk_write_bytes_per_s*, if given, are every host's link and disk
    write speed, as their computes would publish them.
    """
    rng = random.Random(seed)
    hosts = []
    for i in range(n_hosts):
        hosts.append(inventory.Host(
            name='cmp-%04d' % i, vcpus=64, vcpus_used=0,
            memory_mb=1024 * 1024, memory_mb_used=0,
            disk_free_bytes=rng.choice((2, 4, 8)) * 1024 * GiB,
            cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0,
            libvirt_version=8000000, qemu_version=6002000,
            link_bytes_per_s=link_bytes_per_s,
            disk_write_bytes_per_s=disk_write_bytes_per_s,
            base_images=frozenset(orphans.cache_name(
                'img-%d' % rng.randrange(50)) for _ in range(10))))
    flavors = [(1, 2048, 20), (2, 4096, 40), (4, 8192, 80), (8, 16384, 160),
               (16, 65536, 320)]
    servers = []
    by_host = {h.name: h for h in hosts}
    for i in range(n_servers):
        host = hosts[i % (loaded_hosts or n_hosts)]
        vcpus, ram, disk = rng.choice(flavors)
        groups = ()
        if i % 50 == 0:
            groups = (('aa-%d' % (i // 500), 'anti-affinity'),)
        # What a guest dirties per second: most little, a few a lot.
        dirty = rng.choices(DIRTY_RATES, DIRTY_WEIGHTS)[0] * dirty_scale
        servers.append(inventory.Server(
            id='%08d-0000-4000-8000-000000000000' % i, name='vm-%d' % i,
            host=host.name, status='SHUTOFF' if i % 10 == 0 else 'ACTIVE',
            vcpus=vcpus, memory_mb=ram, disk_bytes=disk * GiB,
            project_id='p%d' % (i % 40), image_id='img-%d' % (i % 50),
            volumes=('vol-%d' % i,) if i % 7 == 0 else (),
            server_groups=groups, dirty_bytes_per_s=dirty))
        by_host[host.name].vcpus_used += vcpus
        by_host[host.name].memory_mb_used += ram
    sources = [h.name for h in hosts[:n_sources]]
    return hosts, servers, sources
