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
"""A host on the wire, and how its sizes are shown."""

import json

from nova_migration_ext.contract import display
from nova_migration_ext.contract import hosts
from nova_migration_ext.contract import resource
from tests.unit import utils

GiB = 2 ** 30


class TestHost(utils.TestCase):

    def test_through_json_and_back(self):
        host = hosts.Host(
            name='c7-01', enabled=False, vms=2, vcpus=8, vcpus_used=6,
            cpu_allocation_ratio=4.0, memory_mb=15872, memory_mb_used=4096,
            ram_allocation_ratio=1.5, disk_used_bytes=40 * GiB,
            disk_free_bytes=160 * GiB, aggregates=['c7-racks'])
        wire = json.loads(json.dumps(host.to_dict()))
        self.assertEqual(host, hosts.Host.from_dict(wire))
        self.assertEqual(40 * GiB, wire['disk_used_bytes'])
        self.assertEqual(['c7-racks'], wire['aggregates'])
        self.assertFalse(host.usable)
        self.assertTrue(hosts.Host('c7-02').usable)

    def test_drift_is_named(self):
        wire = hosts.Host('c7-01').to_dict()
        wire['disk_used_gb'] = 40
        error = self.assertRaises(resource.ContractError,
                                  hosts.Host.from_dict, wire)
        self.assertIn('Unknown keys in a Host: disk_used_gb', str(error))
        error = self.assertRaises(resource.ContractError,
                                  hosts.Host.from_dict, {'vms': 1})
        self.assertEqual('A Host needs name.', str(error))


class TestSize(utils.TestCase):

    def test_binary_units(self):
        self.assertEqual('0 B', display.size(None))
        self.assertEqual('1023 B', display.size(1023))
        self.assertEqual('1.5 KiB', display.size(1536))
        self.assertEqual('512.0 MiB', display.size(512 * 2 ** 20))
        self.assertEqual('20.0 GiB', display.size(20 * GiB))
        self.assertEqual('1.5 TiB', display.size(1536 * GiB))
        self.assertEqual('2048.0 PiB', display.size(2 ** 61))
