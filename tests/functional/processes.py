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
"""Processes the functional tests start beside nova's harness."""

import os
import signal


def green_subprocess():
    """subprocess that yields to nova's green threads while it waits.

    Imported late: eventlet must be patched by nova first.
    """
    from eventlet.green import subprocess
    return subprocess


def kill_group(process):
    """SIGKILL *process* and everything in its session, then reap it.

    The process must have been started with ``start_new_session=True``.
    """
    if process.returncode is None:     # not reaped: its pid is ours
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
