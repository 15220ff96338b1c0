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
"""How fast this host's instances path reads and writes, measured once.

A drain copies disks: a source reads them, a target writes them, and
either can be slower than the NIC (a 25 GbE link in front of one SATA
disk). The evacuator's scheduler budgets each host by the slower of its
link and its disk (``evacuation/scheduling.py``); this is where the
disk's figure comes from. At start-up the driver writes a file of
``[migration_ext] disk_probe_mib`` on the instances path, bypassing the
page cache (``O_DIRECT``, or ``fsync`` and a cache drop where the file
system refuses it), reads it back the same way, and deletes it.
Sequential, like a copy; the rates travel with the host's facts.
"""

import mmap
import os
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)
MiB = 1024 ** 2
CHUNK = 4 * MiB              # aligned for O_DIRECT: a multiple of 4 KiB
PROBE_NAME = '.migration-ext-disk-probe'


def measure(folder, size_bytes):
    """(read, write) bytes per second of *folder*'s file system.

    :param size_bytes: bytes written then read (rounded up to whole
        chunks); the file is removed, whatever happens.
    :raises OSError: when the folder cannot be written.
    """
    chunks = max(1, -(-size_bytes // CHUNK))
    path = os.path.join(folder, PROBE_NAME)
    buf = mmap.mmap(-1, CHUNK)          # page-aligned, as O_DIRECT wants
    buf.write(os.urandom(CHUNK))        # incompressible, no zero pages
    try:
        write = _timed(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                       chunks, lambda fd: os.write(fd, buf), sync=True)
        read = _timed(path, os.O_RDONLY, chunks,
                      lambda fd: os.readv(fd, [buf]))
    finally:
        buf.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    total = chunks * CHUNK
    return total / read, total / write


def _timed(path, flags, chunks, transfer, sync=False):
    """Seconds *chunks* transfers take on *path*, past the page cache."""
    fd, direct = _open(path, flags)
    try:
        if not direct and not sync:
            _drop_cache(fd)
        started = time.monotonic()
        for _ in range(chunks):
            if transfer(fd) != CHUNK:
                raise OSError('short transfer on %s' % path)
        if sync:
            os.fsync(fd)
        return max(time.monotonic() - started, 1e-6)
    finally:
        os.close(fd)


def _open(path, flags):
    """(fd, whether it bypasses the cache): O_DIRECT where allowed."""
    direct = getattr(os, 'O_DIRECT', 0)
    if direct:
        try:
            return os.open(path, flags | direct, 0o600), True
        except OSError:
            pass                        # tmpfs and others refuse it
    return os.open(path, flags, 0o600), False


def _drop_cache(fd):
    if hasattr(os, 'posix_fadvise'):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


class DiskSpeedProbe:
    """Measures the instances path once; remembers the result."""

    def __init__(self, folder, size_mib):
        self.folder = folder
        self.size_mib = size_mib
        self.rates = None           # (read, write) bytes/s once measured

    def measure(self):
        """(read, write) bytes per second, or None (off or failed)."""
        if self.rates is None and self.size_mib > 0:
            try:
                self.rates = measure(self.folder, self.size_mib * MiB)
            except OSError as exc:
                LOG.warning('Cannot measure the speed of %s (%s); the '
                            'evacuator will budget this host by its link '
                            'alone.', self.folder, exc)
                self.size_mib = 0
                return None
            LOG.info('%s reads %.0f MB/s and writes %.0f MB/s (%d MiB, '
                     'sequential, uncached)', self.folder,
                     self.rates[0] / 1e6, self.rates[1] / 1e6, self.size_mib)
        return self.rates
