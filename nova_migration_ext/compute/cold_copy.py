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
"""Cold-migration disk copies through ``diskcopy``, as nova-compute runs them.

The sender runs as a child process (like nova's scp or rsync), so its
reads, digests and writes never wait on nova-compute's event loop. Its
JSON report is kept beside the source disks (``RECORD``, in the
``_resize`` folder) until the resize is confirmed: the source is deleted
only if that record says every disk was verified.
"""

import contextlib
import json
import os
import shutil
import sys
import tempfile

from oslo_concurrency import processutils
from oslo_log import log as logging

from nova_migration_ext.compute.diskcopy import protocol as proto
from nova_migration_ext.compute.diskcopy import ssh

LOG = logging.getLogger(__name__)

RECORD = 'nmx-copy.json'
# A shared connection nobody closed (nova-compute killed mid-copy) closes
# itself this long after its last session.
SHARED_CONNECTION_PERSIST = 600
SKIPPED = ('disk.swap',)   # nova re-creates it on the destination
NOT_CONVERGING = 100       # CopyFailed code: first passes never got short
# Chunks of a whole-disk copy: four times fewer hand-offs between the
# sender's threads than 1 MiB, for the same bytes (doc/benchmarks.md).
# The passes of a two-phase copy keep 1 MiB: with the VM down, the final
# one resends a whole chunk for each scattered write.
ONE_PHASE_CHUNK = 4 * proto.DEFAULT_CHUNK
TWO_PHASE_CHUNK = proto.DEFAULT_CHUNK


class CopyFailed(Exception):
    """A disk could not be copied; the message says what to do."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def sender_argv(conf, from_path, to_path, host, cap=None, precopy=False,
                page_cache=False, ssh_options=(), chunk=ONE_PHASE_CHUNK):
    """The command that copies one disk, from the ``[migration_ext]`` conf."""
    argv = [sys.executable, '-m', 'nova_migration_ext.compute.diskcopy.sender',
            '--chunk', str(chunk),
            '--compress', conf.cold_copy_compression,
            '--checksum', conf.cold_copy_checksum,
            '--retries', str(conf.cold_copy_retries),
            '--remote-python', conf.cold_copy_remote_python or sys.executable]
    if host:
        argv += ['--host', host]
    # The lower of the evacuation's cap and the host's; 0 or None: none.
    bandwidth = min([x for x in (cap, conf.cold_copy_max_bandwidth) if x],
                    default=0)
    if bandwidth:
        argv += ['--bandwidth', str(bandwidth)]
    if precopy:
        argv.append('--precopy')
    if page_cache:
        argv.append('--page-cache')
    for option in ssh_options:
        argv += ['--ssh-option', option]
    return argv + [from_path, to_path]


def explain(report, host, source_host, host_name=None):
    """What a failed copy means for the operator, from the sender's report."""
    code = report.get('code')
    what = report.get('error') or 'no report from the copy'
    where = _where(host, host_name)
    if code == proto.EXIT_NO_SPACE:
        advice = ('free space on %s or migrate to another host, then '
                  'retry' % where)
    elif code == proto.EXIT_MISMATCH:
        advice = ('the destination wrote back other bytes than it received '
                  'again and again: check %s\'s disk and memory, and '
                  'migrate to another host' % where)
    elif code == proto.EXIT_CONNECTION:
        advice = _ssh_advice(source_host, where)
    elif code == proto.EXIT_UNSUPPORTED:
        advice = ('install the Python package xxhash on %s and on %s, or '
                  'set [migration_ext] cold_copy_checksum = sha256 on %s, '
                  'then retry' % (source_host, where, source_host))
    else:
        advice = 'read the source\'s nova-compute log, then retry'
    return ('Disk copy to %s failed: %s. Nothing was lost: the source '
            'disks on %s are untouched and the VM is put back there. To '
            'do: %s.' % (where, what, source_host, advice))


def explain_unreachable(error, host, source_host, host_name=None):
    """What a failed first ssh command to the destination means."""
    where = _where(host, host_name)
    detail = (getattr(error, 'stderr', None) or str(error)).strip()
    return ('Cannot reach %s over ssh to prepare the copy: %s. Nothing was '
            'changed: the VM is still on %s. To do: %s.'
            % (where, detail.splitlines()[-1] if detail else 'no answer',
               source_host, _ssh_advice(source_host, where)))


def explain_not_converging(durations, limit, host, source_host):
    """What a two-phase copy that never got short enough means."""
    return ('The VM writes to its disks faster than they can be sent to %s: '
            'after %d first pass(es) (%s s) the next one would still keep it '
            'down longer than [migration_ext] cold_copy_max_downtime (%g s). '
            'Nothing was lost: the VM never stopped and still runs on %s. '
            'To do: migrate it when it writes less, raise '
            'cold_copy_max_downtime, or migrate it in one phase (it is then '
            'down for the whole copy).'
            % (host, len(durations),
               ', '.join('%.1f' % d for d in durations), limit,
               source_host))


def _ssh_advice(source_host, where):
    return ('check that sshd runs on %s and that the nova user on %s can '
            'ssh there without a password (the same keys nova\'s own copy '
            'uses), then retry' % (where, source_host))


def _where(host, host_name):
    if host and host_name and host_name != host:
        return '%s (%s)' % (host_name, host)
    return host or 'the shared instances path'


@contextlib.contextmanager
def shared_connection(host):
    """ssh options of one connection to *host* the passes of a copy share.

    Empty when it cannot be opened: each pass then connects on its own,
    as it would without it (its errors say why). Closed on the way out.
    """
    folder = tempfile.mkdtemp(prefix='nmx-ssh-')   # 0700: the socket's
    control = os.path.join(folder, 'control')
    errors = os.path.join(folder, 'errors')
    try:
        # In the background once authenticated: its output goes to a
        # file, else reading it would wait for the connection to close.
        processutils.execute(
            'sh', '-c', 'errors=$1; shift; exec "$@" </dev/null >/dev/null '
            '2>"$errors"', 'sh', errors, *ssh.master_command(
                host, control, SHARED_CONNECTION_PERSIST))
        opened = True
    except processutils.ProcessExecutionError:
        opened = False
        try:
            with open(errors, errors='replace') as text:
                reason = text.read().strip()
        except OSError:
            reason = ''
        LOG.warning('Each pass of the copy to %s connects on its own: no '
                    'shared ssh connection (%s)', host,
                    reason or 'no reason given')
    if not opened:
        # Outside the handler: an error of the copy is not chained to it.
        shutil.rmtree(folder, ignore_errors=True)
        yield ()
        return
    try:
        yield ssh.shared_options(control)
    finally:
        processutils.execute(*ssh.close_command(host, control),
                             check_exit_code=False)
        shutil.rmtree(folder, ignore_errors=True)


def copy_disk(conf, from_path, to_path, host, source_host, cap=None,
              precopy=False, page_cache=False, on_execute=None,
              on_completion=None, host_name=None, ssh_options=(),
              chunk=ONE_PHASE_CHUNK):
    """Copy one disk; its report (a dict).

    :param page_cache: read and write through the page cache (the passes
        of a two-phase copy); else whole chunks go past it.
    :param ssh_options: ``-o`` options of the copy's ssh command.
    :param chunk: bytes per chunk (``TWO_PHASE_CHUNK`` for those passes).
    :raises CopyFailed: with an operator-ready message.
    """
    argv = sender_argv(conf, from_path, to_path, host, cap, precopy,
                       page_cache, ssh_options, chunk)
    out, err = processutils.execute(*argv, on_execute=on_execute,
                                    on_completion=on_completion,
                                    check_exit_code=False)
    try:
        report = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        report = {'code': proto.EXIT_SOURCE,
                  'error': (err or out or 'the copy printed nothing').strip()}
    if report.get('code', proto.EXIT_OK) != proto.EXIT_OK:
        raise CopyFailed(explain(report, host, source_host, host_name),
                         report['code'])
    LOG.info('Copied %(source)s to %(host)s:%(destination)s in %(seconds).1f '
             's: %(bytes_sent)d bytes in %(chunks_sent)d chunks sent, '
             '%(chunks_skipped)d chunks already there or empty, '
             '%(passes)d pass(es), %(repaired)d chunk(s) repaired, '
             '%(resumed)d resume(s), verified=%(verified)s '
             '(%(checksum)s)',
             dict(report, host=host or 'local'))
    return report


def disks_to_copy(disk_info):
    """(file name, disk) of each disk nova copies; swap is re-created."""
    return [(os.path.basename(info['path']), info) for info in disk_info
            if os.path.basename(info['path']) not in SKIPPED]


def write_record(folder, reports):
    path = os.path.join(folder, RECORD)
    with open(path + '.tmp', 'w') as record:
        json.dump({'disks': reports,
                   'verified': all(r.get('verified') for r in reports)},
                  record)
    os.replace(path + '.tmp', path)


def read_record(folder):
    """The copy record of a ``_resize`` folder, or None."""
    try:
        with open(os.path.join(folder, RECORD)) as record:
            return json.load(record)
    except (OSError, ValueError):
        return None
