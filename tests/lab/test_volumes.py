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
"""A block live migration must not copy an attached volume onto itself.

The volume (a loop device every host sees, as an iSCSI or RBD volume
would be) holds 160 MiB of data besides the guest's records. If libvirt
copied it through the migration stream, the destination's job would
count those bytes and the copy would race the guest's own writes.
"""

import hashlib

import testtools.content

from tests.lab import base
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

    def test_volume_is_not_copied_and_every_write_survives(self):
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
