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
"""Detached lab processes, each with a pid file and a log.

The lab outlives the command that starts it (``tools/lab.sh up``), so
every service is started in a session of its own, its pid written under
``<root>/pids`` and its output under ``<root>/logs``; any later process
can stop it from there.
"""

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request


# What test harnesses export for in-process nova (tools/run-tests.sh sets
# them for nova's functional tests) must not reach the lab's services: a
# deployment does not run nova-compute under eventlet because of them
# (under eventlet, nova-compute never answered get_console_output here).
HARNESS_VARIABLES = ('OS_NOVA_DISABLE_EVENTLET_PATCHING',
                     'NOVA_RAISE_ON_GREENLET_LEAK', 'OS_TEST_TIMEOUT',
                     'OS_STDOUT_CAPTURE', 'OS_STDERR_CAPTURE',
                     'OS_LOG_CAPTURE')


def service_environment(extra=None):
    """This process's environment with the harness' variables emptied.

    Emptied, not removed: what runs in a lab host gets os.environ merged
    under its environment. *extra* is added.
    """
    env = dict(os.environ)
    env.update((key, '') for key in HARNESS_VARIABLES)
    env.update(extra or {})
    return env


class LabError(Exception):
    """The lab could not be set up or did not behave."""


def tail(path, limit=4000):
    """The end of the file at *path*, or '' if there is none."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode('utf-8', 'replace')
    except OSError:
        return ''


class Supervisor(object):
    """Starts, finds and stops the lab's named processes."""

    def __init__(self, root):
        self.root = root
        self.pid_dir = os.path.join(root, 'pids')
        self.log_dir = os.path.join(root, 'logs')
        os.makedirs(self.pid_dir, exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)

    def log_path(self, name):
        return os.path.join(self.log_dir, name + '.log')

    def _pid_path(self, name):
        return os.path.join(self.pid_dir, name + '.pid')

    def start(self, name, argv, env=None, cwd=None, popen=None):
        """Start *argv* detached as *name*; returns its pid.

        *popen* (a host's ``popen``) runs it inside a lab host instead.
        """
        self.stop(name)
        full_env = service_environment(env)
        with open(self.log_path(name), 'ab') as log:
            log.write(('--- %s %s\n' % (time.strftime('%H:%M:%S'),
                                        ' '.join(argv))).encode())
            log.flush()
            kwargs = dict(stdin=subprocess.DEVNULL, stdout=log,
                          stderr=subprocess.STDOUT, env=full_env,
                          start_new_session=True)
            if popen is None:
                process = subprocess.Popen(argv, cwd=cwd or self.root,
                                           **kwargs)
            else:
                process = popen(argv, **kwargs)
        with open(self._pid_path(name), 'w') as f:
            f.write(str(process.pid))
        return process.pid

    def pid(self, name):
        """The pid of *name* if it runs, else None."""
        try:
            with open(self._pid_path(name)) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        try:
            with open('/proc/%d/stat' % pid) as f:
                if f.read().split(') ')[-1].startswith('Z'):
                    os.waitpid(pid, os.WNOHANG)
                    return None
        except (OSError, ChildProcessError):
            pass
        return pid

    def names(self):
        return sorted(n[:-4] for n in os.listdir(self.pid_dir)
                      if n.endswith('.pid'))

    def signal(self, name, signum):
        pid = self.pid(name)
        if pid:
            os.killpg(pid, signum)
        return pid

    def stop(self, name, grace=10):
        """Stop *name* and its session: SIGTERM, then SIGKILL."""
        pid = self.pid(name)
        if pid:
            for signum, wait in ((signal.SIGTERM, grace),
                                 (signal.SIGKILL, 5)):
                try:
                    os.killpg(pid, signum)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline and self.pid(name):
                    time.sleep(0.2)
                if not self.pid(name):
                    break
        try:
            os.unlink(self._pid_path(name))
        except FileNotFoundError:
            pass

    def kill(self, name):
        """SIGKILL *name* and its session at once: a crash, not a stop."""
        pid = self.pid(name)
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.pid(name):
                time.sleep(0.1)
        try:
            os.unlink(self._pid_path(name))
        except FileNotFoundError:
            pass

    def stop_all(self):
        for name in self.names():
            self.stop(name, grace=5)

    def check(self, name):
        """Raise LabError with the log's end if *name* is not running."""
        if not self.pid(name):
            raise LabError('%s is not running; its log ends with:\n%s' % (
                name, tail(self.log_path(name))))

    def log_mark(self, name):
        """Where *name*'s log ends now: what ``wait_log`` reads from."""
        try:
            return os.path.getsize(self.log_path(name))
        except OSError:
            return 0

    def wait_log(self, name, text, mark=0, timeout=120, what=None):
        """Wait until *name*'s log shows *text* past byte *mark*.

        Raises LabError, saying *what* was awaited, if *name* stops or
        *timeout* seconds pass first.
        """
        needle = text.encode()
        deadline = time.monotonic() + timeout
        while True:
            self.check(name)
            with open(self.log_path(name), 'rb') as f:
                f.seek(mark)
                if needle in f.read():
                    return
            if time.monotonic() > deadline:
                raise LabError('%s not %s after %d s:\n%s' % (
                    name, what or 'logging %r' % text, timeout,
                    tail(self.log_path(name))))
            time.sleep(0.5)

    def wait_http(self, name, url, timeout=120, accept=(200, 300, 401)):
        """Wait until *url* answers with a status in *accept*."""
        deadline = time.monotonic() + timeout
        while True:
            self.check(name)
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status in accept:
                        return
            except urllib.error.HTTPError as e:
                if e.code in accept:
                    return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise LabError('%s did not answer on %s within %ds:\n%s' % (
                    name, url, timeout, tail(self.log_path(name))))
            time.sleep(0.5)


def run(argv, timeout=300, env=None, cwd=None):
    """Run *argv* to completion; LabError with its output if it fails."""
    full_env = service_environment(env)
    result = subprocess.run(argv, capture_output=True, text=True,
                            timeout=timeout, env=full_env, cwd=cwd)
    if result.returncode:
        raise LabError('%s failed (%d):\n%s%s' % (
            ' '.join(argv), result.returncode, result.stdout[-3000:],
            result.stderr[-3000:]))
    return result.stdout
