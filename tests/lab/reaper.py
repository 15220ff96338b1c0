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
"""Start a daemon below a process that reaps its orphans at once.

libvirtd daemonizes each QEMU, so a QEMU's parent is the init of its PID
namespace, and libvirt counts a VM stopped only once its QEMU is reaped
(it polls ``kill(pid, 0)``, which a zombie still answers). A real
compute host's init (systemd) reaps at once; this machine's PID 1 reaps
orphans 1.4-1.8 s after they exit (measured), which made every stop,
destroy and cold migration in the lab that much longer than on a real
host. So a lab host starts libvirtd with::

    python reaper.py libvirtd -d --listen

which runs the command as the child of a child subreaper
(``PR_SET_CHILD_SUBREAPER``), exits with the command's status once the
command has gone to the background, and leaves the subreaper reaping
every orphan below it until none is left.
"""

import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36


def main(argv):
    status_r, status_w = os.pipe()
    if os.fork():
        # The caller's process: the command's exit status, then return.
        os.close(status_w)
        status = os.read(status_r, 16)
        return int(status) if status else 1
    os.close(status_r)
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        os.write(status_w, b'1')
        os._exit(1)
    command = os.fork()
    if command == 0:
        os.close(status_w)
        os.execvp(argv[0], argv)
    # Let go of the caller's output pipes: it reads them to their end.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    _pid, status = os.waitpid(command, 0)
    os.write(status_w, str(os.waitstatus_to_exitcode(status)).encode())
    os.close(status_w)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            os._exit(0)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
