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
"""The hosts the API lists: the planner's inventory, with their VMs."""

from nova_migration_ext.compute import host_stats
from nova_migration_ext.engine import engine as engine_mod
from nova_migration_ext.engine import service
from nova_migration_ext.prechecks import base
from tests.unit.engine import fakes
from tests.unit import utils

GiB = fakes.GiB


class TestHostResource(utils.TestCase):

    def test_usage_from_the_host_and_its_vms(self):
        host = fakes.host('c1', vcpus=8, vcpus_used=4, memory_mb=15872,
                          memory_mb_used=8192, disk_free_bytes=160 * GiB,
                          cpu_allocation_ratio=4.0, enabled=False)
        servers = [fakes.server('a', host='c1'),
                   fakes.server('b', host='c1',
                                disk_allocated_bytes=3 * GiB)]
        aggregates = {'zone-b': ['c1', 'c2'], 'rack-a': ['c1'],
                      'other': ['c2']}

        found = service.host_resource(host, servers, aggregates)

        self.assertEqual(('c1', False, True, 2), (found.name, found.enabled,
                                                  found.up, found.vms))
        self.assertEqual((8, 4, 4.0), (found.vcpus, found.vcpus_used,
                                       found.cpu_allocation_ratio))
        self.assertEqual((15872, 8192, 1.0), (
            found.memory_mb, found.memory_mb_used,
            found.ram_allocation_ratio))
        # What its VMs' disks take where measured, their sizes elsewhere.
        self.assertEqual(23 * GiB, found.disk_used_bytes)
        self.assertEqual(160 * GiB, found.disk_free_bytes)
        self.assertEqual(['rack-a', 'zone-b'], found.aggregates)

    def test_empty_host(self):
        found = service.host_resource(fakes.host('c2'), [], {})
        self.assertEqual((0, 0, []), (found.vms, found.disk_used_bytes,
                                      found.aggregates))


class Gateway:
    """Two hosts; VMs on c1 and one nova never placed."""

    def __init__(self):
        self.calls = []

    def hosts(self):
        return [fakes.host('c2'), fakes.host('c1', vcpus_used=4,
                                             disk_free_bytes=500 * GiB)]

    def servers(self):
        self.calls.append('servers')
        return [fakes.server('a', host='c1'), fakes.server('b', host='c1'),
                fakes.server('c', host=None, status='ERROR')]

    def aggregates(self):
        return {'old-racks': ['c1']}


class TestHosts(utils.TestCase):

    def test_inventory_with_facts_by_name(self):
        store = fakes.sqlite_store(self)
        store.save_host_facts('c1', host_stats.to_stats(base.HostFacts(
            host='c1', instances_path='/var/lib/nova/instances',
            free_bytes=100 * GiB, reserved_bytes=10 * GiB,
            instance_disk_bytes={'a': 5 * GiB})))
        gateway = Gateway()
        engine = engine_mod.Engine(store, gateway)

        found = service.hosts(engine)

        self.assertEqual(['c1', 'c2'], [h.name for h in found])
        c1, c2 = found
        self.assertEqual((2, 4, ['old-racks']), (c1.vms, c1.vcpus_used,
                                                 c1.aggregates))
        # The compute's real free disk, less its reserve; a's measured
        # disk, b's flavor.
        self.assertEqual(90 * GiB, c1.disk_free_bytes)
        self.assertEqual(25 * GiB, c1.disk_used_bytes)
        self.assertEqual((0, 0, 1000 * GiB), (c2.vms, c2.disk_used_bytes,
                                              c2.disk_free_bytes))
        self.assertEqual(['servers'], gateway.calls)
