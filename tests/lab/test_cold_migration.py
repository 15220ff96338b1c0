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
"""Cold migrations between lab hosts: nova's real ssh copy, our driver."""

import time

import testtools.content

from tests.lab import base
from tests.lab import test_cold_copy


class ColdMigrationTest(base.LabTestCase):

    def cold_migrate(self, server, host):
        start = time.monotonic()
        self.nova.servers.migrate(server, host=host)
        server = self.wait_status(server, 'VERIFY_RESIZE')
        return server, time.monotonic() - start

    def test_cold_migration_and_confirm_keep_every_write(self):
        server = self.boot('c1', flavor='lab.eph')
        before = self.console(server)
        mark = self.log_mark('c1')
        server, elapsed = self.cold_migrate(server, 'c2')
        self.assertEqual('c2', self.host_of(server))
        # Our verified copy moved both disks, not nova's scp.
        found = test_cold_copy.copies(self.compute_log_since('c1', mark))
        for name in ('disk', 'disk.eph0'):
            self.assertEqual(['True'], [c['verified'] for c in found[name]])
        self.nova.servers.confirm_resize(server)
        server = self.wait_status(server, 'ACTIVE')
        after = self.wait_console(server, 'nmx-ready')
        # The copy really crossed hosts: nothing is left on the source.
        listing = self.cloud.run_in('c1', [
            'sh', '-c', 'ls -d /var/lib/nova/instances/%s* || true'
            % server.id])
        self.assertEqual('', listing.strip())
        self.addDetail('numbers', testtools.content.text_content(
            'cold migration to VERIFY_RESIZE: %.1f s' % elapsed))
        self.verify_data(server, [before, after])

    def test_cold_migration_revert_returns_the_vm_intact(self):
        server = self.boot('c1')
        before = self.console(server)
        server, _elapsed = self.cold_migrate(server, 'c3')
        # It ran on c3 meanwhile; a revert drops what it wrote there.
        self.wait_console(server, 'nmx-ready')
        self.nova.servers.revert_resize(server)
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual('c1', self.host_of(server))
        after = self.wait_console(server, 'nmx-ready')
        self.verify_data(server, [before, after])
