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
"""Tests of what a compute measures of itself for the evacuator."""

import collections
import os

import fixtures
import psutil
import testtools

from nova_migration_ext.compute import facts

MiB = 1024 ** 2
UUID_A = '0a1b2c3d-0000-4000-8000-00000000000a'
UUID_B = '0a1b2c3d-0000-4000-8000-00000000000b'


class InstanceDiskBytesTest(testtools.TestCase):

    def test_allocated_bytes_of_each_instance_folder(self):
        root = self.useFixture(fixtures.TempDir()).path
        os.makedirs(os.path.join(root, UUID_A))
        with open(os.path.join(root, UUID_A, 'disk'), 'wb') as f:
            f.write(b'x' * MiB)
            f.truncate(20 * MiB)            # sparse: 1 MiB allocated
        os.makedirs(os.path.join(root, UUID_B))
        # Neither an instance's folder nor counted: the resize leftover,
        # the image cache, a lock file.
        os.makedirs(os.path.join(root, UUID_A + '_resize'))
        with open(os.path.join(root, UUID_A + '_resize', 'disk'), 'wb') as f:
            f.write(b'y' * MiB)
        os.makedirs(os.path.join(root, '_base'))
        open(os.path.join(root, 'compute_nodes'), 'w').close()
        sizes = facts.LocalStorage(root).instance_disk_bytes()
        self.assertEqual({UUID_A, UUID_B}, set(sizes))
        self.assertGreaterEqual(sizes[UUID_A], MiB)
        self.assertLess(sizes[UUID_A], 2 * MiB)
        self.assertEqual(0, sizes[UUID_B])

    def test_no_instances_path(self):
        self.assertEqual({}, facts.LocalStorage('/nonexistent/x')
                         .instance_disk_bytes())


Address = collections.namedtuple('Address', 'address')
Stats = collections.namedtuple('Stats', 'speed')


class LinkSpeedTest(testtools.TestCase):

    def interfaces(self, addresses, speeds):
        self.useFixture(fixtures.MockPatchObject(
            psutil, 'net_if_addrs', return_value=addresses))
        self.useFixture(fixtures.MockPatchObject(
            psutil, 'net_if_stats', return_value=speeds))

    def test_the_nic_of_the_migration_address(self):
        self.interfaces({'eth0': [Address('10.0.0.5')],
                         'eth1': [Address('192.168.7.5')]},
                        {'eth0': Stats(1000), 'eth1': Stats(25000)})
        self.assertEqual(25000e6 / 8, facts.link_bytes_per_s('192.168.7.5'))

    def test_unknown_speed_or_address(self):
        self.interfaces({'eth0': [Address('10.0.0.5')]},
                        {'eth0': Stats(0)})
        self.assertIsNone(facts.link_bytes_per_s('10.0.0.5'))
        self.assertIsNone(facts.link_bytes_per_s('10.9.9.9'))
        self.assertIsNone(facts.link_bytes_per_s(None))

    def test_loopback_on_this_machine(self):
        # The real psutil: lo has no speed.
        self.assertIsNone(facts.link_bytes_per_s('127.0.0.1'))
