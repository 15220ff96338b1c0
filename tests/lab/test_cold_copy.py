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
"""The verified, two-phase cold-migration copy between lab hosts.

Every test moves a running lab guest through nova's API and proves its
data afterwards; the copy itself runs over the lab's real ssh. The
compute logs say which copy ran and what it did (``Copied ... verified``),
so each test also shows that our code acted, not nova's scp.

Raw disks: hosts c2 and c3 are restarted with ``[libvirt] images_type =
flat`` (raw files holding the whole image) for ``RawDiskCopyTest``, their
copies capped at 8 MiB/s, c3 with two-phase copies; the guest's image
carries 96 MiB of data, so a copy takes long enough to be cut, and fills
a small destination.
"""

import json
import os
import re
import time

import testtools.content

from nova_migration_ext.compute import cold_copy
from tests.lab import base
from tests.lab import cloud as lab_cloud

COPIED = re.compile(
    r'Copied \S+/(?P<name>[^/\s]+) to \S+ in [\d.]+ s: (?P<bytes>\d+) bytes '
    r'in (?P<sent>\d+) chunks sent, (?P<skipped>\d+) chunks already there '
    r'or empty, (?P<passes>\d+) pass\(es\), (?P<repaired>\d+) chunk\(s\) '
    r'repaired, (?P<resumed>\d+) resume\(s\), verified=(?P<verified>\w+) '
    r'\((?P<checksum>\w+)\)')
INSTANCES = '/var/lib/nova/instances'
# A guest's first tick after it booted: its host-clock time.
FIRST_TICK = re.compile(r'^nmx-tick 1 \d+ (\d+)', re.M)


def copies(log):
    """{disk file name: [numbers of each copy, in order]} from a log."""
    found = {}
    for match in COPIED.finditer(log):
        numbers = match.groupdict()
        found.setdefault(numbers.pop('name'), []).append(numbers)
    return found


class CopyLogMixin:

    def cold_migrate(self, server, host):
        self.nova.servers.migrate(server, host=host)
        return self.wait_status(server, 'VERIFY_RESIZE')

    def confirm_and_verify(self, server, before, host):
        """Confirm the resize; *server* runs on *host* with every write."""
        self.nova.servers.confirm_resize(server)
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual(host, self.host_of(server))
        after = self.wait_console(server, 'nmx-ready')
        self.verify_data(server, [before, after])

    def assert_verified(self, found, names):
        for name in names:
            self.assertIn(name, found)
            self.assertEqual('True', found[name][-1]['verified'], found)
            self.assertEqual('xxh128', found[name][-1]['checksum'], found)


class TwoPhaseCopyTest(CopyLogMixin, base.LabTestCase):
    """c1 copies the disks of a running VM before it powers it off."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cloud = lab_cloud.Cloud()
        cloud.start_compute('c1', migration_ext={'cold_copy_two_phase':
                                                 True})
        cls.addClassCleanup(cloud.start_compute, 'c1')

    def test_two_phase_keeps_every_write_of_a_running_guest(self):
        server = self.boot('c1', flavor='lab.eph')
        before = self.console(server)
        mark = self.log_mark('c1')
        server = self.cold_migrate(server, 'c2')
        log = self.compute_log_since('c1', mark)
        found = copies(log)
        # Each disk: a first pass (unverified) while the guest wrote,
        # then the final one, verified.
        for name in ('disk', 'disk.eph0'):
            self.assertEqual(['False', 'True'],
                             [c['verified'] for c in found[name]])
        # Our clean shutdown watched the guest, not nova's (once a
        # second), and the passes shared their ssh connection.
        self.assertRegex(log, r'Instance shut down cleanly in \d+\.\d s')
        self.assertNotIn('Instance shutdown successfully after', log)
        self.assertNotIn('connects on its own', log)
        self.confirm_and_verify(server, before, 'c2')


class RawDiskCopyTest(CopyLogMixin, base.LabTestCase):
    """Raw disks (images_type = flat) between c2 and c3."""

    HOSTS = ('c2', 'c3')
    # A raw deployment: with use_cow_images nova would turn the copied
    # raw disks into qcow2 on the destination (finish_migration).
    FLAT = {'libvirt': {'images_type': 'flat'},
            'DEFAULT': {'use_cow_images': False}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cloud = lab_cloud.Cloud()
        for host in cls.HOSTS:
            cls.addClassCleanup(cloud.start_compute, host)
            # At most 8 MiB/s: a copy of the 96 MiB image lasts 12 s.
            # c3 copies in two phases, and keeps a VM down 3 s at most.
            cloud.start_compute(host, extra=cls.FLAT, migration_ext={
                'cold_copy_max_bandwidth': 8,
                'cold_copy_two_phase': host == 'c3',
                'cold_copy_max_downtime': 3 if host == 'c3' else 0})
        cls.image = cloud.make_root_image('raw-%s' % time.strftime(
            '%H%M%S'), fill_mb=96)
        cls.addClassCleanup(cloud.glance().images.delete, cls.image)

    def boot_raw(self, host='c2', flavor='lab.small'):
        server = self.boot(host, flavor=flavor, image=self.image)
        listing = self.cloud.run_in(host, ['qemu-img', 'info', '%s/%s/disk'
                                           % (INSTANCES, server.id)])
        self.assertIn('file format: raw', listing)
        return server

    def only_raw_hosts(self):
        """The scheduler can pick no host but c2 and c3 (for a resize)."""
        for service in self.nova.services.list(binary='nova-compute'):
            if service.host not in self.HOSTS and service.status == \
                    'enabled':
                self.nova.services.disable(service.id)
                self.addCleanup(self.nova.services.enable, service.id)

    def test_resize_of_raw_disks_keeps_every_write(self):
        server = self.boot_raw()
        before = self.console(server)
        mark = self.log_mark('c2')
        self.only_raw_hosts()
        self.nova.servers.resize(server, self.nova.flavors.find(
            name='lab.big'))
        server = self.wait_status(server, 'VERIFY_RESIZE')
        self.assertEqual('c3', self.host_of(server))
        found = copies(self.compute_log_since('c2', mark))
        self.assert_verified(found, ('disk',))
        self.assertGreaterEqual(int(found['disk'][-1]['bytes']),
                                96 * 1024 * 1024)
        self.confirm_and_verify(server, before, 'c3')

    def test_connection_cut_mid_copy_resumes(self):
        server = self.boot_raw()
        before = self.console(server)
        mark = self.log_mark('c2')
        self.nova.servers.migrate(server, host='c3')
        # Kill the ssh connection of the copy (on c2) once c3 holds more
        # than 24 MiB of it: 3 s of copy, 2 saves of its digests.
        deadline = time.monotonic() + 120
        while True:
            listing = self.cloud.run_in('c3', [
                'sh', '-c', 'ls -s %s/%s/disk 2>/dev/null || true'
                % (INSTANCES, server.id)]).split()
            if listing and int(listing[0]) > 24 * 1024:
                break
            self.assertLess(time.monotonic(), deadline, 'no copy seen')
            time.sleep(0.2)
        self.cloud.run_in('c2', ['pkill', '-f', '^ssh .*diskcopy.receiver'])
        server = self.wait_status(server, 'VERIFY_RESIZE')
        found = copies(self.compute_log_since('c2', mark))
        self.assert_verified(found, ('disk',))
        self.assertEqual('1', found['disk'][-1]['resumed'])
        # Resumed, not restarted: the second pass did not send it all.
        record = json.loads(self.cloud.run_in('c2', [
            'cat', '%s/%s_resize/nmx-copy.json' % (INSTANCES, server.id)]))
        [disk] = [d for d in record['disks'] if d['source'].endswith('/disk')]
        self.addDetail('record', testtools.content.json_content(disk))
        first, second = disk['bytes_per_pass']
        self.assertLess(second, 96 * 1024 * 1024 - 8 * 1024 * 1024)
        # A one-phase copy: the driver's larger chunks.
        self.assertEqual(cold_copy.ONE_PHASE_CHUNK, disk['chunk'])
        self.confirm_and_verify(server, before, 'c3')

    def test_destination_full_fails_cleanly_and_the_vm_runs_on(self):
        server = self.boot_raw()
        before = self.console(server)
        folder = '%s/%s' % (INSTANCES, server.id)
        # c3 has 16 MiB for this VM's folder: the copy runs out of space.
        self.cloud.run_in('c3', ['sh', '-c', 'mkdir -p %s && mount -t tmpfs '
                                 '-o size=16m nmx-full %s' % (folder,
                                                              folder)])
        self.addCleanup(self.cloud.run_in, 'c3', [
            'sh', '-c', 'umount %s; rmdir %s || true' % (folder, folder)])
        mark = self.log_mark('c2')
        asked = int(time.time())
        self.nova.servers.migrate(server, host='c3')
        self.wait_for_log('c2', mark, 'The VM runs again on this host')
        migration = self.wait_migration(server, 'error', timeout=120)
        self.assertEqual('error', migration.status)
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual('c2', self.host_of(server))
        log = self.compute_log_since('c2', mark)
        self.assertIn('No space left on device. Nothing was lost', log)
        self.assertIn('The VM runs again on this host', log)
        # It runs on, on c2, rebooted once (its ticks start again from 1
        # after the migration was asked for), and lost nothing.
        deadline = time.monotonic() + 120
        while True:
            after = self.console(server)
            restarts = list(FIRST_TICK.finditer(after))
            if restarts and int(restarts[-1].group(1)) >= asked and \
                    'nmx-ready' in after[restarts[-1].start():]:
                break
            self.assertLess(time.monotonic(), deadline, after[-2000:])
            time.sleep(2)
        self.verify_data(server, [before, after])

    def test_two_phase_repairs_a_byte_corrupted_between_the_passes(self):
        server = self.boot_raw('c3')
        before = self.console(server)
        mark = self.log_mark('c3')
        self.nova.servers.migrate(server, host='c2')
        # While c3 powers the VM off, a byte of the first pass's copy on
        # c2 goes bad, in data the guest never writes (the image's).
        self.wait_for_log('c3', mark, 'powering off for the final pass')
        self.cloud.run_in('c2', [
            'sh', '-c', "printf '\\377' | dd of=%s/%s/disk bs=1 seek=%d "
            "conv=notrunc status=none" % (INSTANCES, server.id,
                                          64 * 1024 * 1024 + 100)])
        server = self.wait_status(server, 'VERIFY_RESIZE')
        found = copies(self.compute_log_since('c3', mark))
        # First passes (as many as it took to get under 3 s), unverified,
        # then the final one, verified.
        self.assertEqual(['True'], list(set(
            c['verified'] for c in found['disk'][-1:])))
        self.assertEqual(['False'], list(set(
            c['verified'] for c in found['disk'][:-1])))
        final = found['disk'][-1]
        self.assertEqual('1', final['repaired'])
        self.assertEqual('2', final['passes'])
        self.confirm_and_verify(server, before, 'c2')
        # The image's data, the byte included, is the source's.
        self.assertEqual('5a', self.cloud.run_in('c2', [
            'sh', '-c', "od -An -tx1 -j %d -N1 %s/%s/disk"
            % (64 * 1024 * 1024 + 100, INSTANCES, server.id)]).strip())

    def test_vm_writing_faster_than_the_link_stays_running(self):
        # The guest rewrites 48 MiB of its disk over and over, faster than
        # c3's 8 MiB/s copy: no first pass gets under 3 s.
        image = self.cloud.make_root_image(
            'churn-%s' % self.tag, fill_mb=96, guest_options='nmx_churn=48')
        self.addCleanup(self.glance.images.delete, image)
        server = self.boot('c3', image=image)
        self.wait_console(server, 'nmx-churned 2 ')
        before = self.console(server)
        mark = self.log_mark('c3')
        asked = int(time.time())
        self.nova.servers.migrate(server, host='c2')
        migration = self.wait_migration(server, 'error', timeout=300)
        self.assertEqual('error', migration.status)
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual('c3', self.host_of(server))
        log = self.compute_log_since('c3', mark)
        self.assertIn('The VM writes to its disks faster than they can be '
                      'sent to c2', log)
        self.assertIn('Nothing was lost: the VM never stopped and still '
                      'runs on c3', log)
        self.assertNotIn('powering off for the final pass', log)
        self.assertEqual('', self.cloud.run_in('c2', [
            'sh', '-c', 'ls -d %s/%s* 2>/dev/null || true'
            % (INSTANCES, server.id)]).strip())
        after = self.console(server)
        self.assertEqual([], [t for t in FIRST_TICK.findall(after)
                              if int(t) >= asked])
        self.verify_data(server, [before, after])


class SshRefusedTest(base.LabTestCase):
    """The destination's sshd is down: the move stops before any change."""

    def test_cold_migration_to_a_host_without_sshd(self):
        server = self.boot('c1')
        before = self.console(server)
        c2 = self.cloud.host('c2')
        c2.stop_sshd()
        self.addCleanup(c2.start_sshd)
        mark = self.log_mark('c1')
        asked = int(time.time())
        self.nova.servers.migrate(server, host='c2')
        migration = self.wait_migration(server, 'error', timeout=120)
        self.assertEqual('error', migration.status)
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual('c1', self.host_of(server))
        log = self.compute_log_since('c1', mark)
        self.assertIn('over ssh to prepare the copy: ssh: connect to host',
                      log)
        self.assertIn('Connection refused. Nothing was changed: the VM is '
                      'still on c1. To do: check that sshd runs on c2', log)
        self.assertNotIn('Copied ', log)
        # Never stopped: no boot since the migration was asked for.
        after = self.wait_console(server, 'nmx-ready')
        self.assertEqual([], [t for t in FIRST_TICK.findall(after)
                              if int(t) >= asked])
        self.verify_data(server, [before, after])


# Three passes of a two-phase copy (two first ones, then the final one),
# as cold_copy runs them in nova-compute, with or without the connection
# they share. Prints the shared connection's control path, or "-".
THREE_PASSES = r'''
import contextlib, sys, types
from nova_migration_ext.compute import cold_copy
path, host, python, shared = sys.argv[1:5]
conf = types.SimpleNamespace(
    cold_copy_compression='none', cold_copy_checksum='xxh128',
    cold_copy_retries=1, cold_copy_remote_python=python,
    cold_copy_max_bandwidth=0)
with (cold_copy.shared_connection(host) if shared == '1'
      else contextlib.nullcontext(())) as options:
    for precopy in (True, True, False):
        with open(path, 'r+b') as disk:
            disk.write(b'changed %d' % precopy)
        report = cold_copy.copy_disk(conf, path, path, host, 'c1',
                                     precopy=precopy, page_cache=True,
                                     ssh_options=options)
    assert report['verified'], report
    print(options[-1].split('=', 1)[1] if options else '-')
'''


class SharedConnectionTest(base.LabTestCase):
    """The passes of a two-phase copy share one ssh connection.

    A new connection costs about 0.35 s between lab hosts, a session on
    an open one about 0.1 s: the final pass runs with the VM down.
    """

    PATH = INSTANCES + '/nmx-shared-connection.img'

    def accepted(self):
        """Connections c2's sshd accepted so far."""
        with open(os.path.join(self.cloud.host('c2').root, 'log',
                               'sshd.log'), errors='replace') as log:
            return log.read().count('Accepted publickey')

    def three_passes(self, shared):
        python = self.cloud._remote_python()
        before = self.accepted()
        out = self.cloud.run_in('c1', [python, '-c', THREE_PASSES, self.PATH,
                                       'c2', python, str(int(shared))],
                                timeout=600)
        return self.accepted() - before, out.strip().splitlines()[-1]

    def test_one_connection_for_every_pass_and_closed_after(self):
        self.cloud.run_in('c1', ['sh', '-c', 'head -c 64M /dev/urandom > '
                                 + self.PATH])
        self.addCleanup(self.cloud.run_in, 'c1', ['rm', '-f', self.PATH])
        self.addCleanup(self.cloud.run_in, 'c2', ['rm', '-f', self.PATH])
        connections, control = self.three_passes(shared=True)
        self.assertEqual(1, connections)
        # Closed on the way out: no master left, its folder gone.
        self.assertFalse(os.path.exists(os.path.dirname(control)))
        ps = self.cloud.run_in('c1', ['ps', '-eo', 'args'])
        self.assertNotIn(control, ps)
        # Control: each pass on its own connection.
        connections, control = self.three_passes(shared=False)
        self.assertEqual(('-', 3), (control, connections))
