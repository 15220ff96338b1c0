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
"""A migration must not copy an attached volume onto itself.

The volume (a loop device every host sees, as an iSCSI or RBD volume
would be) holds 160 MiB of data besides the guest's records. If libvirt
copied it through the migration stream, the destination's job would
count those bytes and the copy would race the guest's own writes; if a
cold migration's copy took it for a local disk, it would write the
volume onto itself, or onto a file the guest never sees.
"""

import hashlib

import testtools.content

from tests.lab import base
from tests.lab import test_cold_copy
from tests.lab import test_live_migration
from tests.lab import volumes

MiB = 1024 * 1024
DATA_OFFSET_MIB = 4
DATA_MIB = 160


class VolumeBlockMigrationTest(base.LabTestCase):

    def fill(self, device):
        """160 MiB of data past the guest's records; their digest."""
        digest = hashlib.sha256()
        block = hashlib.sha256(self.tag.encode()).digest() * (MiB // 32)
        with open(device, 'r+b') as f:
            f.seek(DATA_OFFSET_MIB * MiB)
            for _ in range(DATA_MIB):
                f.write(block)
                digest.update(block)
            f.flush()
        return digest.hexdigest()

    def digest(self, device):
        digest = hashlib.sha256()
        with open(device, 'rb') as f:
            f.seek(DATA_OFFSET_MIB * MiB)
            for _ in range(DATA_MIB):
                digest.update(f.read(MiB))
        return digest.hexdigest()

    def boot_with_volume(self):
        """A guest on c1 writing to a volume past 160 MiB of data.

        (server, the lab's volumes, the volume, the data's digest, the
        guest's console once it wrote to the volume).
        """
        # The volume first: its clean-up then runs after the server's,
        # whose deletion detaches it.
        lab_volumes = volumes.Volumes(self.cloud)
        volume = lab_volumes.create(size_mib=DATA_OFFSET_MIB + DATA_MIB + 8)
        self.addCleanup(lab_volumes.delete, volume)
        server = self.boot('c1')
        device = lab_volumes.device(volume)
        expected = self.fill(device)
        lab_volumes.attach(server, volume)
        self.wait_console(server, 'nmx-claim vdb')
        before = self.wait_console(server, 'nmx-ack')
        return server, lab_volumes, volume, expected, before

    def test_volume_is_not_copied_and_every_write_survives(self):
        server, lab_volumes, volume, expected, before = \
            self.boot_with_volume()
        device = lab_volumes.device(volume)
        mark = self.log_mark('c1')
        # What leaves c1 on the wire during the move: memory, the local
        # disks and, were it copied, the volume.
        sent_before = self.cloud.host('c1').tx_bytes()
        self.nova.servers.live_migrate(server, host='c2',
                                       block_migration=True)
        server = self.wait_status(server, 'ACTIVE')
        sent = self.cloud.host('c1').tx_bytes() - sent_before
        self.assertEqual('c2', self.host_of(server))
        self.assertIn('Precheck shared_volumes passed for %s' % server.id,
                      self.compute_log_since('c1', mark))
        job = self.guests.job_info(server)
        memory = test_live_migration.job_bytes(job, 'Memory processed')
        self.addDetail('numbers', testtools.content.text_content(
            'c1 sent %d bytes; libvirt job on c2 %s' % (sent, job)))
        # The wire carried the guest's memory and the local disks only:
        # far less than the volume's 160 MiB of data on top.
        self.assertGreater(memory, 0)
        self.assertGreaterEqual(sent, memory)
        self.assertLess(sent - memory, 64 * MiB)
        after = self.wait_console(server, 'nmx-ack')
        # The volume's data and the guest's writes to it are intact.
        self.assertEqual(expected, self.digest(device))
        self.assertEqual('in-use', lab_volumes.get(volume)['status'])
        self.verify_data(server, [before, after],
                         extra_disks=[lab_volumes.device(volume)])

    def test_cold_migration_copies_the_disk_not_the_volume(self):
        server, lab_volumes, volume, expected, before = \
            self.boot_with_volume()
        mark = self.log_mark('c1')
        sent_before = self.cloud.host('c1').tx_bytes()
        self.nova.servers.migrate(server, host='c2')
        server = self.wait_status(server, 'VERIFY_RESIZE')
        sent = self.cloud.host('c1').tx_bytes() - sent_before
        self.assertEqual('c2', self.host_of(server))
        # Our verified copy moved the local disk alone.
        found = test_cold_copy.copies(self.compute_log_since('c1', mark))
        self.assertEqual(['disk'], sorted(found))
        self.assertEqual(['True'], [c['verified'] for c in found['disk']])
        disk_bytes = sum(int(c['bytes']) for c in found['disk'])
        self.addDetail('numbers', testtools.content.text_content(
            'c1 sent %d bytes, our copy of the disk %d' % (sent,
                                                           disk_bytes)))
        # The wire carried the disk (and RPC, ssh): far less than the
        # volume's 160 MiB on top.
        self.assertLess(sent - disk_bytes, 64 * MiB)
        self.nova.servers.confirm_resize(server)
        server = self.wait_status(server, 'ACTIVE')
        after = self.wait_console(server, 'nmx-ack')
        # Booted on c2, the guest found its own records on the volume.
        self.assertRegex(after, r'nmx-claim vdb \w+ \d+ resume')
        self.assertEqual(expected, self.digest(lab_volumes.device(volume)))
        self.assertEqual('in-use', lab_volumes.get(volume)['status'])
        self.verify_data(server, [before, after],
                         extra_disks=[lab_volumes.device(volume)])
