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
"""Tests of the lab hosts' pure helpers (no namespaces are made)."""

import uuid

from oslotest import base

from tests.lab import hosts


class AddressTestCase(base.BaseTestCase):

    def test_host_address(self):
        self.assertEqual('10.213.0.11', hosts.host_address('10.213.0', 1))
        self.assertEqual('10.9.8.254', hosts.host_address('10.9.8', 244))

    def test_host_address_out_of_range(self):
        self.assertRaises(ValueError, hosts.host_address, '10.213.0', 0)
        self.assertRaises(ValueError, hosts.host_address, '10.213.0', 245)

    def test_bad_subnet(self):
        for subnet in ('10.213', '10.213.0.0', '10.213.x', '10.256.0'):
            self.assertRaises(ValueError, hosts.host_address, subnet, 1)

    def test_free_index_fills_gaps(self):
        self.assertEqual(1, hosts.free_index([]))
        self.assertEqual(2, hosts.free_index([1, 3]))
        self.assertEqual(4, hosts.free_index(i for i in (1, 2, 3)))

    def test_netns_name(self):
        self.assertEqual('nmx-c1', hosts.netns_name('nmx', 'c1'))
        self.assertEqual('nmx-sw', hosts.netns_name('nmx', hosts.SWITCH))

    def test_check_name(self):
        self.assertEqual('c1', hosts.check_name('c1'))
        for bad in ('', 'C1', '1c', 'c-1', 'c_1', 'averyverylongname',
                    hosts.SWITCH, None):
            self.assertRaises(ValueError, hosts.check_name, bad)


class HostUUIDTestCase(base.BaseTestCase):

    def test_stable_distinct_and_valid(self):
        one = hosts.host_uuid('nmx', 'c1')
        self.assertEqual(one, hosts.host_uuid('nmx', 'c1'))
        self.assertNotEqual(one, hosts.host_uuid('nmx', 'c2'))
        self.assertNotEqual(one, hosts.host_uuid('abc', 'c1'))
        self.assertEqual(one, str(uuid.UUID(one)))
        # libvirt refuses UUIDs whose hex digits are all the same.
        self.assertGreater(len(set(one.replace('-', ''))), 1)


class RenderTestCase(base.BaseTestCase):

    def _settings(self, text):
        pairs = [line.split(' = ', 1) for line in text.splitlines()
                 if line and not line.startswith('#')]
        return dict(pairs)

    def test_hosts_file(self):
        text = hosts.render_hosts({'c2': '10.213.0.12', 'c1': '10.213.0.11'})
        lines = text.splitlines()
        self.assertEqual('127.0.0.1\tlocalhost', lines[0])
        self.assertEqual(['10.213.0.11\tc1', '10.213.0.12\tc2'], lines[2:])
        self.assertTrue(text.endswith('\n'))

    def test_libvirtd_conf(self):
        conf = self._settings(hosts.render_libvirtd_conf('abc'))
        self.assertEqual('1', conf['listen_tcp'])
        self.assertEqual('0', conf['listen_tls'])
        self.assertEqual('"none"', conf['auth_tcp'])
        self.assertEqual('"root"', conf['unix_sock_group'])
        self.assertEqual('"abc"', conf['host_uuid'])

    def test_qemu_conf(self):
        conf = self._settings(hosts.render_qemu_conf())
        self.assertEqual('"root"', conf['user'])
        self.assertEqual('"root"', conf['group'])
        self.assertEqual('"none"', conf['security_driver'])
        self.assertEqual('[ ]', conf['namespaces'])
        self.assertEqual('[ ]', conf['cgroup_controllers'])

    def test_sshd_config(self):
        lines = hosts.render_sshd_config('10.213.0.12').splitlines()
        self.assertIn('ListenAddress 10.213.0.12:22', lines)
        self.assertIn('ListenAddress 127.0.0.1:22', lines)
        self.assertIn('PermitRootLogin prohibit-password', lines)
        self.assertIn('PasswordAuthentication no', lines)
        self.assertIn('PidFile /run/sshd.pid', lines)
        self.assertTrue(any(line.startswith('Subsystem sftp ')
                            for line in lines))

    def test_ssh_config(self):
        lines = [line.strip() for line in
                 hosts.render_ssh_config('/k').splitlines()]
        self.assertEqual('Host *', lines[0])
        for wanted in ('IdentityFile /k', 'StrictHostKeyChecking no',
                       'UserKnownHostsFile /dev/null', 'LogLevel ERROR'):
            self.assertIn(wanted, lines)


class LabArgumentsTestCase(base.BaseTestCase):

    def test_root_dir_hidden_by_a_host_mount(self):
        for root in ('/run/lab', '/etc/lab', '/var/lib/nova/x', '/root/l'):
            self.assertRaises(ValueError, hosts.Lab, root)

    def test_bad_prefix(self):
        self.assertRaises(ValueError, hosts.Lab, '/var/tmp/x', prefix='N-1')
