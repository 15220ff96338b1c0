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
"""VMs whose Glance image was deleted, moved between real hosts.

The destination needs the base file ``_base/<sha1(image id)>`` under the
VM's qcow2 overlay, and Glance no longer has it: our orphaned_base_image
precheck copies it from the source over ssh (``SshTransport``) before
the move. The control run, with seeding off, shows what stock nova does.
"""

from tests.lab import base


class DeletedImageTest(base.LabTestCase):

    def test_block_live_migration_seeds_the_base_file(self):
        server = self.boot_orphan('c1')
        before = self.console(server)
        self.assertFalse(self.has_base('c2'))
        self.nova.servers.live_migrate(server, host='c2',
                                       block_migration=True)
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual('c2', self.host_of(server))
        self.assertTrue(self.has_base('c2'))
        after = self.wait_console(server, 'nmx-ack')
        self.verify_data(server, [before, after])

    def test_cold_migration_confirm_and_revert(self):
        server = self.boot_orphan('c2')
        before = self.console(server)
        self.nova.servers.migrate(server, host='c3')
        server = self.wait_status(server, 'VERIFY_RESIZE')
        self.assertTrue(self.has_base('c3'))
        self.wait_console(server, 'nmx-ready')
        self.nova.servers.revert_resize(server)
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual('c2', self.host_of(server))
        self.assertTrue(self.has_base('c2'))
        self.nova.servers.migrate(server, host='c1')
        server = self.wait_status(server, 'VERIFY_RESIZE')
        self.nova.servers.confirm_resize(server)
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual('c1', self.host_of(server))
        self.assertTrue(self.has_base('c1'))
        after = self.wait_console(server, 'nmx-ready')
        self.verify_data(server, [before, after])
