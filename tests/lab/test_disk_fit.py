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
"""A destination whose instances filesystem is really too small.

Host c4's ``/var/lib/nova/instances`` is a loop-mounted ext4 of 1.2 GB:
placement sees 1 GiB of disk there, room for the flavor, so nova's
scheduler accepts it. The test fills it to a few MiB free (other data
on the disk, as on a real host), then asks nova to move there a VM
whose base image alone takes 48 MiB. Our disk_fit precheck must refuse
before anything changes, with its message, and the VM must keep running
on its source with its data intact.
"""

import time

import testtools.content

from tests.lab import base

SMALL = 'c4'
INSTANCES = '/var/lib/nova/instances'


class TooSmallDestinationTest(base.LabTestCase):

    def setUp(self):
        super().setUp()
        free_kib = int(self.cloud.run_in(SMALL, [
            'df', '--output=avail', '-k', INSTANCES]).split()[-1])
        filler = '%s/filler-%s' % (INSTANCES, self.tag)
        self.cloud.run_in(SMALL, ['fallocate', '-l', '%dK' % max(
            0, free_kib - 8 * 1024), filler])
        self.addCleanup(self.cloud.run_in, SMALL, ['rm', '-f', filler])
        image = self.cloud.make_root_image('fat-%s' % self.tag, fill_mb=48)
        self.addCleanup(self.glance.images.delete, image)
        self.server = self.boot('c1', image=image)

    def refusal(self, server, since):
        """What *server*'s action events since *since* tell an admin.

        From microversion 2.84 an event's ``details`` carries the error
        message, which is what the operator reads in ``openstack server
        event show``.
        """
        messages = []
        for action in self.nova.instance_action.list(server):
            if action.start_time < since:
                continue
            detail = self.nova.instance_action.get(server, action.request_id)
            for event in detail.events:
                messages.append('%s %s %s' % (
                    event['event'], event['result'],
                    event.get('details') or ''))
        return '\n'.join(messages)

    def assert_refused_by_us(self, server, since, mark, event=True):
        """Our disk_fit refused, and said what to do, for *server*."""
        events = self.refusal(server, since)
        log = self.compute_log_since('c1', mark)
        self.addDetail('events', testtools.content.text_content(events))
        # The live migration's event names the check (nova keeps its
        # first 255 characters; a cold migration's rollback event has
        # no details) ...
        if event:
            self.assertIn('disk_fit', events)
        # ... and the source's log has the whole message.
        self.assertIn('disk_fit: Destination %s has' % SMALL, log)
        self.assertIn('Choose another destination', log)
        self.assertIn(server.id, log)

    def assert_untouched(self, server, before):
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual('c1', self.host_of(server))
        listing = self.cloud.run_in(SMALL, ['ls', INSTANCES])
        self.assertNotIn(server.id, listing)
        after = self.wait_console(server, 'nmx-ack')
        self.verify_data(server, [before, after])

    def wait_migration(self, server, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            migrations = self.migrations(server)
            ended = ('error', 'failed', 'completed')
            if migrations and migrations[0].status in ended:
                return migrations[0]
            time.sleep(1)
        self.fail('the migration of %s never ended' % server.id)

    def test_block_live_migration_refused_before_anything_changes(self):
        server = self.server
        before = self.console(server)
        since = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())
        mark = self.log_mark('c1')
        self.nova.servers.live_migrate(server, host=SMALL,
                                       block_migration=True)
        migration = self.wait_migration(server)
        self.assertEqual('error', migration.status)
        self.assert_refused_by_us(server, since, mark)
        self.assert_untouched(server, before)

    def test_cold_migration_refused_before_the_power_off(self):
        server = self.server
        before = self.console(server)
        since = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())
        mark = self.log_mark('c1')
        self.nova.servers.migrate(server, host=SMALL)
        migration = self.wait_migration(server)
        self.assertEqual('error', migration.status)
        self.assert_refused_by_us(server, since, mark, event=False)
        # Never powered off: the console (emptied when nova restarts a
        # guest) still holds what the guest printed before.
        last_ack = [line for line in before.splitlines()
                    if line.startswith('nmx-ack')][-1]
        self.assertIn(last_ack, self.console(server))
        self.assert_untouched(server, before)
