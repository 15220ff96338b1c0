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
"""Control runs: the same moves with nova's stock libvirt driver.

Hosts c2 and c3 are restarted with ``compute_driver =
libvirt.LibvirtDriver`` for these tests (and restored after), so what
they show is what an operator without this project gets on the same
hypervisors.

Measured here, and kept as tests so a change in nova shows: nova 34
itself copies a deleted image's base file from the source host when
Glance no longer has it (``fallback_from_host`` in ``_create_image`` and
``_create_images_and_backing``), for cold and live block migrations. The
report's "backing base image gone" failure came from older releases;
what our orphaned_base_image check adds on nova 34 is the refusal before
anything changes when neither Glance nor the source has the file, and
the copy before the power-off rather than after.
"""

from tests.lab import base

STOCK = {'DEFAULT': {'compute_driver': 'libvirt.LibvirtDriver'}}
HOSTS = ('c2', 'c3')


class StockNovaDeletedImageTest(base.LabTestCase):

    def setUp(self):
        super().setUp()
        marks = {host: self.log_mark(host) for host in HOSTS}
        for host in HOSTS:
            self.addCleanup(self.cloud.start_compute, host)
            self.cloud.start_compute(host, extra=STOCK)
        for host in HOSTS:
            self.assertIn("Loading compute driver 'libvirt.LibvirtDriver'",
                          self.compute_log_since(host, marks[host]))
        self.marks = {host: self.log_mark(host) for host in HOSTS}

    def assert_stock_only(self):
        """None of our code ran on the stock hosts."""
        for host in HOSTS:
            self.assertNotIn('nova_migration_ext',
                             self.compute_log_since(host, self.marks[host]))

    def test_stock_cold_migration_copies_the_base_file_itself(self):
        server = self.boot_orphan('c2')
        before = self.console(server)
        self.nova.servers.migrate(server, host='c3')
        server = self.wait_status(server, 'VERIFY_RESIZE')
        self.nova.servers.confirm_resize(server)
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual('c3', self.host_of(server))
        self.assert_stock_only()
        after = self.wait_console(server, 'nmx-ready')
        self.verify_data(server, [before, after])

    def test_stock_block_live_migration_copies_the_base_file_itself(self):
        server = self.boot_orphan('c2')
        before = self.console(server)
        self.nova.servers.live_migrate(server, host='c3',
                                       block_migration=True)
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual('c3', self.host_of(server))
        self.assert_stock_only()
        after = self.wait_console(server, 'nmx-ack')
        self.verify_data(server, [before, after])
