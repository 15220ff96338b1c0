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
"""What sender and receiver agree on: chunks, digests, frames, extents.

Both sides use one ``Checksum``, named on the receiver's command line.
The receiver starts by writing its digests (``Checksum.size`` bytes per
chunk, ``Checksum.unknown`` where it cannot vouch for a chunk) after an
8-byte length. The sender then writes frames, each a ``FRAME`` header:

* ``D`` index length, a digest, then *length* bytes of data for the chunk;
* ``Z`` index 0: the chunk is all zeros;
* ``E`` 0 length, then every chunk's digest on the source: the end of the
  data; the receiver checks its copy against them and answers with one
  JSON line.

A pass ends at ``E`` or at end of input (a pass cut short).
"""

import errno
import fcntl
import hashlib
import os
import struct

DEFAULT_CHUNK = 1 << 20
DIRECT_ALIGN = 4096     # O_DIRECT: offsets, lengths and buffers aligned
FRAME = struct.Struct('>cQI')
LENGTH = struct.Struct('>Q')
DATA, ZERO, END = b'D', b'Z', b'E'
STATE_SUFFIX = '.nmx-sums'

# Exit codes of both commands, so the driver can say what happened.
EXIT_OK = 0
EXIT_MISMATCH = 3
EXIT_CONNECTION = 4
EXIT_NO_SPACE = 5
EXIT_SOURCE = 6
EXIT_UNSUPPORTED = 7    # the receiver cannot use the checksum asked for

CHECKSUMS = ('xxh128', 'sha256')
DEFAULT_CHECKSUM = 'xxh128'

_zeros = {}


class Unsupported(Exception):
    """This host cannot compute the checksum asked for."""


class Checksum:
    """A chunk digest by name: ``xxh128`` (XXH3, 128 bits) or ``sha256``.

    XXH3 hashes at tens of GB/s, SHA-256 at 1-2 (with SHA instructions):
    on a copy both hosts hash every byte, and with SHA-256 that was the
    largest CPU cost of a copy after the kernel's. 128 bits leave a
    damaged chunk unnoticed with odds of 2**-128; the link itself is
    authenticated by ssh. SHA-256 stays for operators who want a
    cryptographic digest on disk.
    """

    def __init__(self, name=DEFAULT_CHECKSUM):
        if name == 'xxh128':
            try:
                import xxhash   # only where chosen: sha256 needs nothing
            except ImportError:
                raise Unsupported(
                    'the xxh128 checksum needs the Python package xxhash '
                    'on both hosts: install it, or set [migration_ext] '
                    'cold_copy_checksum = sha256 on the source host')
            self._digest = xxhash.xxh3_128_digest
        elif name == 'sha256':
            self._digest = _sha256
        else:
            raise ValueError('unknown checksum %r: choose one of %s'
                             % (name, ', '.join(CHECKSUMS)))
        self.name = name
        self.size = len(self._digest(b''))
        self.unknown = b'\0' * self.size
        self._of_zeros = {}

    def __call__(self, data):
        return self._digest(data)

    def zeros(self, length):
        """The digest of *length* zero bytes (cached: chunks share lengths)."""
        found = self._of_zeros.get(length)
        if found is None:
            found = self._of_zeros[length] = self._digest(_zeros_of(length))
        return found

    def split(self, blob):
        """A list of the digests packed in *blob*."""
        return [blob[i:i + self.size] for i in range(0, len(blob), self.size)]


def _sha256(data):
    return hashlib.sha256(data).digest()


def _zeros_of(length):
    found = _zeros.get(length)
    if found is None:
        found = _zeros[length] = bytes(length)
    return found


def is_zeros(data):
    return data == _zeros_of(len(data))


def chunk_count(size, chunk):
    return (size + chunk - 1) // chunk


def chunk_length(size, chunk, index):
    return min(chunk, size - index * chunk)


def data_chunks(fd, size, chunk):
    """Indexes of the chunks that hold data; holes read as zeros.

    Uses SEEK_DATA/SEEK_HOLE; where the file system has no such thing,
    every chunk counts as data.
    """
    indexes = set()
    offset = 0
    try:
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break
                raise
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            indexes.update(range(start // chunk, (end - 1) // chunk + 1))
            offset = end
    except (AttributeError, OSError):
        return set(range(chunk_count(size, chunk)))
    return indexes


def read_chunk(fd, size, chunk, index):
    length = chunk_length(size, chunk, index)
    data = os.pread(fd, length, index * chunk)
    if len(data) < length:
        # The file shrank under us; what is gone reads as zeros.
        data += bytes(length - len(data))
    return data


def chunk_digest(checksum, fd, size, chunk, index, has_data):
    """(digest, data or None for zeros) of one chunk of an open file."""
    length = chunk_length(size, chunk, index)
    if not has_data:
        return checksum.zeros(length), None
    data = read_chunk(fd, size, chunk, index)
    if is_zeros(data):
        return checksum.zeros(length), None
    return checksum(data), data


def file_digests(checksum, fd, size, chunk):
    """Every chunk's digest, reading only the chunks that hold data."""
    with_data = data_chunks(fd, size, chunk)
    return b''.join(
        chunk_digest(checksum, fd, size, chunk, index, index in with_data)[0]
        for index in range(chunk_count(size, chunk)))


def open_direct(path, flags):
    """A descriptor of *path* past the page cache (O_DIRECT), or None.

    None where the system has no O_DIRECT or the file system refuses it
    (tmpfs and others): the caller goes through the page cache.
    """
    flag = getattr(os, 'O_DIRECT', 0)
    if not flag:
        return None
    try:
        return os.open(path, flags | flag)
    except OSError:
        return None


def read_exactly(stream, length):
    """*length* bytes from *stream*, or fewer at end of input."""
    parts = []
    while length:
        part = stream.read(length)
        if not part:
            break
        parts.append(part)
        length -= len(part)
    return b''.join(parts)


def widen_pipe(fd, size=1 << 20):
    """Let a pipe hold a whole chunk: fewer wake-ups on both ends."""
    try:
        fcntl.fcntl(fd, getattr(fcntl, 'F_SETPIPE_SZ', 1031), size)
    except OSError:
        pass   # not a pipe, or over the system's limit: keep it


def read_into(stream, view):
    """Fill *view* from *stream*; how many bytes came (fewer at the end)."""
    got = 0
    while got < len(view):
        count = stream.readinto(view[got:])
        if not count:
            break
        got += count
    return got
