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
"""The verified disk copy, sender and receiver as real processes.

The receiver runs on this machine (``sh -c``) instead of over ssh; the
lab tests run it between hosts.
"""

import filecmp
import mmap
import os
import stat
import sys
import textwrap
import time

import fixtures
from oslo_concurrency import processutils

from nova_migration_ext.compute import cold_copy
from nova_migration_ext.compute.diskcopy import protocol as proto
from nova_migration_ext.compute.diskcopy import receiver
from nova_migration_ext.compute.diskcopy import sender
from nova_migration_ext.compute.diskcopy import ssh
from tests.unit import utils

MiB = 1 << 20


def write_at(path, offset, data):
    with open(path, 'r+b') as f:
        f.seek(offset)
        f.write(data)


def allocated(path):
    return os.stat(path).st_blocks * 512


class DiskCopyTest(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.src = os.path.join(self.dir, 'src')
        self.dst = os.path.join(self.dir, 'dst')

    def make_source(self, size=32 * MiB):
        """Holes, random data, text, allocated zeros and a partial tail."""
        with open(self.src, 'wb') as f:
            f.truncate(size)
        write_at(self.src, 3 * MiB, os.urandom(3 * MiB + 17))
        write_at(self.src, 12 * MiB, b'nova-migration-ext ' * 50000)
        write_at(self.src, 20 * MiB, bytes(2 * MiB))
        write_at(self.src, size - 100, b'x' * 100)

    def remote_python(self, name, body):
        """An executable shell script, run as the receiver's Python."""
        path = os.path.join(self.dir, name)
        with open(path, 'w') as script:
            script.write('#!/bin/sh\n' + body)
        os.chmod(path, 0o755)
        return path

    def copy(self, **kwargs):
        options = sender.Options(**dict({'retry_delay': 0}, **kwargs))
        precopy = not options.finish
        return sender.Sender(self.src, self.dst, options).run(
            stable=not precopy)

    def test_copy_skips_holes_and_zeros_and_is_verified(self):
        self.make_source()
        report = self.copy()
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))
        self.assertTrue(report.verified)
        # Data: 4 chunks of random data, 1 of text, the tail chunk.
        self.assertEqual(6, report.chunks_sent)
        self.assertLess(allocated(self.dst), 8 * MiB)
        self.assertFalse(os.path.exists(self.dst + proto.STATE_SUFFIX))
        self.assertEqual(0o644, stat.S_IMODE(os.stat(self.dst).st_mode))

    def test_second_pass_sends_only_what_changed(self):
        self.make_source()
        first = self.copy(verify=False, finish=False)
        self.assertFalse(first.verified)
        self.assertTrue(os.path.exists(self.dst + proto.STATE_SUFFIX))
        write_at(self.src, 25 * MiB + 5, b'written while the VM ran')
        final = self.copy()
        self.assertEqual(1, final.chunks_sent)
        self.assertEqual(1, final.passes)
        self.assertTrue(final.verified)
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))
        self.assertFalse(os.path.exists(self.dst + proto.STATE_SUFFIX))

    def test_corrupted_destination_byte_is_found_and_repaired(self):
        self.make_source()
        self.copy(verify=False, finish=False)
        write_at(self.dst, 3 * MiB + 4096, b'\xff')
        final = self.copy()
        # The digests kept beside the copy say nothing changed; reading
        # the copy back finds the byte, and a second pass repairs it.
        self.assertEqual(2, final.passes)
        self.assertEqual(1, final.repaired)
        self.assertEqual(1, final.chunks_sent)
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))

    def test_a_pass_cut_short_resumes_where_it_stopped(self):
        self.make_source(size=64 * MiB)
        write_at(self.src, 30 * MiB, os.urandom(20 * MiB))
        marker = os.path.join(self.dir, 'cut-once')
        # The first receiver sees its input end after about 9 MiB: the
        # connection broke.
        cutter = self.remote_python('python-cut-once', textwrap.dedent('''\
            if [ ! -e %(marker)s ]; then
                touch %(marker)s
                head -c 9437184 | %(python)s "$@"
            else
                exec %(python)s "$@"
            fi
            ''' % {'marker': marker, 'python': sys.executable}))
        report = self.copy(remote_python=cutter)
        self.assertEqual(1, report.resumed)
        self.assertEqual(2, report.passes)
        self.assertTrue(report.verified)
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))
        # Resumed, not restarted: far less than twice the data was sent.
        data = 3 * MiB + 17 + 20 * MiB + 1 * MiB + 1
        self.assertLess(report.bytes_sent, data + 10 * MiB)

    def test_too_many_cuts_fail_with_the_reason(self):
        self.make_source()
        broken = self.remote_python(
            'python-broken', 'echo "ssh: connect to host c9 port 22: '
            'Connection refused" >&2\nexit 255\n')
        error = self.assertRaises(sender.CopyError, self.copy,
                                  remote_python=broken, retries=1)
        self.assertEqual(proto.EXIT_CONNECTION, error.code)
        self.assertIn('Connection refused', str(error))

    def test_source_that_grows_or_shrinks_between_passes(self):
        self.make_source(size=16 * MiB + 5)
        self.copy(verify=False, finish=False)
        with open(self.src, 'ab') as f:
            f.write(os.urandom(MiB + 3))
        self.copy()
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))
        os.truncate(self.src, 6 * MiB + 1)
        self.copy()
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))

    def test_sha256_copy_is_verified_and_resumes_like_xxh128(self):
        self.make_source()
        first = self.copy(checksum='sha256', verify=False, finish=False)
        with open(self.dst + proto.STATE_SUFFIX, 'rb') as state:
            self.assertEqual(b'sha256 1048576\n', state.read(15))
        write_at(self.src, 25 * MiB + 5, b'written while the VM ran')
        final = self.copy(checksum='sha256')
        self.assertEqual(6, first.chunks_sent)
        self.assertEqual(1, final.chunks_sent)
        self.assertTrue(final.verified)
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))

    def test_digests_of_another_checksum_are_not_trusted(self):
        self.make_source()
        self.copy(checksum='sha256', verify=False, finish=False)
        write_at(self.dst, 3 * MiB + 4096, b'\xff')   # damaged since
        final = self.copy(checksum='xxh128')
        # The saved sha256 digests mean nothing to xxh128: the receiver
        # vouches for no chunk with data, and every one is sent again.
        self.assertEqual(1, final.passes)
        self.assertEqual(6, final.chunks_sent)
        self.assertTrue(final.verified)
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))

    def test_digests_of_another_chunk_size_are_not_trusted(self):
        self.make_source()
        self.copy(chunk=4 * MiB, verify=False, finish=False)
        with open(self.dst + proto.STATE_SUFFIX, 'rb') as state:
            self.assertEqual(b'xxh128 4194304\n', state.read(15))
        write_at(self.dst, 3 * MiB + 4096, b'\xff')   # damaged since
        final = self.copy(chunk=MiB)
        # A 4 MiB chunk's digest says nothing of a 1 MiB one: the
        # receiver vouches for no chunk with data, every one is sent again.
        self.assertEqual(1, final.passes)
        self.assertEqual(6, final.chunks_sent)
        self.assertEqual(MiB, final.chunk)
        self.assertTrue(final.verified)
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))

    def test_large_chunks_send_the_same_bytes(self):
        self.make_source()
        report = self.copy(chunk=4 * MiB)
        # Data in 4 MiB chunks 0 (3 MiB on), 1, 3 and 7 (the tail).
        self.assertEqual(4, report.chunks_sent)
        self.assertEqual(4 * MiB, report.chunk)
        self.assertTrue(report.verified)
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))

    def test_receiver_without_xxhash_fails_at_once_with_what_to_do(self):
        self.make_source()
        # The destination's Python lacks the xxhash package.
        fake = os.path.join(self.dir, 'no-xxhash')
        os.mkdir(fake)
        with open(os.path.join(fake, 'xxhash.py'), 'w') as module:
            module.write('raise ImportError("No module named xxhash")\n')
        python = self.remote_python(
            'python-no-xxhash', 'PYTHONPATH=%s:%s exec %s "$@"\n' % (
                fake, os.getcwd(), sys.executable))
        start = time.monotonic()
        error = self.assertRaises(sender.CopyError, self.copy,
                                  remote_python=python, retry_delay=30)
        self.assertLess(time.monotonic() - start, 30)   # no retry
        self.assertEqual(proto.EXIT_UNSUPPORTED, error.code)
        self.assertIn('xxhash', str(error))
        self.assertIn('cold_copy_checksum = sha256', str(error))
        self.assertFalse(os.path.exists(self.dst))
        # sha256 needs nothing more there.
        self.assertTrue(self.copy(remote_python=python,
                                  checksum='sha256').verified)

    def test_page_cache_pass_reaches_the_receiver(self):
        self.make_source()
        logged = os.path.join(self.dir, 'receiver-argv')
        python = self.remote_python(
            'python-logging', 'echo "$@" >> %s\nexec %s "$@"\n'
            % (logged, sys.executable))
        self.assertTrue(self.copy(remote_python=python).verified)
        os.unlink(self.dst)
        report = self.copy(remote_python=python, direct=False)
        self.assertTrue(report.verified)
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))
        with open(logged) as f:
            first, second = f.read().splitlines()
        self.assertNotIn('--page-cache', first)
        self.assertIn('--page-cache', second)

    def test_zstd_compression(self):
        self.make_source()
        report = self.copy(compress='zstd')
        self.assertTrue(report.verified)
        self.assertTrue(filecmp.cmp(self.src, self.dst, shallow=False))

    def test_bandwidth_cap_is_honoured(self):
        with open(self.src, 'wb') as f:
            f.write(os.urandom(6 * MiB))
        start = time.monotonic()
        self.copy(bandwidth=4)
        # 6 MiB at 4 MiB/s: the last chunk leaves 1.5 s after the start.
        self.assertGreaterEqual(time.monotonic() - start, 1.2)

    def test_command_line_prints_a_report_and_exit_code(self):
        self.make_source()
        self.assertEqual(0, sender.main([self.src, self.dst]))


class ChunkReaderTest(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'src')
        self.data = os.urandom(5 * MiB + 100)
        with open(self.path, 'wb') as f:
            f.write(self.data)
        self.fd = os.open(self.path, os.O_RDONLY)
        self.addCleanup(os.close, self.fd)

    def test_chunks_lent_past_the_page_cache_and_given_back(self):
        reader = sender._ChunkReader(self.path, self.fd, len(self.data), MiB,
                                     4)
        self.addCleanup(reader.close)
        self.assertIsNotNone(reader.direct_fd)   # ext4 here, as on CI
        # More reads than buffers: each one given back before the next.
        for _ in range(3):
            for index in range(6):
                data = reader.read(index)
                self.assertIsInstance(data, memoryview)
                self.assertEqual(self.data[index * MiB:(index + 1) * MiB],
                                 bytes(data))
                reader.release(data)

    def test_page_cache_when_asked(self):
        reader = sender._ChunkReader(self.path, self.fd, len(self.data), MiB,
                                     4, direct=False)
        self.addCleanup(reader.close)
        self.assertIsNone(reader.direct_fd)
        self.assertEqual(self.data[MiB:2 * MiB], reader.read(1))

    def test_unaligned_chunks_are_read_through_the_page_cache(self):
        chunk = MiB + 1
        reader = sender._ChunkReader(self.path, self.fd, len(self.data),
                                     chunk, 4)
        self.addCleanup(reader.close)
        self.assertIsNone(reader.direct_fd)
        self.assertEqual(self.data[chunk:2 * chunk], reader.read(1))


class ReceiverTest(utils.TestCase):

    def test_damaged_chunk_is_not_written(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path, 'd')
        checksum = proto.Checksum()
        copy = receiver.Copy(path, 2 * MiB, MiB, checksum)
        data = os.urandom(MiB)
        copy.write(0, checksum(data), data[:-1] + b'\0')
        copy.write(1, checksum(data), data)
        self.assertEqual(checksum.unknown, copy.known()[:checksum.size])
        self.assertEqual(1, copy.written)
        self.assertEqual({1}, copy.fresh)

    def test_aligned_chunks_go_past_the_page_cache(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path, 'd')
        checksum = proto.Checksum()
        copy = receiver.Copy(path, 2 * MiB, MiB, checksum)
        self.assertIsNotNone(copy.direct_fd)   # ext4 here, as on CI
        chunk = memoryview(mmap.mmap(-1, MiB))
        chunk[:] = os.urandom(MiB)
        copy.write(1, checksum(chunk), chunk, aligned=True)
        self.assertIsNotNone(copy.direct_fd)
        with open(path, 'rb') as f:
            f.seek(MiB)
            self.assertEqual(bytes(chunk), f.read())

    def test_direct_write_refused_falls_back_to_the_page_cache(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path, 'd')
        checksum = proto.Checksum()
        copy = receiver.Copy(path, 2 * MiB, MiB, checksum)
        # A bytes object's data is not page-aligned: O_DIRECT says EINVAL.
        data = b'\x01' + os.urandom(MiB - 1)
        copy.write(0, checksum(data), data, aligned=True)
        self.assertIsNone(copy.direct_fd)
        with open(path, 'rb') as f:
            self.assertEqual(data, f.read(MiB))

    def test_unknown_checksum_is_refused(self):
        self.assertRaises(ValueError, proto.Checksum, 'md5')


class SshTest(utils.TestCase):

    def cpuinfo(self, flags):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path, 'c')
        with open(path, 'w') as f:
            f.write('processor\t: 0\nflags\t\t: %s\n' % flags)
        return path

    def test_aes_first_only_with_aes_instructions(self):
        self.assertTrue(ssh.cpu_has_aes(self.cpuinfo('fpu sse2 aes avx2')))
        self.assertFalse(ssh.cpu_has_aes(self.cpuinfo('fpu sse2 avx2')))
        self.assertFalse(ssh.cpu_has_aes('/nonexistent'))

    def test_command_never_prompts_nor_compresses(self):
        argv = ssh.command('c2', ['Port=2222'])
        self.assertEqual('c2', argv[-1])
        self.assertIn('BatchMode=yes', argv)
        self.assertIn('Compression=no', argv)
        self.assertIn('Port=2222', argv)

    def test_shared_connection_commands(self):
        master = ssh.master_command('c2', '/run/x/control', 600)
        self.assertEqual(['-N', '-f', 'c2'], master[-3:])
        for option in ('ControlMaster=yes', 'ControlPath=/run/x/control',
                       'ControlPersist=600', 'BatchMode=yes'):
            self.assertIn(option, master)
        # A session never opens a connection of its own to share.
        self.assertEqual(('ControlMaster=no', 'ControlPath=/run/x/control'),
                         ssh.shared_options('/run/x/control'))
        self.assertEqual(['-O', 'exit', 'c2'],
                         ssh.close_command('c2', '/run/x/control')[-3:])


class SenderArgvTest(utils.TestCase):

    def test_options_of_the_conf_and_of_the_copy(self):
        self.flags(cold_copy_checksum='sha256', cold_copy_max_bandwidth=50)
        argv = cold_copy.sender_argv(self.conf.migration_ext, '/a', '/b',
                                     'c2', cap=20, precopy=True,
                                     page_cache=True,
                                     chunk=cold_copy.TWO_PHASE_CHUNK)
        self.assertIn('--chunk 1048576', ' '.join(argv))
        self.assertEqual(['/a', '/b'], argv[-2:])
        self.assertIn('--checksum sha256', ' '.join(argv))
        self.assertIn('--bandwidth 20', ' '.join(argv))
        self.assertIn('--precopy', argv)
        self.assertIn('--page-cache', argv)
        argv = cold_copy.sender_argv(
            self.conf.migration_ext, '/a', '/b', 'c2',
            ssh_options=ssh.shared_options('/run/x/control'))
        self.assertIn('--ssh-option ControlMaster=no --ssh-option '
                      'ControlPath=/run/x/control', ' '.join(argv))
        argv = cold_copy.sender_argv(self.conf.migration_ext, '/a', '/b',
                                     'c2')
        self.assertIn('--chunk 4194304', ' '.join(argv))
        self.assertIn('--checksum sha256', ' '.join(argv))
        self.assertIn('--bandwidth 50', ' '.join(argv))
        self.assertNotIn('--page-cache', argv)
        self.assertNotIn('--precopy', argv)


class ExplainTest(utils.TestCase):

    def test_each_failure_says_what_to_do(self):
        for code, words in ((proto.EXIT_NO_SPACE, 'free space on c2'),
                            (proto.EXIT_MISMATCH, "check c2's disk"),
                            (proto.EXIT_CONNECTION,
                             'sshd runs on c2 and that the nova user on c1 '
                             'can ssh there'),
                            (proto.EXIT_UNSUPPORTED,
                             'install the Python package xxhash on c1 and '
                             'on c2, or set [migration_ext] '
                             'cold_copy_checksum = sha256 on c1')):
            message = cold_copy.explain({'code': code, 'error': 'boom'},
                                        'c2', 'c1')
            self.assertIn(words, message)
            self.assertIn('Nothing was lost', message)
            self.assertIn('boom', message)

    def test_unreachable_destination_says_nothing_changed(self):
        error = processutils.ProcessExecutionError(
            stderr='Warning: x\nssh: connect to host 10.0.0.2 port 22: '
                   'Connection refused\n', cmd='ssh 10.0.0.2 mkdir -p /x')
        message = cold_copy.explain_unreachable(error, '10.0.0.2', 'c1',
                                                host_name='c2')
        self.assertEqual(
            'Cannot reach c2 (10.0.0.2) over ssh to prepare the copy: ssh: '
            'connect to host 10.0.0.2 port 22: Connection refused. Nothing '
            'was changed: the VM is still on c1. To do: check that sshd runs '
            'on c2 (10.0.0.2) and that the nova user on c1 can ssh there '
            'without a password (the same keys nova\'s own copy uses), then '
            'retry.', message)
