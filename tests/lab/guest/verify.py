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
"""Prove that the lab guest lost or altered no acknowledged write.

The guest (``init`` beside this file) keeps, on every disk it claims::

    sector 0       header  "NMXH1 <id> <ring> <seq> <sum>"
    sector 1 + k   slot k  "NMXS1 <id> <seq> <ms> <sum>", k = seq % ring

Each record is one text line, padded with spaces to 511 bytes, plus a
newline: ``id`` is 8 hex digits, ``ms`` the guest's uptime in milliseconds,
``sum`` the :func:`checksum` of the numbers (shell arithmetic in the guest),
all other numbers canonical decimal. For write ``seq`` the guest writes its
slot, then the header naming ``seq``, each with fsync, and only then prints
``nmx-ack <id> <dev> <seq> <ms>`` on the console.

Invariant, with H the header's seq and R the ring size: the slot of every
seq s in ``max(1, H - R + 1) .. H`` holds exactly s, except that the write
H + 1, in flight (on disk, not yet in the header, never acknowledged), may
have replaced the oldest of them (s = H + 1 - R) or filled an unwritten
slot. No slot holds any other record of ours. Against the consoles: H is at
least the highest seq acknowledged for the disk's id, and each acknowledged
seq still in the ring holds the acknowledged ``ms``.

Check a stopped or paused guest: a ring read while the guest writes is no
consistent snapshot. If the guest may still run, read its consoles before
its disks, so that every acknowledgement read is already on the disks.
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

SECTOR = 512
DEFAULT_RING = 1024
MAX_READ = 64 * 1024 * 1024
HEADER_MAGIC = 'NMXH1'
SLOT_MAGIC = 'NMXS1'
_QCOW2_MAGIC = b'QFI\xfb'
_MODULUS = 2147483647
_FACTOR = 1000003
_HEADER_KIND = 1
_SLOT_KIND = 2

Ack = collections.namedtuple('Ack', 'disk_id dev seq ms')
Tick = collections.namedtuple('Tick', 'n ms rtc')

_ACK_RE = re.compile(r'nmx-ack ([0-9a-f]{8}) (\w+) (\d+) (\d+)\s*$')
_TICK_RE = re.compile(r'nmx-tick (\d+) (\d+) (\d+)\s*$')
_HEADER_RE = re.compile(r'NMXH1 ([0-9a-f]{8}) (\d+) (\d+) (\d+)$')
_SLOT_RE = re.compile(r'NMXS1 ([0-9a-f]{8}) (\d+) (\d+) (\d+)$')


def checksum(*numbers):
    """Return the guest's checksum of *numbers*, in decimal."""
    value = 0
    for number in numbers:
        value = (value * _FACTOR + number) % _MODULUS
    return str(value)


def _block(text):
    return ('%-511s\n' % text).encode('ascii')


def header_block(disk_id, ring, seq):
    """Return the 512-byte header the guest writes at sector 0."""
    total = checksum(_HEADER_KIND, int(disk_id, 16), ring, seq)
    return _block('%s %s %d %d %s' % (HEADER_MAGIC, disk_id, ring, seq,
                                      total))


def slot_block(disk_id, seq, ms):
    """Return the 512-byte record of write *seq*."""
    total = checksum(_SLOT_KIND, int(disk_id, 16), seq, ms)
    return _block('%s %s %d %d %s' % (SLOT_MAGIC, disk_id, seq, ms, total))


def slot_sector(seq, ring):
    """Return the sector that holds write *seq*."""
    return 1 + seq % ring


def _parse(block, regex, make):
    """Return the fields of a canonical record, or None if it is not."""
    line = block.split(b'\n', 1)[0].decode('ascii', 'replace').rstrip(' ')
    match = regex.match(line)
    if not match:
        return None
    fields = (match.group(1),) + tuple(int(g) for g in match.groups()[1:3])
    return fields if make(*fields) == block else None


def parse_header(block):
    """Return (disk_id, ring, seq) of a valid header, else None."""
    fields = _parse(block, _HEADER_RE, header_block)
    if fields is None or fields[1] < 1:
        return None
    return fields


def parse_slot(block):
    """Return (disk_id, seq, ms) of a valid slot record, else None."""
    return _parse(block, _SLOT_RE, slot_block)


class DiskReport:
    """What one disk holds; ``problems`` is empty when it is consistent."""

    def __init__(self, path=None):
        self.path = path
        self.disk_id = None
        self.ring = None
        self.seq = None
        self.inflight = None
        self.slots = {}
        self.problems = []

    @property
    def ok(self):
        return not self.problems

    def line(self, acked=None):
        """Return a one-line verdict; *acked*: highest seq acknowledged."""
        name = self.path or '<data>'
        if self.disk_id is None:
            return 'FAIL %s: %s' % (name, '; '.join(self.problems))
        text = '%s %s id=%s seq=%d ring=%d' % (
            'OK' if self.ok else 'FAIL', name, self.disk_id, self.seq,
            self.ring)
        if self.inflight:
            text += ' inflight=%d' % self.inflight
        if acked is not None:
            text += ' acked=%d' % acked
        if self.problems:
            text += ': ' + '; '.join(self.problems)
        return text


def _image_format(path):
    with open(path, 'rb') as f:
        return 'qcow2' if f.read(4) == _QCOW2_MAGIC else 'raw'


def _read(path, fmt, size):
    if fmt == 'raw':
        with open(path, 'rb') as f:
            return f.read(size)
    with tempfile.TemporaryDirectory(prefix='nmx-verify-') as tmp:
        out = os.path.join(tmp, 'head.raw')
        # -U: the image may still be open (and locked) by QEMU.
        subprocess.run(['qemu-img', 'dd', '-U', '-f', fmt, '-O', 'raw',
                        'bs=%d' % SECTOR, 'count=%d' % (size // SECTOR),
                        'if=' + path, 'of=' + out],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
        with open(out, 'rb') as f:
            return f.read(size)


def read_disk(path, fmt=None):
    """Return the header and ring of a disk image or block device.

    *fmt* is 'raw' or a qemu-img format; by default qcow2 if the file
    starts with the qcow2 magic, else raw. qcow2 images (with their backing
    chain) are read with ``qemu-img dd -U``, which works while QEMU holds
    them open.
    """
    fmt = fmt or _image_format(path)
    size = (1 + DEFAULT_RING) * SECTOR
    data = _read(path, fmt, size)
    header = parse_header(data[:SECTOR])
    if header and size < (1 + header[1]) * SECTOR <= MAX_READ:
        data = _read(path, fmt, (1 + header[1]) * SECTOR)
    return data


def verify_disk(data, path=None):
    """Check the header and the ring of one disk (see the module doc)."""
    report = DiskReport(path)
    header = parse_header(data[:SECTOR])
    if header is None:
        if data[:len(HEADER_MAGIC)] == HEADER_MAGIC.encode():
            report.problems.append('sector 0: corrupt header')
        else:
            report.problems.append('sector 0: no nmx header')
        return report
    report.disk_id, ring, seq = header
    report.ring, report.seq = ring, seq
    if len(data) < (1 + ring) * SECTOR:
        report.problems.append('image shorter than its ring')
        return report
    expected = {}
    for s in range(max(1, seq - ring + 1), seq + 1):
        expected[slot_sector(s, ring)] = s
    for sector in range(1, ring + 1):
        block = data[sector * SECTOR:(sector + 1) * SECTOR]
        want = expected.get(sector)
        record = parse_slot(block)
        if record is None:
            if block[:len(SLOT_MAGIC)] == SLOT_MAGIC.encode():
                report.problems.append('sector %d: corrupt record' % sector)
            elif want is not None:
                report.problems.append(
                    'sector %d: seq %d missing' % (sector, want))
            continue
        disk_id, got, ms = record
        if disk_id != report.disk_id:
            report.problems.append(
                'sector %d: record of disk %s' % (sector, disk_id))
        elif slot_sector(got, ring) != sector:
            report.problems.append(
                'sector %d: seq %d misplaced' % (sector, got))
        elif got == seq + 1:
            report.inflight = got
        elif got == want:
            report.slots[got] = ms
        elif want is None or got > want:
            report.problems.append(
                'sector %d: seq %d beyond header seq %d'
                % (sector, got, seq))
        else:
            report.problems.append(
                'sector %d: stale seq %d, expected %d' % (sector, got, want))
    return report


def _lines(text):
    """Yield the complete lines of a console; a cut last line is dropped."""
    lines = text.split('\n')
    for line in lines[:-1]:
        yield line.rstrip('\r')


def parse_acks(text):
    """Return the Acks printed on a console, in order."""
    acks = []
    for line in _lines(text):
        match = _ACK_RE.search(line)
        if match:
            disk_id, dev, seq, ms = match.groups()
            acks.append(Ack(disk_id, dev, int(seq), int(ms)))
    return acks


def parse_console(text):
    """Return {disk id: highest acknowledged seq} of a console."""
    acked = {}
    for ack in parse_acks(text):
        acked[ack.disk_id] = max(ack.seq, acked.get(ack.disk_id, 0))
    return acked


def parse_ticks(text):
    """Return the Ticks (tick number, uptime ms, RTC s) of a console."""
    ticks = []
    for line in _lines(text):
        match = _TICK_RE.search(line)
        if match:
            ticks.append(Tick(*(int(g) for g in match.groups())))
    return ticks


def max_gap(text, clock='uptime'):
    """Return the longest gap, in ms, between consecutive ticks.

    clock='uptime' uses the guest's monotonic clock (10 ms resolution),
    'rtc' its CMOS clock (1 s resolution). Under TCG the guest's monotonic
    clock stands still while the VM is paused, e.g. during a live
    migration's switchover; the RTC follows the host's clock. A tick whose
    uptime goes back (a reboot) starts a new run and makes no gap.
    """
    gap = 0
    previous = None
    for tick in parse_ticks(text):
        if previous is not None and tick.ms >= previous.ms:
            if clock == 'rtc':
                gap = max(gap, (tick.rtc - previous.rtc) * 1000)
            else:
                gap = max(gap, tick.ms - previous.ms)
        previous = tick
    return gap


class Report:
    """Result of :func:`verify`: ``ok`` and a readable ``summary()``."""

    def __init__(self, disks, acked, problems):
        self.disks = disks
        self.acked = acked
        self.problems = problems

    @property
    def ok(self):
        return not self.problems and all(d.ok for d in self.disks)

    def summary(self):
        lines = []
        for disk in self.disks:
            lines.append(disk.line(self.acked.get(disk.disk_id)))
        lines.extend('FAIL ' + p for p in self.problems)
        lines.append('OK' if self.ok else 'FAILED')
        return '\n'.join(lines)


def check(disks, console_texts=()):
    """Return a Report on DiskReports *disks* against *console_texts*."""
    problems = []
    acked = {}
    ms_of = {}
    for text in console_texts:
        for ack in parse_acks(text):
            key = (ack.disk_id, ack.seq)
            if ms_of.setdefault(key, ack.ms) != ack.ms:
                problems.append('disk %s: seq %d acked twice, ms %d and %d'
                                % (ack.disk_id, ack.seq, ms_of[key], ack.ms))
            acked[ack.disk_id] = max(ack.seq, acked.get(ack.disk_id, 0))
    for disk_id, seq in sorted(acked.items()):
        holders = [d for d in disks if d.disk_id == disk_id]
        if not holders:
            problems.append('disk %s: acked up to seq %d, found on no disk'
                            % (disk_id, seq))
        for disk in holders:
            if disk.seq < seq:
                disk.problems.append('header seq %d below acked seq %d'
                                     % (disk.seq, seq))
    for (disk_id, seq), ms in sorted(ms_of.items()):
        for disk in disks:
            if disk.disk_id == disk_id and disk.slots.get(seq, ms) != ms:
                disk.problems.append('seq %d holds ms %d, acked ms %d'
                                     % (seq, disk.slots[seq], ms))
    return Report(disks, acked, problems)


def verify(disk_paths, console_texts=()):
    """Read and check *disk_paths* against the consoles' acknowledgements.

    Every disk must be consistent and every disk id acknowledged on a
    console must be on a disk that holds all its acknowledged writes.
    """
    disks = []
    for path in disk_paths:
        try:
            disks.append(verify_disk(read_disk(path), path))
        except (OSError, subprocess.CalledProcessError) as e:
            disk = DiskReport(path)
            disk.problems.append('unreadable: %s' % (
                getattr(e, 'stderr', None) or e))
            disks.append(disk)
    return check(disks, console_texts)


def _read_text(path):
    with open(path, 'rb') as f:
        return f.read().decode('utf-8', 'replace')


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m tests.lab.guest.verify',
        description='Check the lab guest\'s disks against its consoles.')
    parser.add_argument('--console', action='append', default=[],
                        metavar='FILE', help='a console log (repeatable)')
    parser.add_argument('disks', nargs='+', metavar='DISK')
    args = parser.parse_args(argv)
    # The consoles first: every write they acknowledge is on the disks.
    texts = [_read_text(path) for path in args.console]
    report = verify(args.disks, texts)
    print(report.summary())
    if texts:
        text = ''.join(texts)
        print('ticks %d, max gap %d ms (uptime), %d ms (rtc)' % (
            len(parse_ticks(text)), max_gap(text), max_gap(text, 'rtc')))
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
