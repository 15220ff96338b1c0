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
"""The source side of a disk copy: passes until the copy is verified.

As a command (what the driver runs, outside nova-compute's event loop)::

    python -m nova_migration_ext.compute.diskcopy.sender --host HOST SRC DEST

prints a JSON report on stdout and exits with one of ``protocol``'s codes.
"""

import argparse
import collections
from concurrent import futures
import dataclasses
import errno
import itertools
import json
import mmap
import os
import queue
import shlex
import subprocess
import sys
import tempfile
import threading
import time

from nova_migration_ext.compute.diskcopy import protocol as proto
from nova_migration_ext.compute.diskcopy import ssh

MIB = 1 << 20
_RECEIVER = 'nova_migration_ext.compute.diskcopy.receiver'
_READ_AHEAD = 8      # chunks read and hashed ahead of the writes, at most
_READ_AHEAD_BYTES = 16 * MIB   # and no more bytes than this (large chunks)
_HASHERS = 2         # threads reading and hashing them
_DONE = object()


class CopyError(Exception):
    """The copy could not be completed; *code* is a protocol exit code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


@dataclasses.dataclass
class Report:
    source: str
    destination: str
    checksum: str = proto.DEFAULT_CHECKSUM
    size: int = 0
    passes: int = 0
    chunks_sent: int = 0
    bytes_sent: int = 0
    chunks_skipped: int = 0
    repaired: int = 0
    resumed: int = 0
    verified: bool = False
    seconds: float = 0.0
    bytes_per_pass: list = dataclasses.field(default_factory=list)
    chunk: int = proto.DEFAULT_CHUNK


@dataclasses.dataclass
class Options:
    host: str = None              # None: the destination path is local
    ssh_options: tuple = ()
    remote_python: str = sys.executable
    chunk: int = proto.DEFAULT_CHUNK
    checksum: str = proto.DEFAULT_CHECKSUM
    compress: str = 'none'        # or 'zstd' (multi-threaded, level 1)
    bandwidth: float = 0.0        # MiB/s; 0: no cap
    verify: bool = True
    direct: bool = True           # False: through the page cache
    finish: bool = True           # False: keep the digests, a pass follows
    retries: int = 3
    retry_delay: float = 2.0


class _Pass:
    """One receiver process: its known digests, our frames, its answer."""

    def __init__(self, options, destination, size):
        remote = [options.remote_python, '-m', _RECEIVER, '--size',
                  str(size), '--chunk', str(options.chunk),
                  '--checksum', options.checksum]
        if options.finish:
            remote.append('--finish')
        if not options.verify:
            remote.append('--no-verify')
        if not options.direct:
            remote.append('--page-cache')
        remote.append(destination)
        command = ' '.join(shlex.quote(part) for part in remote)
        if options.compress == 'zstd':
            command = 'zstd -dcq | ' + command
        if options.host:
            argv = ssh.command(options.host, options.ssh_options) + [command]
        else:
            argv = ['sh', '-c', command]
        self.errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.errors)
        self.compressor = None
        proto.widen_pipe(self.process.stdin.fileno())
        self.stream = self.process.stdin
        if options.compress == 'zstd':
            self.compressor = subprocess.Popen(
                ['zstd', '-T0', '-1', '-q', '-c'], stdin=subprocess.PIPE,
                stdout=self.process.stdin, stderr=self.errors)
            self.process.stdin.close()
            self.stream = self.compressor.stdin

    def known(self):
        head = proto.read_exactly(self.process.stdout, proto.LENGTH.size)
        if len(head) < proto.LENGTH.size:
            return None
        (length,) = proto.LENGTH.unpack(head)
        return proto.read_exactly(self.process.stdout, length)

    def send(self, kind, index, payload=b'', value=b''):
        self.stream.write(proto.FRAME.pack(kind, index, len(payload)))
        if value:
            self.stream.write(value)
        if payload:
            self.stream.write(payload)

    def close(self):
        """The receiver's answer (a dict) and exit code."""
        try:
            self.stream.close()
        except OSError:
            pass
        if self.compressor is not None:
            self.compressor.wait()
        line = self.process.stdout.readline()
        code = self.process.wait()
        try:
            answer = json.loads(line) if line else {}
        except ValueError:
            answer = {}
        if not answer:
            self.errors.seek(0)
            text = self.errors.read().decode('utf-8', 'replace').strip()
            answer = {'error': text.splitlines()[-1] if text else
                      'the receiver exited with %d' % code}
        self.errors.close()
        return answer, code

    def abort(self):
        for proc in (self.compressor, self.process):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


class _ChunkReader:
    """Chunks of the source, read past the page cache where allowed.

    A copy reads every byte once: through the page cache that was a tenth
    of its CPU, and it evicted what the host's other VMs had cached. With
    ``O_DIRECT`` a chunk lands in one of *buffers* page-aligned buffers,
    lent until ``release``; where the file system refuses it, chunks are
    read as bytes.
    """

    def __init__(self, path, fd, size, chunk, buffers, direct=True):
        self.fd = fd
        self.size = size
        self.chunk = chunk
        self.direct_fd = None
        if direct and chunk % proto.DIRECT_ALIGN == 0:
            self.direct_fd = proto.open_direct(path, os.O_RDONLY)
        self._opened = self.direct_fd
        self._free = queue.Queue()
        if self.direct_fd is not None:
            for _ in range(buffers):
                self._free.put(mmap.mmap(-1, chunk))

    def read(self, index):
        """Chunk *index*: bytes, or a lent memoryview."""
        if self.direct_fd is not None:
            buffer = self._free.get()
            try:
                got = os.preadv(self.direct_fd, [buffer], index * self.chunk)
            except OSError as exc:
                self._free.put(buffer)
                if exc.errno != errno.EINVAL:
                    raise
                self.direct_fd = None   # opened, but no direct reads here
            else:
                length = proto.chunk_length(self.size, self.chunk, index)
                view = memoryview(buffer)[:length]
                if got < length:
                    # The file shrank under us; what is gone reads as zeros.
                    view[max(got, 0):] = bytes(length - max(got, 0))
                return view
        return proto.read_chunk(self.fd, self.size, self.chunk, index)

    def release(self, data):
        """Give back what ``read`` lent (bytes and None: nothing to do)."""
        if isinstance(data, memoryview):
            self._free.put(data.obj)

    def close(self):
        if self._opened is not None:
            os.close(self._opened)
            self.direct_fd = self._opened = None


class Sender:
    """Copy *source* to *destination* (a path on ``options.host``)."""

    def __init__(self, source, destination, options=None):
        self.source = source
        self.destination = destination
        self.options = options or Options()
        self.report = Report(source, destination, self.options.checksum,
                             chunk=self.options.chunk)
        self.checksum = proto.Checksum(self.options.checksum)
        # Chunks in flight between the reads and the writes: enough to
        # keep both busy, not a whole large chunk's worth each.
        self._ahead = max(2, min(_READ_AHEAD,
                                 _READ_AHEAD_BYTES // self.options.chunk))
        self._digests = []
        self._started = 0.0
        self._sent_since_start = 0

    def run(self, stable=True):
        """Passes until verified; *stable*: the source no longer changes.

        :raises CopyError: destination full, connection lost after every
            retry, or chunks still unlike the source's after every retry.
        """
        options = self.options
        start = time.monotonic()
        fd = os.open(self.source, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            self.report.size = size
            count = proto.chunk_count(size, options.chunk)
            self._digests = [None] * count
            failures = 0
            while True:
                if not stable:
                    self._digests = [None] * count
                sent_before = self.report.bytes_sent
                answer, code = self._one_pass(fd, size)
                self.report.passes += 1
                self.report.bytes_per_pass.append(
                    self.report.bytes_sent - sent_before)
                if code == proto.EXIT_OK:
                    self.report.verified = options.verify
                    break
                if code == proto.EXIT_NO_SPACE:
                    raise CopyError(code, 'no space left for %s on %s: %s' % (
                        self.destination, options.host or 'this host',
                        answer.get('error')))
                if code == proto.EXIT_UNSUPPORTED:
                    raise CopyError(code, '%s: %s' % (
                        options.host or 'this host', answer.get('error')))
                failures += 1
                if code == proto.EXIT_MISMATCH:
                    self.report.repaired += len(answer.get('mismatched', ()))
                else:
                    self.report.resumed += 1
                if failures > options.retries:
                    if code == proto.EXIT_MISMATCH:
                        raise CopyError(code, (
                            '%d chunk(s) of %s on %s still differ from the '
                            'source after %d passes' % (
                                len(answer['mismatched']), self.destination,
                                options.host or 'this host',
                                self.report.passes)))
                    raise CopyError(proto.EXIT_CONNECTION, (
                        'copy of %s to %s failed %d times, last: %s' % (
                            self.source, options.host or 'this host',
                            failures, answer.get('error'))))
                if code != proto.EXIT_MISMATCH:
                    time.sleep(options.retry_delay)
        finally:
            os.close(fd)
            self.report.seconds = time.monotonic() - start
        return self.report

    def _one_pass(self, fd, size):
        options = self.options
        current = _Pass(options, self.destination, size)
        # Lent at most: those read ahead, those queued, one being sent.
        reader = _ChunkReader(self.source, fd, size, options.chunk,
                              2 * self._ahead + 4, options.direct)
        ahead = None
        try:
            known = current.known()
            if known is None:
                current.abort()
                return current.close()
            if len(known) != len(self._digests) * self.checksum.size:
                # The receiver could not start; its answer says why.
                return current.close()
            self._started = time.monotonic()
            self._sent_since_start = 0
            ahead = self._read_ahead(reader, known)
            for kind, index, value, data in ahead:
                if kind == proto.ZERO:
                    current.send(proto.ZERO, index)
                    continue
                current.send(proto.DATA, index, data, value)
                self.report.chunks_sent += 1
                self.report.bytes_sent += len(data)
                reader.release(data)
                self._throttle(len(data))
            blob = b''.join(self._digests) if options.verify else b''
            current.send(proto.END, 0, blob)
        except BrokenPipeError:
            pass
        except BaseException:
            current.abort()
            raise
        finally:
            if ahead is not None:
                ahead.close()   # its threads stop before the files close
            reader.close()
        return current.close()

    def _to_send(self, reader, known):
        """(kind, index, digest, data) of each chunk the receiver lacks.

        Chunks are read and hashed by ``_HASHERS`` threads (reads and
        digests let go of the GIL), ``self._ahead`` at most in flight, in
        order.
        """
        fd, size, chunk = reader.fd, reader.size, reader.chunk
        with_data = (proto.data_chunks(fd, size, chunk)
                     if None in self._digests else set())

        def digest(index):
            value = self._digests[index]
            if value is not None:
                return value, None
            if index not in with_data:
                return self.checksum.zeros(
                    proto.chunk_length(size, chunk, index)), None
            data = reader.read(index)
            return self.checksum(data), data

        indexes = iter(range(len(self._digests)))
        with futures.ThreadPoolExecutor(_HASHERS) as pool:
            pending = collections.deque(
                (index, pool.submit(digest, index))
                for index in itertools.islice(indexes, self._ahead))
            while pending:
                index, future = pending.popleft()
                value, data = future.result()
                following = next(indexes, None)
                if following is not None:
                    pending.append((following,
                                    pool.submit(digest, following)))
                self._digests[index] = value
                start = index * self.checksum.size
                if known[start:start + self.checksum.size] == value:
                    self.report.chunks_skipped += 1
                    reader.release(data)
                    continue
                if value == self.checksum.zeros(proto.chunk_length(
                        size, chunk, index)):
                    reader.release(data)
                    yield proto.ZERO, index, value, None
                    continue
                if data is None:
                    data = reader.read(index)
                yield proto.DATA, index, value, data

    def _read_ahead(self, reader, known):
        """``_to_send`` run in a thread, a few chunks ahead of the writes.

        Reading and hashing (both let go of the GIL) overlap with
        writing to ssh.
        """
        ahead = queue.Queue(maxsize=self._ahead)
        stop = threading.Event()

        def produce():
            try:
                for item in self._to_send(reader, known):
                    while not stop.is_set():
                        try:
                            ahead.put(item, timeout=0.5)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                ahead.put(_DONE)
            except BaseException as exc:
                ahead.put(exc)

        worker = threading.Thread(target=produce, daemon=True)
        worker.start()
        try:
            while True:
                item = ahead.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            worker.join()

    def _throttle(self, sent):
        cap = self.options.bandwidth
        if not cap:
            return
        self._sent_since_start += sent
        ahead = (self._sent_since_start / (cap * MIB)
                 - (time.monotonic() - self._started))
        if ahead > 0:
            time.sleep(ahead)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('source')
    parser.add_argument('destination')
    parser.add_argument('--host', help='destination host (ssh); none: '
                        'the destination path is on this host')
    parser.add_argument('--ssh-option', action='append', default=[],
                        help='extra ssh -o option, e.g. Port=2222')
    parser.add_argument('--remote-python', default=sys.executable)
    parser.add_argument('--chunk', type=int, default=proto.DEFAULT_CHUNK)
    parser.add_argument('--checksum', choices=proto.CHECKSUMS,
                        default=proto.DEFAULT_CHECKSUM,
                        help='digest of each chunk (default: %(default)s)')
    parser.add_argument('--compress', choices=('none', 'zstd'),
                        default='none')
    parser.add_argument('--bandwidth', type=float, default=0.0,
                        help='cap in MiB/s; 0: none')
    parser.add_argument('--retries', type=int, default=3)
    parser.add_argument('--precopy', action='store_true',
                        help='first pass of a two-phase copy: the source '
                             'still changes; no verification, the '
                             'destination keeps its digests')
    parser.add_argument('--page-cache', dest='direct', action='store_false',
                        help='read and write through the page cache (the '
                             'passes of a two-phase copy: the last one '
                             'reads every chunk again on both hosts)')
    args = parser.parse_args(argv)
    options = Options(
        host=args.host, ssh_options=tuple(args.ssh_option),
        remote_python=args.remote_python, chunk=args.chunk,
        checksum=args.checksum, compress=args.compress,
        bandwidth=args.bandwidth,
        verify=not args.precopy, finish=not args.precopy,
        direct=args.direct,
        retries=args.retries)
    try:
        sender = Sender(args.source, args.destination, options)
    except proto.Unsupported as exc:
        print(json.dumps({'source': args.source, 'error': 'this host: %s'
                          % exc, 'code': proto.EXIT_UNSUPPORTED}))
        return proto.EXIT_UNSUPPORTED
    try:
        report = sender.run(stable=not args.precopy)
    except CopyError as exc:
        report = dataclasses.asdict(sender.report)
        report.update(error=str(exc), code=exc.code)
        print(json.dumps(report))
        return exc.code
    except OSError as exc:
        report = dataclasses.asdict(sender.report)
        report.update(error='%s: %s' % (args.source, exc),
                      code=proto.EXIT_SOURCE)
        print(json.dumps(report))
        return proto.EXIT_SOURCE
    print(json.dumps(dataclasses.asdict(report)))
    return proto.EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
