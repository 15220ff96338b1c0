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
"""Live migrations between lab hosts, on real libvirt and QEMU."""

import threading
import time

import testtools.content

from nova_migration_ext.compute import throttle
from tests.lab import base
from tests.lab import config
from tests.lab.guest import verify
from tests.lab import sharedfs

MiB = 1024 * 1024
UNITS = {'B': 1, 'KiB': 1024, 'MiB': MiB, 'GiB': 1024 * MiB}


def job_bytes(job, key):
    """Bytes of *key* in libvirt's job info (which names its unit)."""
    number, unit = job.get(key, (0, 'B'))
    return number * UNITS.get(unit, 1)


class BlockLiveMigrationTest(base.LabTestCase):

    def test_block_live_migration_moves_disks_and_keeps_every_write(self):
        server = self.boot('c1', flavor='lab.eph')
        before = self.console(server)
        mark = self.log_mark('c1')
        start = time.monotonic()
        self.nova.servers.live_migrate(server, host='c2',
                                       block_migration=True)
        server = self.wait_status(server, 'ACTIVE')
        elapsed = time.monotonic() - start
        self.assertEqual('c2', self.host_of(server))
        # Our driver, not stock nova's, ran on the source for this move.
        self.assertIn('Precheck shared_volumes passed for %s' % server.id,
                      self.compute_log_since('c1', mark))
        migration = self.wait_migration(server, 'completed')
        self.assertEqual('completed', migration.status)
        job = self.guests.job_info(server)
        after = self.wait_console(server, 'nmx-ack')
        # The guest went on writing to the same disks on the destination.
        acked_before = verify.parse_console(before)
        acked_after = verify.parse_console(after)
        self.assertEqual(2, len(acked_before))      # root and ephemeral
        for disk_id, seq in acked_before.items():
            self.assertGreater(acked_after.get(disk_id, -1), seq)
        self.addDetail('numbers', testtools.content.text_content(
            'block live migration: %.1f s by the API, libvirt job %s' % (
                elapsed, job)))
        self.verify_data(server, [before, after])


class SharedStorageLiveMigrationTest(base.LabTestCase):
    """c5 and c6 share their instances path (a GlusterFS volume)."""

    def disk_inodes(self, host, server):
        """{file: inode} of the server's disks, seen from *host*."""
        folder = '/var/lib/nova/instances/%s' % server.id
        out = self.cloud.host(host).run(
            ['stat', '-c', '%n %i', folder + '/disk',
             folder + '/disk.eph0'], timeout=30).stdout
        return dict(line.split() for line in out.splitlines())

    def test_live_migration_sends_memory_only_and_keeps_every_write(self):
        server = self.boot('c5', flavor='lab.eph')
        before = self.console(server)
        inodes = self.disk_inodes('c5', server)
        mark = self.log_mark('c5')
        c5, c6 = self.cloud.host('c5'), self.cloud.host('c6')
        sent_before = c5.tx_bytes()
        served_before = sharedfs.bytes_served_to(c5, c6)
        start = time.monotonic()
        self.nova.servers.live_migrate(server, host='c6',
                                       block_migration=False)
        server = self.wait_status(server, 'ACTIVE')
        elapsed = time.monotonic() - start
        # What left c5 on the wire, less what its GlusterFS brick sent to
        # c6's mount: the migration stream.
        served = sharedfs.bytes_served_to(c5, c6) - served_before
        sent = c5.tx_bytes() - sent_before
        self.assertEqual('c6', self.host_of(server))
        migration = self.wait_migration(server, 'completed')
        self.assertEqual('completed', migration.status)
        # Our driver, not stock nova's, checked this move on the source.
        self.assertTrue('Precheck token_lifetime passed for %s' % server.id
                        in self.compute_log_since('c5', mark),
                        'our prechecks did not run on c5')
        # The same disk files, not copies of them.
        self.assertEqual(inodes, self.disk_inodes('c6', server))
        job = self.guests.job_info(server)
        memory = job_bytes(job, 'Memory processed')
        numbers = ('live migration on shared storage: %.1f s by the API, '
                   'c5 sent %d bytes, %d of them GlusterFS reads of c6; '
                   'libvirt job %s' % (elapsed, sent, served, job))
        self.addDetail('numbers', testtools.content.text_content(numbers))
        # The migration stream carried the guest's memory, not its disks.
        self.assertGreater(memory, 0)
        self.assertLess(sent - served - memory, 4 * MiB, numbers)
        after = self.wait_console(server, 'nmx-ack')
        acked_before = verify.parse_console(before)
        acked_after = verify.parse_console(after)
        for disk_id, seq in acked_before.items():
            self.assertGreater(acked_after.get(disk_id, -1), seq)
        self.verify_data(server, [before, after])


class BandwidthCapTest(base.LabTestCase):

    def test_cap_reaches_libvirt_and_bounds_the_migration(self):
        cap = 8
        server = self.boot('c1')
        # Signed as the evacuator signs it: the driver ignores anything else.
        self.nova.servers.set_meta(server, {
            throttle.BANDWIDTH_KEY: throttle.sign(
                config.BANDWIDTH_CAP_SECRET, server.id, cap, 3600)})
        before = self.console(server)
        speeds = []
        stop = threading.Event()
        domain = self.guests.instance_name(server)

        def watch():
            while not stop.is_set():
                result = self.cloud.host('c1').run(
                    ['virsh', '-c', 'qemu:///system', 'migrate-getspeed',
                     domain], check=False, timeout=30)
                if result.returncode == 0 and result.stdout.strip():
                    speeds.append(int(result.stdout.split()[0]))
                time.sleep(1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        self.addCleanup(stop.set)
        start = time.monotonic()
        self.nova.servers.live_migrate(server, host='c2',
                                       block_migration=True)
        server = self.wait_status(server, 'ACTIVE')
        elapsed = time.monotonic() - start
        stop.set()
        self.assertEqual('c2', self.host_of(server))
        job = self.guests.job_info(server)
        moved = job_bytes(job, 'Memory processed') + job_bytes(
            job, 'File processed')
        self.addDetail('numbers', testtools.content.text_content(
            'capped at %d MiB/s: %.1f s for %d bytes, speeds seen %s; '
            'libvirt job %s' % (cap, elapsed, moved, sorted(set(speeds)),
                                job)))
        # libvirt was told the cap while the migration ran ...
        self.assertIn(cap, speeds)
        # ... and the copy could not have gone faster than the cap.
        self.assertGreaterEqual(elapsed, moved / (cap * MiB) * 0.9)
        self.verify_data(server, [before])
