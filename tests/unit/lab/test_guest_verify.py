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
"""Tests of the lab guest's checker on synthetic raw disk images."""

import contextlib
import io
import os
import re
import subprocess
from unittest import mock

import fixtures
from oslotest import base

from tests.lab.guest import verify

DISK_ID = '1a2b3c4d'
OTHER_ID = 'cafe0042'
RING = 8
SECTOR = verify.SECTOR
INIT = os.path.join(os.path.dirname(verify.__file__), 'init')


def ms_of(seq):
    return 3000 + 200 * seq


def make_image(seq, ring=RING, disk_id=DISK_ID, inflight=False, size=None):
    """Return the image the guest leaves after write *seq* (a bytearray).

    Writes 1..seq as the guest does, then, with *inflight*, the record of
    seq + 1 without its header.
    """
    data = bytearray(size or (1 + ring) * SECTOR)
    last = seq + 1 if inflight else seq
    for s in range(max(1, last - ring + 1), last + 1):
        sector = verify.slot_sector(s, ring)
        data[sector * SECTOR:(sector + 1) * SECTOR] = verify.slot_block(
            disk_id, s, ms_of(s))
    data[:SECTOR] = verify.header_block(disk_id, ring, seq)
    return data


def console(*acks, disk_id=DISK_ID, dev='vda'):
    """Return a console text acknowledging seqs *acks*, as the guest does."""
    lines = ['[    1.234] Linux booting',
             'nmx-claim %s %s 0 new' % (dev, disk_id)]
    for n, seq in enumerate(acks, 1):
        lines.append('nmx-tick %d %d 1700000000' % (n, ms_of(seq)))
        lines.append('nmx-ack %s %s %d %d' % (disk_id, dev, seq, ms_of(seq)))
    return '\r\n'.join(lines) + '\r\n'


class TestFormat(base.BaseTestCase):

    def test_blocks(self):
        block = verify.slot_block(DISK_ID, 17, 12345)
        self.assertEqual(SECTOR, len(block))
        self.assertTrue(block.startswith(b'NMXS1 1a2b3c4d 17 12345 '))
        self.assertTrue(block.endswith(b' \n'))
        self.assertEqual((DISK_ID, 17, 12345), verify.parse_slot(block))
        header = verify.header_block(DISK_ID, RING, 17)
        self.assertEqual(SECTOR, len(header))
        self.assertEqual((DISK_ID, RING, 17), verify.parse_header(header))
        self.assertIsNone(verify.parse_header(block))
        self.assertIsNone(verify.parse_slot(header))
        self.assertIsNone(verify.parse_slot(bytes(SECTOR)))

    def test_slot_sector(self):
        self.assertEqual([2, 8, 1, 2],
                         [verify.slot_sector(s, RING) for s in (1, 7, 8, 9)])

    def test_checksum_matches_init(self):
        # The guest's shell function must compute what verify.py checks.
        with open(INIT) as f:
            func = re.search(r'^csum\(\) \{.*?^\}$', f.read(),
                             re.M | re.S).group(0)
        script = (func + '\ncsum 2 $((0xffffffff)) 4294967295 987654321\n'
                  'echo $sum\ncsum 1 $((0x%s)) 1024 0\necho $sum\n' % DISK_ID)
        out = subprocess.run(['sh', '-c', script], check=True,
                             capture_output=True, text=True).stdout
        self.assertEqual([verify.checksum(2, 0xffffffff, 4294967295,
                                          987654321),
                          verify.checksum(1, 0x1a2b3c4d, 1024, 0)],
                         out.split())


class TestVerifyDisk(base.BaseTestCase):

    def assertProblem(self, pattern, report):
        self.assertFalse(report.ok)
        self.assertTrue(any(re.search(pattern, p) for p in report.problems),
                        report.problems)

    def test_fresh_disk(self):
        report = verify.verify_disk(bytes(make_image(0)))
        self.assertEqual([], report.problems)
        self.assertEqual((DISK_ID, 0, RING), (report.disk_id, report.seq,
                                              report.ring))

    def test_partly_filled_ring(self):
        report = verify.verify_disk(bytes(make_image(5)))
        self.assertEqual([], report.problems)
        self.assertEqual({s: ms_of(s) for s in range(1, 6)}, report.slots)
        self.assertIsNone(report.inflight)

    def test_wrapped_ring_with_inflight_write(self):
        for seq in (RING - 1, RING, RING + 1, 3 * RING + 5):
            report = verify.verify_disk(bytes(make_image(seq, inflight=True)))
            self.assertEqual([], report.problems, seq)
            self.assertEqual(seq + 1, report.inflight)
            self.assertEqual(set(range(max(1, seq - RING + 2), seq + 1)),
                             set(report.slots))

    def test_flipped_byte_anywhere(self):
        good = make_image(RING + 3, inflight=True)
        for offset in range(0, len(good), 37):
            data = bytearray(good)
            data[offset] ^= 0x01
            report = verify.verify_disk(bytes(data))
            self.assertFalse(report.ok, 'byte %d' % offset)

    def test_flipped_digit_keeps_format(self):
        # 'NMXS1 1a2b3c4d 4 3800': the ms 3800 becomes 3900.
        data = make_image(5)
        sector = verify.slot_sector(4, RING)
        offset = sector * SECTOR + data[sector * SECTOR:].index(b'3800') + 1
        data[offset] = ord('9')
        self.assertProblem(r'^sector %d: corrupt record$' % sector,
                           verify.verify_disk(bytes(data)))

    def test_corrupt_header(self):
        data = make_image(5)
        data[10] ^= 0x04
        report = verify.verify_disk(bytes(data))
        self.assertProblem('corrupt header', report)
        self.assertIsNone(report.disk_id)

    def test_not_ours(self):
        self.assertProblem('no nmx header',
                           verify.verify_disk(bytes(9 * SECTOR)))

    def test_missing_slot(self):
        data = make_image(RING + 3)
        sector = verify.slot_sector(RING + 1, RING)
        data[sector * SECTOR:(sector + 1) * SECTOR] = bytes(SECTOR)
        self.assertProblem(r'^sector %d: seq %d missing$' % (sector, RING + 1),
                           verify.verify_disk(bytes(data)))

    def test_stale_slot(self):
        data = make_image(RING + 3)
        sector = verify.slot_sector(RING + 2, RING)
        data[sector * SECTOR:(sector + 1) * SECTOR] = verify.slot_block(
            DISK_ID, 2, ms_of(2))
        self.assertProblem('stale seq 2, expected %d' % (RING + 2),
                           verify.verify_disk(bytes(data)))

    def test_header_behind_ring(self):
        # The header rolled back two writes: seq 5 is beyond it.
        data = make_image(5)
        data[:SECTOR] = verify.header_block(DISK_ID, RING, 3)
        self.assertProblem('seq 5 beyond header seq 3',
                           verify.verify_disk(bytes(data)))

    def test_misplaced_and_foreign_records(self):
        data = make_image(5)
        data[2 * SECTOR:3 * SECTOR] = verify.slot_block(DISK_ID, 3, 1)
        data[3 * SECTOR:4 * SECTOR] = verify.slot_block(OTHER_ID, 2, 1)
        report = verify.verify_disk(bytes(data))
        self.assertProblem('sector 2: seq 3 misplaced', report)
        self.assertProblem('sector 3: record of disk %s' % OTHER_ID, report)

    def test_foreign_data_in_unwritten_slots(self):
        # A claimed formatted disk: leftovers in slots never written yet.
        data = make_image(2)
        data[5 * SECTOR:6 * SECTOR] = b'\x53\xef' * (SECTOR // 2)
        self.assertEqual([], verify.verify_disk(bytes(data)).problems)

    def test_short_image(self):
        self.assertProblem('shorter than its ring',
                           verify.verify_disk(bytes(make_image(3))[:-1]))


class TestConsole(base.BaseTestCase):

    def test_parse_console(self):
        text = (console(1, 2, 3) + console(7, disk_id=OTHER_ID, dev='vdb') +
                'noise nmx-ack %s vda 9 1' % DISK_ID)  # cut: not complete
        self.assertEqual({DISK_ID: 3, OTHER_ID: 7},
                         verify.parse_console(text))
        self.assertEqual(verify.Ack(OTHER_ID, 'vdb', 7, ms_of(7)),
                         verify.parse_acks(text)[-1])

    def test_ticks_and_gaps(self):
        text = ('nmx-tick 1 1000 50\nnmx-tick 2 1200 50\n'
                'garbage nmx-tick 3 2400 53\r\nnmx-tick 4 2600 53\n'
                # A reboot: uptime starts again, no gap.
                'nmx-tick 1 900 60\nnmx-tick 2 1150 60\nnmx-tick 3 13')
        self.assertEqual([1, 2, 3, 4, 1, 2],
                         [t.n for t in verify.parse_ticks(text)])
        self.assertEqual(1200, verify.max_gap(text))
        self.assertEqual(3000, verify.max_gap(text, clock='rtc'))
        self.assertEqual(0, verify.max_gap(''))


class TestVerify(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def disk(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def test_pass(self):
        a = self.disk('a', make_image(RING + 4, inflight=True))
        b = self.disk('b', make_image(2, disk_id=OTHER_ID))
        report = verify.verify(
            [a, b], [console(*range(1, RING + 5)),
                     console(1, 2, disk_id=OTHER_ID, dev='vdb')])
        self.assertTrue(report.ok, report.summary())
        self.assertEqual({DISK_ID: RING + 4, OTHER_ID: 2}, report.acked)
        self.assertIn('OK %s id=%s seq=%d ring=%d inflight=%d acked=%d' % (
            a, DISK_ID, RING + 4, RING, RING + 5, RING + 4),
            report.summary())

    def test_disk_bigger_than_ring(self):
        data = make_image(3, size=(2 + verify.DEFAULT_RING) * SECTOR)
        self.assertTrue(verify.verify([self.disk('a', data)],
                                      [console(1, 2, 3)]).ok)

    def test_flipped_byte(self):
        data = make_image(4)
        data[3 * SECTOR + 100] ^= 0x20
        report = verify.verify([self.disk('a', data)], [console(1, 2, 3, 4)])
        self.assertFalse(report.ok)
        self.assertIn('FAIL', report.summary())

    def test_header_rolled_back_below_ack(self):
        # As if the disk were restored from an older copy.
        a = self.disk('a', make_image(3))
        report = verify.verify([a], [console(1, 2, 3, 4, 5)])
        self.assertFalse(report.ok)
        self.assertEqual(['header seq 3 below acked seq 5'],
                         report.disks[0].problems)

    def test_altered_acked_write(self):
        data = make_image(4)
        sector = verify.slot_sector(3, RING)
        data[sector * SECTOR:(sector + 1) * SECTOR] = verify.slot_block(
            DISK_ID, 3, 42)
        report = verify.verify([self.disk('a', data)], [console(1, 2, 3, 4)])
        self.assertEqual(['seq 3 holds ms 42, acked ms %d' % ms_of(3)],
                         report.disks[0].problems)

    def test_acked_twice_differently(self):
        a = self.disk('a', make_image(2))
        report = verify.verify([a], [console(1, 2),
                                     'nmx-ack %s vda 2 1\n' % DISK_ID])
        self.assertFalse(report.ok)
        self.assertIn('acked twice', report.summary())

    def test_missing_slot(self):
        data = make_image(6)
        data[5 * SECTOR:6 * SECTOR] = bytes(SECTOR)
        report = verify.verify([self.disk('a', data)], [console(5, 6)])
        self.assertFalse(report.ok)
        self.assertIn('seq 4 missing', report.summary())

    def test_disk_lost(self):
        a = self.disk('a', make_image(2))
        report = verify.verify(
            [a], [console(1, 2), console(1, disk_id=OTHER_ID, dev='vdb')])
        self.assertFalse(report.ok)
        self.assertEqual(['disk %s: acked up to seq 1, found on no disk'
                          % OTHER_ID], report.problems)

    def test_unreadable_disk(self):
        report = verify.verify([os.path.join(self.tmp, 'gone')])
        self.assertFalse(report.ok)
        self.assertIn('unreadable', report.summary())

    def test_qcow2_read_through_qemu_img(self):
        path = self.disk('a.qcow2', b'QFI\xfb' + bytes(100))

        def fake_run(cmd, **kwargs):
            out = [a[3:] for a in cmd if a.startswith('of=')][0]
            with open(out, 'wb') as f:
                f.write(make_image(2))

        with mock.patch.object(subprocess, 'run', side_effect=fake_run) as run:
            self.assertEqual(bytes(make_image(2)), verify.read_disk(path))
        cmd = run.call_args[0][0]
        self.assertEqual(['qemu-img', 'dd', '-U', '-f', 'qcow2', '-O', 'raw',
                          'bs=512', 'count=%d' % (1 + verify.DEFAULT_RING),
                          'if=' + path], cmd[:-1])

    def test_cli(self):
        a = self.disk('a', make_image(3))
        log = self.disk('console.log', console(1, 2, 3).encode())
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(0, verify.main(['--console', log, a]))
        self.assertIn('OK %s id=%s seq=3' % (a, DISK_ID), out.getvalue())
        self.assertIn('ticks 3, max gap 200 ms', out.getvalue())
        log = self.disk('console.log', console(1, 2, 3, 4).encode())
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(1, verify.main(['--console', log, a]))
