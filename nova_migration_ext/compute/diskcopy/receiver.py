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
"""The destination side of a disk copy: one pass, stdin to a file.

Run by the sender over ssh::

    python -m nova_migration_ext.compute.diskcopy.receiver --size N PATH

It answers on stdout (see ``protocol``). Beside *PATH* it keeps
``PATH.nmx-sums``, the digest of every chunk it wrote (after a line
naming the checksum and the chunk size), saved only after the data is on
disk; the next pass of the same chunk size starts from it. ``--finish``
removes it once the copy matched every digest of the source.
"""

import argparse
import ctypes
import errno
import functools
import json
import mmap
import os
import queue
import signal
import sys
import threading
import time

from nova_migration_ext.compute.diskcopy import protocol as proto

_PUNCH_HOLE = 0x03  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
_SAVE_EVERY = 1.0   # seconds between two saves of the digests


class Hangup(Exception):
    """The connection went away (SIGHUP, SIGTERM)."""


def _hang_up(signum, frame):
    raise Hangup(signal.Signals(signum).name)


class Copy:
    """A destination file and the digests we can vouch for."""

    def __init__(self, path, size, chunk, checksum=None, direct=True):
        self.path = path
        self.size = size
        self.chunk = chunk
        self.checksum = checksum or proto.Checksum()
        self.count = proto.chunk_count(size, chunk)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        # Whole chunks go past the page cache: copying every byte into it
        # was a tenth of a copy's CPU, and reading back then reads the
        # disk. Where the file system refuses, all goes through self.fd.
        self.direct_fd = (proto.open_direct(path, os.O_WRONLY) if direct
                          else None)
        previous = os.fstat(self.fd).st_size
        if previous != size:
            os.ftruncate(self.fd, size)
        self.digests = self._load(previous)
        self.written = 0
        self.bytes = 0
        self.fresh = set()      # chunks written in this pass
        self.saved_at = time.monotonic()
        self._lock = threading.Lock()         # digests, fresh, counters
        self._saving = threading.Lock()       # one save at a time
        self._read_back = None
        self._reader = None

    @property
    def state_path(self):
        return self.path + proto.STATE_SUFFIX

    @property
    def _header(self):
        return ('%s %d\n' % (self.checksum.name, self.chunk)).encode('ascii')

    def _load(self, previous_size):
        checksum = self.checksum
        try:
            with open(self.state_path, 'rb') as state:
                saved = bytearray(state.read())
        except FileNotFoundError:
            saved = bytearray()
        if saved.startswith(self._header):
            saved = saved[len(self._header):self.count * checksum.size
                          + len(self._header)]
        else:
            saved = bytearray()   # none, or of another checksum or chunk
        if previous_size != self.size and previous_size % self.chunk:
            # The old last chunk changed length: its digest no longer holds.
            last = previous_size // self.chunk
            start = last * checksum.size
            if start < len(saved):
                saved[start:start + checksum.size] = checksum.unknown
        saved.extend(checksum.unknown * (self.count - len(saved)
                                         // checksum.size))
        with_data = proto.data_chunks(self.fd, self.size, self.chunk)
        for index in range(self.count):
            if index not in with_data:
                start = index * checksum.size
                saved[start:start + checksum.size] = checksum.zeros(
                    proto.chunk_length(self.size, self.chunk, index))
        return saved

    def known(self):
        return bytes(self.digests)

    def _record(self, index, value, written=None):
        """Digest of chunk *index*; *written*: bytes this pass wrote.

        None: not written in this pass (the chunk came damaged).
        """
        start = index * self.checksum.size
        with self._lock:
            self.digests[start:start + self.checksum.size] = value
            if written is not None:
                self.fresh.add(index)
            if written:
                self.written += 1
                self.bytes += written
        if time.monotonic() - self.saved_at >= _SAVE_EVERY and \
                self._saving.acquire(blocking=False):
            # Another writer saving already: this one goes on writing.
            try:
                self._save()
            finally:
                self._saving.release()

    def write(self, index, value, data, aligned=False):
        """Write chunk *index* if *data* matches *value*.

        *aligned*: *data* sits in page-aligned memory (it may go past the
        page cache).
        """
        if index >= self.count or len(data) != proto.chunk_length(
                self.size, self.chunk, index):
            raise ValueError('chunk %d of %d bytes does not fit a file of '
                             '%d bytes' % (index, len(data), self.size))
        if self.checksum(data) != value:
            # Damaged on the way: forget the chunk, the next pass resends.
            self._record(index, self.checksum.unknown)
            return
        offset = index * self.chunk
        if not (aligned and (offset | len(data)) % proto.DIRECT_ALIGN == 0 and
                self._write_direct(data, offset)):
            os.pwrite(self.fd, data, offset)
        self._record(index, value, len(data))

    def _write_direct(self, data, offset):
        fd = self.direct_fd
        if fd is None:
            return False
        try:
            os.pwrite(fd, data, offset)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self.direct_fd = None   # opened, but no direct writes here
            return False
        return True

    def zero(self, index):
        length = proto.chunk_length(self.size, self.chunk, index)
        offset = index * self.chunk
        try:
            _fallocate(self.fd, _PUNCH_HOLE, offset, length)
        except OSError:
            os.pwrite(self.fd, bytes(length), offset)
        self._record(index, self.checksum.zeros(length), 0)

    def save(self):
        """Digests to disk, never ahead of the data they describe."""
        with self._saving:
            self._save()

    def _save(self):
        # Only digests recorded before the sync: their writes came first.
        with self._lock:
            digests = bytes(self.digests)
        os.fdatasync(self.fd)
        tmp = self.state_path + '.tmp'
        with open(tmp, 'wb') as state:
            state.write(self._header + digests)
        os.replace(tmp, self.state_path)
        self.saved_at = time.monotonic()

    def start_reading_back(self):
        """Read the copy back while the pass runs (its digests).

        Chunks this pass writes are read too but not used: see ``check``.
        """
        def read_back():
            self._read_back = self.checksum.split(proto.file_digests(
                self.checksum, self.fd, self.size, self.chunk))
        self._reader = threading.Thread(target=read_back, daemon=True)
        self._reader.start()

    def check(self, source_digests):
        """Indexes of the chunks of the copy unlike the source's.

        A chunk written in this pass is known by the digest of the very
        bytes handed to the file; every other one (kept from an earlier
        pass, or never sent) by reading it back.
        """
        size = self.checksum.size
        theirs = self.checksum.split(source_digests)
        if self._reader is None:
            self.start_reading_back()
        self._reader.join()
        bad = []
        for index, expected in enumerate(theirs):
            start = index * size
            if index in self.fresh:
                mine = bytes(self.digests[start:start + size])
            else:
                mine = self._read_back[index]
                self.digests[start:start + size] = mine
            if mine != expected:
                bad.append(index)
        return bad

    def finish(self):
        try:
            os.unlink(self.state_path)
        except FileNotFoundError:
            pass


@functools.lru_cache(maxsize=None)
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _fallocate(fd, mode, offset, length):
    if _libc().fallocate(fd, mode, ctypes.c_long(offset),
                         ctypes.c_long(length)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


class _Writer:
    """Hashes and writes chunks in threads while the next ones arrive.

    ``WORKERS`` threads, each a whole chunk at a time (digests and
    writes let go of the GIL): one thread alone, hashing then writing,
    was the slowest step of a copy. Only they change the copy until
    ``close``; buffers go back to the reader once written.
    """

    BUFFERS = 6
    WORKERS = 2

    def __init__(self, copy):
        self.copy = copy
        self.free = queue.Queue()
        for _ in range(self.BUFFERS):
            # Page-aligned, as writes past the page cache want.
            self.free.put(memoryview(mmap.mmap(-1, copy.chunk)))
        self.work = queue.Queue()
        self.error = None
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(self.WORKERS)]
        for thread in self.threads:
            thread.start()

    def _run(self):
        while True:
            item = self.work.get()
            if item is None:
                return
            kind, index, value, view, buffer = item
            try:
                if self.error is None:
                    if kind == proto.DATA:
                        self.copy.write(index, value, view, aligned=True)
                    else:
                        self.copy.zero(index)
            except BaseException as exc:
                self.error = exc
            finally:
                if buffer is not None:
                    self.free.put(buffer)

    def buffer(self):
        if self.error is not None:
            raise self.error
        return self.free.get()

    def put(self, kind, index, value=None, view=None, buffer=None):
        self.work.put((kind, index, value, view, buffer))

    def close(self):
        """Wait for every chunk handed over; re-raise a write's error."""
        for thread in self.threads:
            self.work.put(None)
        for thread in self.threads:
            thread.join()
        if self.error is not None:
            raise self.error


def receive(copy, stream, finish):
    """Apply one pass of frames; the JSON-able answer and an exit code."""
    writer = _Writer(copy)
    source = None
    try:
        while True:
            header = proto.read_exactly(stream, proto.FRAME.size)
            if len(header) < proto.FRAME.size:
                break
            kind, index, length = proto.FRAME.unpack(header)
            if kind == proto.DATA:
                value = proto.read_exactly(stream, copy.checksum.size)
                if length > copy.chunk:
                    raise ValueError('chunk %d of %d bytes is larger than '
                                     '%d' % (index, length, copy.chunk))
                buffer = writer.buffer()
                view = buffer[:length]
                if proto.read_into(stream, view) < length:
                    writer.free.put(buffer)
                    break
                writer.put(kind, index, value, view, buffer)
            elif kind == proto.ZERO:
                writer.put(kind, index)
            elif kind == proto.END:
                source = proto.read_exactly(stream, length)
                break
            else:
                raise ValueError('unknown frame %r' % kind)
    finally:
        writer.close()
    copy.save()
    if source is None:
        return ({'error': 'the pass ended before its last frame',
                 'written': copy.written}, proto.EXIT_CONNECTION)
    answer = {'written': copy.written, 'bytes': copy.bytes}
    if not source:
        return answer, proto.EXIT_OK
    bad = copy.check(source)
    copy.save()
    answer['mismatched'] = bad
    if bad:
        return answer, proto.EXIT_MISMATCH
    if finish:
        copy.finish()
    return answer, proto.EXIT_OK


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('path')
    parser.add_argument('--size', type=int, required=True)
    parser.add_argument('--chunk', type=int, default=proto.DEFAULT_CHUNK)
    parser.add_argument('--checksum', choices=proto.CHECKSUMS,
                        default=proto.DEFAULT_CHECKSUM)
    parser.add_argument('--finish', action='store_true',
                        help='remove the saved digests once verified')
    parser.add_argument('--no-verify', dest='verify', action='store_false',
                        help='a pass the source will not verify (the '
                             'first of two): do not read the copy back')
    parser.add_argument('--page-cache', dest='direct', action='store_false',
                        help='write through the page cache')
    args = parser.parse_args(argv)
    out = sys.stdout.buffer
    known = copy = None
    for signum in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, _hang_up)
    proto.widen_pipe(sys.stdin.fileno())
    try:
        checksum = proto.Checksum(args.checksum)
    except proto.Unsupported as exc:
        out.write(proto.LENGTH.pack(0))
        out.write(json.dumps({'error': str(exc)}).encode('utf-8') + b'\n')
        out.flush()
        return proto.EXIT_UNSUPPORTED
    try:
        copy = Copy(args.path, args.size, args.chunk, checksum,
                    direct=args.direct)
        known = copy.known()
        out.write(proto.LENGTH.pack(len(known)) + known)
        out.flush()
        if args.verify:
            copy.start_reading_back()
        # Unbuffered: chunks land straight in receive()'s buffer.
        answer, code = receive(copy, sys.stdin.buffer.raw, args.finish)
    except Hangup:
        if copy is not None:
            copy.save()
        return proto.EXIT_CONNECTION
    except OSError as exc:
        if known is None:
            out.write(proto.LENGTH.pack(0))
        code = (proto.EXIT_NO_SPACE if exc.errno in (errno.ENOSPC,
                                                     errno.EDQUOT)
                else proto.EXIT_CONNECTION)
        answer = {'error': '%s: %s' % (args.path, exc.strerror or exc),
                  'errno': errno.errorcode.get(exc.errno, '')}
    out.write(json.dumps(answer).encode('utf-8') + b'\n')
    out.flush()
    return code


if __name__ == '__main__':
    sys.exit(main())
