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
"""The gateway's host inventory takes allocation ratios from Placement.

Found on the real-hypervisor lab: hosts reporting 2 vCPUs with nova's
default cpu_allocation_ratio of 16 looked full after two VMs, and a
drain of five VMs onto one such host left three "unplaceable".
"""

import types
from unittest import mock

from keystoneauth1 import adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session
from requests_mock.contrib import fixture as rm_fixture
import testtools

from nova_migration_ext.engine import nova_gateway

PLACEMENT = 'http://placement.example.org'
RP = '4a8b1c2d-0000-4000-8000-000000000001'


class AllocationRatiosTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.useFixture(rm_fixture.Fixture())
        placement = adapter.Adapter(session.Session(),
                                    endpoint_override=PLACEMENT)
        self.gateway = nova_gateway.NovaGateway.__new__(
            nova_gateway.NovaGateway)
        self.gateway.placement = placement

    def test_ratios_come_from_the_inventory(self):
        self.mock.get('%s/resource_providers/%s/inventories' % (
            PLACEMENT, RP), json={'inventories': {
                'VCPU': {'total': 2, 'allocation_ratio': 16.0},
                'MEMORY_MB': {'total': 24000, 'allocation_ratio': 1.5},
                'DISK_GB': {'total': 250, 'allocation_ratio': 1.0}}})
        self.assertEqual((16.0, 1.5), self.gateway.allocation_ratios(RP))

    def test_no_placement_means_no_overcommit(self):
        self.mock.get('%s/resource_providers/%s/inventories' % (
            PLACEMENT, RP), status_code=503)
        self.assertEqual((1.0, 1.0), self.gateway.allocation_ratios(RP))

    def test_unreachable_placement_too(self):
        self.mock.get('%s/resource_providers/%s/inventories' % (
            PLACEMENT, RP), exc=ks_exc.ConnectFailure)
        self.assertEqual((1.0, 1.0), self.gateway.allocation_ratios(RP))


class PlacementCapacityTest(testtools.TestCase):
    """Hosts are as roomy as Placement lets the scheduler fill them."""

    def setUp(self):
        super().setUp()
        self.mock = self.useFixture(rm_fixture.Fixture())
        self.gateway = nova_gateway.NovaGateway.__new__(
            nova_gateway.NovaGateway)
        self.gateway.placement = adapter.Adapter(
            session.Session(), endpoint_override=PLACEMENT)
        hypervisor = types.SimpleNamespace(
            id=RP, service={'host': 'c1'}, vcpus=8, vcpus_used=4,
            memory_mb=16384, memory_mb_used=4608, local_gb=100,
            local_gb_used=40, free_disk_gb=60, disk_available_least=50,
            hypervisor_version=6002000)
        self.gateway.nova = mock.Mock()
        self.gateway.nova.services.list.return_value = []
        self.gateway.nova.hypervisors.list.side_effect = [[hypervisor], []]

    def inventories(self, **classes):
        self.mock.get('%s/resource_providers/%s/inventories' % (
            PLACEMENT, RP), json={'inventories': classes})

    def test_reserved_and_disk_ratio(self):
        # nova counts the reserved amounts as used; Placement's capacity
        # is (total - reserved) * ratio.
        self.inventories(
            VCPU={'total': 8, 'reserved': 2, 'allocation_ratio': 4.0},
            MEMORY_MB={'total': 16384, 'reserved': 512,
                       'allocation_ratio': 1.5},
            DISK_GB={'total': 100, 'reserved': 0, 'allocation_ratio': 2.0})
        [host] = self.gateway.hosts()
        self.assertEqual((6, 2, 4.0), (host.vcpus, host.vcpus_used,
                                       host.cpu_allocation_ratio))
        self.assertEqual((15872, 4096, 1.5), (
            host.memory_mb, host.memory_mb_used, host.ram_allocation_ratio))
        self.assertEqual(160 * nova_gateway.GiB, host.disk_free_bytes)

    def test_no_disk_overcommit_keeps_the_real_free_disk(self):
        self.inventories(
            VCPU={'total': 8, 'reserved': 0, 'allocation_ratio': 1.0},
            MEMORY_MB={'total': 16384, 'reserved': 0,
                       'allocation_ratio': 1.0},
            DISK_GB={'total': 100, 'reserved': 0, 'allocation_ratio': 1.0})
        [host] = self.gateway.hosts()
        self.assertEqual(50 * nova_gateway.GiB, host.disk_free_bytes)

    def test_operator_ratios_when_placement_cannot_say(self):
        self.mock.get('%s/resource_providers/%s/inventories' % (
            PLACEMENT, RP), status_code=503)
        self.gateway.default_allocation_ratios = {
            'VCPU': 16.0, 'MEMORY_MB': 1.5, 'DISK_GB': 1.0}
        [host] = self.gateway.hosts()
        self.assertEqual((16.0, 1.5), (host.cpu_allocation_ratio,
                                       host.ram_allocation_ratio))
        self.assertEqual((8, 4), (host.vcpus, host.vcpus_used))

    def test_shared_storage_from_the_operator(self):
        self.inventories()
        self.gateway.shared_storage_groups = {'ceph': ['c0', 'c1']}
        [host] = self.gateway.hosts()
        self.assertEqual('ceph', host.shared_storage)


class ServersTest(testtools.TestCase):

    def test_every_server_in_one_paged_listing(self):
        gateway = nova_gateway.NovaGateway.__new__(nova_gateway.NovaGateway)
        gateway.nova = mock.Mock()
        gateway.nova.servers.list.return_value = [types.SimpleNamespace(
            id='s1', name='vm', status='ACTIVE', tenant_id='p1',
            flavor={'vcpus': 2, 'ram': 2048, 'disk': 20, 'swap': 512},
            image={'id': 'i1'}, **{'OS-EXT-SRV-ATTR:host': 'c1'})]
        [server] = gateway.servers()
        disk = 20 * nova_gateway.GiB + 512 * 2 ** 20
        self.assertEqual(('s1', 'c1', 2, disk), (
            server.id, server.host, server.vcpus, server.disk_bytes))
        gateway.nova.servers.list.assert_called_once_with(
            limit=-1, search_opts={'all_tenants': True})
