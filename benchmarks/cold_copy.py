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
"""Cold-migration copy and downtime: nova's stock path against ours.

Two parts, in one run, between lab hosts (``tools/lab.sh up`` first; as
root)::

    PYTHONPATH=. .venv/bin/python benchmarks/cold_copy.py

1. *Copy*: the same two disks, made on c1 — a raw disk of 1.6 GB of mixed
   data (half random, half text) and a qcow2 overlay of about 1.6 GB over
   a 512 MiB raw backing file — copied to c2 by nova's own
   ``libvirt_utils.copy_image`` (as nova's cold migration calls it: scp,
   compressed for raw disks) and by our sender (verification included,
   the driver's 4 MiB chunks of a one-phase copy),
   page cache dropped before each. Our copy runs ``--repeat`` times
   (default 5), each right after a measure of the link's limit (2 GiB of
   zeros through ssh, with the cipher we choose, into ``/dev/null``):
   the machine's speed drifts from minute to minute, so each copy is
   set against the link of its own minute and the median is kept. The
   disks' own bound is measured too: in the lab both hosts' files are
   on one device, which a copy reads and writes at once.
2. *Downtime*: a lab guest whose 1.5 GiB raw root disk (hosts c2 and c3
   with ``images_type = flat``) it keeps rewriting in part (1 % or 10 %,
   the guest's ``nmx_churn``) is cold-migrated by nova's API: c2 -> c3
   with ``cold_copy = stock``, c3 -> c2 with ``cold_copy_two_phase``
   (both with the image already in the destination's cache).
   Downtime is what the guest saw: its last tick (5 a second) on the
   source to its first tick on the destination, timed as the lines reach
   the hosts' console logs (machine clock, read every 10 ms).

It ends with one line per target: ``raw: X.Xx stock``, ``qcow2: X.Xx
stock``, ``link: NN%``, ``downtime at 1%: NN% of stock``; and
``bound: NN%``, our copy against the lower of the link and the disks.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

from nova_migration_ext.compute import cold_copy
from nova_migration_ext.compute.diskcopy import ssh
from tests.lab import cloud as lab_cloud
from tests.lab import config as lab_config
from tests.lab import guests as lab_guests

MB = 1000 * 1000
MiB = 1 << 20
WORK = '/var/lib/nova/instances/nmx-bench'
TICK = re.compile(r'^nmx-tick \d+ (\d+) (\d+)', re.M)

# Writes PATH: SIZE MiB of mixed data, 1 MiB blocks alternating random
# and text (log-like lines; zstd -3 packs the whole about 2x). Run on a
# lab host with the lab's Python.
MAKE_MIXED = r'''
import os, random, sys
path, size, start, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4])
rng = random.Random(seed)
words = ('nova compute migration instance disk volume host error info '
         'debug request token glance keystone neutron placement').split()
lines, length = [], 0
while length < 4 << 20:
    lines.append('%d-%02d-%02d %s %s %s %d\n' % (
        2026, rng.randint(1, 12), rng.randint(1, 28),
        rng.choice(words), rng.choice(words), rng.choice(words),
        rng.randint(0, 10 ** 9)))
    length += len(lines[-1])
text = ''.join(lines).encode()
mode = 'r+b' if os.path.exists(path) else 'wb'
with open(path, mode) as f:
    for i in range(size):
        f.seek((start + i) << 20)
        if i % 2:
            offset = rng.randint(0, len(text) - (1 << 20))
            f.write(text[offset:offset + (1 << 20)])
        else:
            f.write(os.urandom(1 << 20))
'''


def sh(cloud, host, command, timeout=1800):
    return cloud.run_in(host, ['sh', '-c', command], timeout=timeout)


def python_in(cloud, host, code, *args, timeout=1800):
    return cloud.run_in(host, [lab_config.venv_bin('python'), '-c', code]
                        + [str(a) for a in args], timeout=timeout)


def drop_caches():
    subprocess.run(['sync'], check=True)
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('3\n')


def timed(call):
    drop_caches()
    start = time.monotonic()
    result = call()
    return time.monotonic() - start, result


# -- part 1: the copy -------------------------------------------------------

def make_disks(cloud, size_mib):
    sh(cloud, 'c1', 'rm -rf %s && mkdir -p %s' % (WORK, WORK))
    sh(cloud, 'c2', 'rm -rf %s && mkdir -p %s' % (WORK, WORK))
    raw = WORK + '/raw.img'
    python_in(cloud, 'c1', MAKE_MIXED, raw, size_mib, 0, 1)
    base = WORK + '/base.raw'
    python_in(cloud, 'c1', MAKE_MIXED, base, 512, 0, 2)
    # The guest's view: the base, every 8th MiB of it rewritten, then
    # size - 512 MiB of new data; the overlay holds what differs.
    target = WORK + '/target.raw'
    sh(cloud, 'c1', 'cp --sparse=always %s %s' % (base, target))
    for start in range(0, 512, 8):
        python_in(cloud, 'c1', MAKE_MIXED, target, 1, start, 100 + start)
    python_in(cloud, 'c1', MAKE_MIXED, target, size_mib - 512, 512, 3)
    overlay = WORK + '/overlay.qcow2'
    sh(cloud, 'c1', 'cd %s && qemu-img convert -O qcow2 -B base.raw -F raw '
       'target.raw overlay.qcow2 && rm target.raw' % WORK)
    return {'raw': (raw, True), 'qcow2': (overlay, False)}


def stock_copy(cloud, src, dest_host, compression):
    code = ('import sys; from nova.virt.libvirt import utils; '
            'utils.copy_image(sys.argv[1], sys.argv[1], host=sys.argv[2], '
            'compression=sys.argv[3] == "1")')
    python_in(cloud, 'c1', code, src, dest_host, int(compression))


def our_copy(cloud, src, dest_host, compress='none', checksum='xxh128'):
    # This checkout on both ends, as the lab's nova-computes run it, with
    # the chunks of the driver's one-phase copy.
    python = cloud._remote_python()
    out = cloud.run_in('c1', [
        python, '-m', 'nova_migration_ext.compute.diskcopy.sender',
        '--host', dest_host, '--compress', compress, '--checksum', checksum,
        '--chunk', str(cold_copy.ONE_PHASE_CHUNK),
        '--remote-python', python, src, src], timeout=1800)
    return json.loads(out.strip().splitlines()[-1])


def link_limit(cloud, dest_host):
    command = ('dd if=/dev/zero bs=1M count=2048 status=none | ssh -o '
               'BatchMode=yes -c %s %s "cat >/dev/null"'
               % (ssh.ciphers(), dest_host))
    seconds, _ = timed(lambda: sh(cloud, 'c1', command))
    return 2048 * MiB / seconds / MB


# Writes SIZE MiB to PATH past the page cache, 1 MiB at a time, of random
# bytes (zeros might be spared by the device below).
WRITE_DIRECT = r"""
import mmap, os, sys
path, size = sys.argv[1], int(sys.argv[2])
buffer = mmap.mmap(-1, 1 << 20)
buffer.write(os.urandom(1 << 20))
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT)
for i in range(size):
    os.pwrite(fd, buffer, i << 20)
os.fsync(fd)
os.close(fd)
"""


def disk_limit(cloud, path):
    """MB/s of reading *path* on c1 while c2 writes as many bytes.

    Both past the page cache, at once: what a copy asks of the disks.
    """
    size = int(sh(cloud, 'c1', 'stat -c %%s %s' % path))
    target = WORK + '/bound'

    def write():
        python_in(cloud, 'c2', WRITE_DIRECT, target, size // MiB)

    def both():
        writer = threading.Thread(target=write)
        writer.start()
        sh(cloud, 'c1', 'dd if=%s of=/dev/null bs=1M iflag=direct '
           'status=none' % path)
        writer.join()

    seconds, _ = timed(both)
    sh(cloud, 'c2', 'rm -f %s' % target)
    return size / seconds / MB


def plain_stream(cloud, path, dest_host):
    """MB/s of cat | ssh 'cat > file' (the page cache dropped first).

    The link with the destination's file writes and no verification.
    """
    size = int(sh(cloud, 'c1', 'stat -c %%s %s' % path))
    command = ('cat %s | ssh -o BatchMode=yes -c %s %s "cat > %s.plain"'
               % (path, ssh.ciphers(), dest_host, path))
    seconds, _ = timed(lambda: sh(cloud, 'c1', command))
    sh(cloud, 'c2', 'rm -f %s.plain' % path)
    return size / seconds / MB


def same_on_both(cloud, path):
    sums = [sh(cloud, host, 'sha256sum %s' % path).split()[0]
            for host in ('c1', 'c2')]
    return sums[0] == sums[1]


def copy_part(cloud, size_mib, repeat):
    """(link, disks, {kind: (stock s, ours s, our wire MB/s, wire/link)}).

    link, disks and our figures: medians of *repeat* measures.
    """
    dest = cloud.host('c2').address
    disks = make_disks(cloud, size_mib)
    links, results = [], {}
    bound = statistics.median(disk_limit(cloud, disks['raw'][0])
                              for _ in range(repeat))
    print('disks: read on c1 while c2 writes (one device below both), '
          'median of %d: %.0f MB/s' % (repeat, bound))
    print('plain stream into a file on c2 (cat | ssh "cat > file", the '
          'raw disk): %.0f MB/s' % plain_stream(cloud, disks['raw'][0],
                                                dest))
    for kind, (path, compressed) in disks.items():
        size = int(sh(cloud, 'c1', 'stat -c %%s %s' % path))
        sh(cloud, 'c2', 'rm -f %s' % path)
        stock, _ = timed(lambda: stock_copy(cloud, path, dest, compressed))
        stock_ok = same_on_both(cloud, path)
        sh(cloud, 'c2', 'rm -f %s' % path)
        runs = []
        for _ in range(repeat):
            link = link_limit(cloud, dest)
            seconds, report = timed(lambda: our_copy(cloud, path, dest))
            ok = same_on_both(cloud, path) and report['verified']
            sh(cloud, 'c2', 'rm -f %s' % path)
            wire = report['bytes_sent'] / seconds / MB
            links.append(link)
            runs.append((seconds, wire, wire / link, ok))
            print('  %s: link %.0f MB/s, then ours %.1f s = %.0f MB/s '
                  '(%.0f MB/s of data sent, %.0f%% of that link), '
                  'verified %s' % (kind, link, seconds, size / seconds / MB,
                                   wire, 100.0 * wire / link, ok))
        ours = statistics.median(run[0] for run in runs)
        wire = statistics.median(run[1] for run in runs)
        share = statistics.median(run[2] for run in runs)
        sha, _ = timed(lambda: our_copy(cloud, path, dest,
                                        checksum='sha256'))
        sh(cloud, 'c2', 'rm -f %s' % path)
        zstd, _ = timed(lambda: our_copy(cloud, path, dest, 'zstd'))
        sh(cloud, 'c2', 'rm -f %s' % path)
        print('%s disk, %.0f MB: stock (scp%s) %.1f s = %.0f MB/s%s; ours '
              '(median of %d) %.1f s = %.0f MB/s (%.0f MB/s of data sent), '
              'verified %s; ours with sha256 %.1f s = %.0f MB/s; ours with '
              'zstd %.1f s = %.0f MB/s' % (
                  kind, size / MB, ' -C' if compressed else '', stock,
                  size / stock / MB, '' if stock_ok else ' (COPY DIFFERS)',
                  repeat, ours, size / ours / MB, wire,
                  all(run[3] for run in runs), sha, size / sha / MB, zstd,
                  size / zstd / MB))
        results[kind] = (stock, ours, wire, share)
    sh(cloud, 'c1', 'rm -rf %s' % WORK)
    sh(cloud, 'c2', 'rm -rf %s' % WORK)
    link = statistics.median(links)
    print('link limit c1 -> c2 (ssh -c %s into /dev/null), median of %d: '
          '%.0f MB/s (%s)' % (
              ssh.ciphers().split(',')[0], len(links), link,
              ', '.join('%.0f' % x for x in links)))
    return link, bound, results


# -- part 2: downtime -------------------------------------------------------

FLAT = {'libvirt': {'images_type': 'flat'},
        'DEFAULT': {'use_cow_images': False}}


def make_image(cloud, size_mib):
    """A raw root image: 32 MiB of zeros (the guest's ring), then data."""
    state = cloud.state()
    cloud.build_guest()
    ramdisk = cloud.upload_image(
        'nmx-ramdisk-bench', os.path.join(cloud.guest_dir(), 'initrd.img'),
        'ari', 'ari')
    path = os.path.join(cloud.root, 'images', 'bench-raw.img')
    if os.path.exists(path):
        os.unlink(path)
    with open(path, 'wb') as f:
        f.truncate(size_mib * MiB)
    subprocess.run([sys.executable, '-c', MAKE_MIXED, path,
                    str(size_mib - 32), '32', '4'], check=True)
    image = cloud.upload_image(
        'bench-raw', path, 'raw', 'bare',
        kernel_id=state['images']['kernel'], ramdisk_id=ramdisk,
        hw_disk_bus='virtio')
    os.unlink(path)
    return image, ramdisk


class ConsoleClock:
    """When a guest's ticks reach its console log, by this machine's clock.

    Follows the log on the source, then on the destination (each host's
    ``console.log``, read every 10 ms from the machine's side), so the
    last tick before the move and the first after it are timed to a few
    hundredths of a second; the guest's own clock (the RTC's whole
    seconds, restarted with each QEMU) is off by up to a second each side.
    """

    POLL = 0.01

    def __init__(self, source_log, dest_log):
        self.paths = (source_log, dest_log)
        self.last = {}       # path: host time of its newest tick line
        self.first = {}      # path: host time of its first tick line
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self):
        files, pending = {}, {}
        while not self._stop.is_set():
            now = time.monotonic()
            for path in self.paths:
                try:
                    if path not in files or _replaced(path, files[path]):
                        if path in files:
                            files[path].close()
                        files[path] = open(path, 'rb')
                        pending[path] = b''
                except FileNotFoundError:
                    continue
                pending[path] += files[path].read()
                *lines, pending[path] = pending[path].split(b'\n')
                for line in lines:
                    if line.startswith(b'nmx-tick '):
                        self.first.setdefault(path, now)
                        self.last[path] = now
            time.sleep(self.POLL)
        for f in files.values():
            f.close()

    def stop(self):
        """Seconds from the last tick on the source to the first after."""
        self._stop.set()
        self._thread.join()
        source, dest = self.paths
        return self.first[dest] - self.last[source]


def _replaced(path, f):
    """True if *path* is no longer the file *f* reads, or was truncated.

    nova may create the destination's log before QEMU's logger writes
    it anew; the source's is renamed with its folder (the same file).
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    return st.st_ino != os.fstat(f.fileno()).st_ino or st.st_size < f.tell()


def console_log(cloud, host, server_id):
    return os.path.join(cloud.host(host).root, 'nova', 'instances',
                        server_id, 'console.log')


def downtime(cloud, guests, image, source, dest, churn_mib):
    glance = cloud.glance()
    glance.images.update(image, os_command_line=(
        'root=/dev/vda console=tty0 console=ttyS0 nmx_claim_all=1 '
        'nmx_churn=%d' % churn_mib))
    nova = guests.nova
    server = guests.boot('bench-down-%d' % churn_mib, source,
                         flavor='lab.big', image=image)
    try:
        guests.wait_console(server, 'nmx-churned 2 ')
        mark = os.path.getsize(cloud.compute_log(source))
        clock = ConsoleClock(console_log(cloud, source, server.id),
                             console_log(cloud, dest, server.id))
        start = time.monotonic()
        nova.servers.migrate(server, host=dest)
        server = guests.wait_status(server, 'VERIFY_RESIZE', timeout=1200)
        wall = time.monotonic() - start
        before = sh(cloud, source, 'cat /var/lib/nova/instances/%s_resize/'
                    'console.log' % server.id)
        after = guests.wait_console(server, 'nmx-ready')
        down = clock.stop()
        uptime_ms, first_rtc = (int(x) for x in TICK.findall(after)[0])
        # The guest's own clock, whole seconds: a cross-check.
        rtc_down = first_rtc - int(TICK.findall(before)[-1][1])
        # Without the guest's boot on the destination (its uptime at its
        # first tick there): the time it was off.
        off = down - uptime_ms / 1000.0
        with open(cloud.compute_log(source), 'rb') as f:
            f.seek(mark)
            log = f.read().decode('utf-8', 'replace')
        final = re.findall(r'Copied \S+_resize/disk .*? s: (\d+) bytes', log)
        nova.servers.confirm_resize(server)
        guests.wait_status(server, 'ACTIVE')
        return down, off, wall, (int(final[-1]) if final else None), rtc_down
    finally:
        guests.delete(server.id)


def downtime_part(cloud, size_mib):
    guests = lab_guests.Guests(cloud)
    cloud.start_compute('c2', extra=FLAT, migration_ext={'cold_copy':
                                                         'stock'})
    cloud.start_compute('c3', extra=FLAT, migration_ext={
        'cold_copy_two_phase': True})
    image, ramdisk = make_image(cloud, size_mib)
    results = {}
    try:
        # Nova's finish_migration fetches the image into the destination's
        # cache when it lacks it (7-10 s here): only c3, the stock run's
        # destination, would. Fetched first, on both runs' account alike.
        guests.delete(guests.boot('bench-warm', 'c3', flavor='lab.big',
                                  image=image).id)
        one, ten = max(1, size_mib // 100), max(1, size_mib // 10)
        results['stock'] = downtime(cloud, guests, image, 'c2', 'c3', one)
        results['1%'] = downtime(cloud, guests, image, 'c3', 'c2', one)
        results['10%'] = downtime(cloud, guests, image, 'c3', 'c2', ten)
    finally:
        glance = cloud.glance()
        glance.images.delete(image)
        glance.images.delete(ramdisk)
        cloud.start_compute('c2')
        cloud.start_compute('c3')
    for name, (down, off, wall, final, rtc_down) in results.items():
        print('downtime, %s: guest down %.1f s (its own clock: %d s), of '
              'which off %.1f s and booting the rest (migrate to '
              'VERIFY_RESIZE %.1f s)%s' % (
                  'stock cold migration (1% rewritten)' if name == 'stock'
                  else 'two-phase, %s rewritten' % name, down, rtc_down, off,
                  wall, '' if final is None else ', second pass sent %.0f MB'
                  % (final / MB)))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size-mib', type=int, default=1600)
    parser.add_argument('--vm-disk-mib', type=int, default=1536)
    parser.add_argument('--repeat', type=int, default=5,
                        help='copies of each disk by ours, each after a '
                             'measure of the link (medians kept)')
    parser.add_argument('--skip-copy', action='store_true')
    parser.add_argument('--skip-downtime', action='store_true')
    args = parser.parse_args()
    cloud = lab_cloud.Cloud()
    summary = []
    if not args.skip_copy:
        link, disks, copies = copy_part(cloud, args.size_mib, args.repeat)
        for kind in ('raw', 'qcow2'):
            stock, ours, _wire, _share = copies[kind]
            summary.append('%s: %.1fx stock' % (kind, stock / ours))
        # The lower of the two disks': data on the wire against the link
        # measured just before (medians).
        summary.append('link: %.0f%%' % (
            100.0 * min(copies[kind][3] for kind in copies)))
        wire = min(copies[kind][2] for kind in copies)
        summary.append('bound: %.0f%% of %.0f MB/s (the lower of the link, '
                       '%.0f, and the disks, %.0f)' % (
                           100.0 * wire / min(link, disks),
                           min(link, disks), link, disks))
    if not args.skip_downtime:
        down = downtime_part(cloud, args.vm_disk_mib)
        summary.append('downtime at 1%%: %.0f%% of stock (off: %.0f%%, '
                       'at 10%%: %.0f%%)' % (
                           100.0 * down['1%'][0] / max(1, down['stock'][0]),
                           100.0 * down['1%'][1] / max(1, down['stock'][1]),
                           100.0 * down['10%'][0] / max(1,
                                                        down['stock'][0])))
    print('\n'.join(summary))


if __name__ == '__main__':
    main()
