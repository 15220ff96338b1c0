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
"""Boot lab guests through nova's API, follow them, prove their data.

Used by the lab's tests and by its drain demo alike.
"""

import os
import time

from tests.lab import config
from tests.lab import procs

ACTIVE_TIMEOUT = 240
MOVE_TIMEOUT = 420
READY_TIMEOUT = 180


class GuestError(procs.LabError):
    """A guest did not reach the state it should have."""


class Guests(object):
    """Servers of the lab's guest image, through *cloud*'s nova."""

    def __init__(self, cloud, nova=None):
        self.cloud = cloud
        self.nova = nova or cloud.nova()
        self.state = cloud.state()

    def boot(self, name, host, flavor='lab.small', image=None, wait=True):
        """Boot the guest on *host*; with *wait*, until it writes."""
        server = self.nova.servers.create(
            name, image or self.state['images']['guest'],
            self.nova.flavors.find(name=flavor), nics='none',
            availability_zone='nova:%s' % host)
        if wait:
            server = self.wait_booted(server)
        return server

    def wait_booted(self, server):
        server = self.wait_status(server, 'ACTIVE', ACTIVE_TIMEOUT)
        self.wait_console(server, 'nmx-ready')
        return server

    def delete(self, server_id, timeout=120):
        try:
            self.nova.servers.delete(server_id)
        except Exception:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.nova.servers.get(server_id)
            except Exception:
                return
            time.sleep(2)

    def wait_status(self, server, status, timeout=MOVE_TIMEOUT):
        """Wait for *status* with no task in flight; the fresh server."""
        deadline = time.monotonic() + timeout
        while True:
            server = self.nova.servers.get(server.id)
            task = getattr(server, 'OS-EXT-STS:task_state')
            if server.status == status and task is None:
                return server
            if server.status == 'ERROR' and status != 'ERROR':
                raise GuestError('%s went to ERROR: %s' % (
                    server.id, getattr(server, 'fault', None)))
            if time.monotonic() > deadline:
                raise GuestError('%s still %s/%s after %ds, not %s' % (
                    server.id, server.status, task, timeout, status))
            time.sleep(1)

    def host_of(self, server):
        return getattr(self.nova.servers.get(server.id),
                       'OS-EXT-SRV-ATTR:host')

    def console(self, server):
        return self.nova.servers.get_console_output(server.id) or ''

    def wait_console(self, server, text, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            output = self.console(server)
            if text in output:
                return output
            if time.monotonic() > deadline:
                raise GuestError('%s never printed %r; console ends with:'
                                 '\n%s' % (server.id, text, output[-2000:]))
            time.sleep(2)

    def instance_name(self, server):
        return getattr(self.nova.servers.get(server.id),
                       'OS-EXT-SRV-ATTR:instance_name')

    def _parse_job(self, text):
        info = {}
        for line in text.splitlines():
            key, _sep, value = line.partition(':')
            parts = value.split()
            try:
                info[key.strip()] = (float(parts[0]), ' '.join(parts[1:]))
            except (IndexError, ValueError):
                continue
        return info

    def watch_job(self, server, host, stop):
        """libvirt's job info of *server* on *host*, every second.

        Runs until the event *stop* is set; returns the samples. On the
        source of a block migration these include ``File total``: the
        bytes of the disks copied through the migration stream.
        """
        name = self.instance_name(server)
        samples = []
        while not stop.is_set():
            result = self.cloud.host(host).run(
                ['virsh', '-c', 'qemu:///system', 'domjobinfo', name],
                check=False, timeout=30)
            if result.returncode == 0:
                info = self._parse_job(result.stdout)
                if info:
                    samples.append(info)
            time.sleep(1)
        return samples

    def job_info(self, server, host=None):
        """libvirt's statistics of the last completed job of *server*.

        On the destination of a live migration these are the incoming
        migration's: ``Time elapsed`` (ms), ``Total downtime`` (ms),
        ``Memory processed`` and ``File processed`` (the disks), as
        ``{key: (number, unit)}``.
        """
        return self._parse_job(self.cloud.host(
            host or self.host_of(server)).virsh(
                'domjobinfo', '--completed', self.instance_name(server)))

    def instance_disks(self, server, host=None):
        """Paths of the server's local disk files on its host."""
        host = host or self.host_of(server)
        listing = self.cloud.run_in(host, [
            'ls', '/var/lib/nova/instances/%s/' % server.id])
        return ['/var/lib/nova/instances/%s/%s' % (server.id, name)
                for name in listing.split()
                if name == 'disk' or name.startswith('disk.eph')]

    def verify(self, server, consoles, extra_disks=(), stop=True):
        """Prove *server*'s disks hold every acknowledged write.

        *consoles* are its console outputs read during its life (before
        and after each move); *extra_disks* its volumes' devices. The
        server is stopped first (a running guest's ring is no snapshot)
        unless it is already. Returns (ok, the checker's output).
        """
        consoles = list(consoles)
        server = self.nova.servers.get(server.id)
        if server.status == 'ACTIVE':
            consoles.append(self.console(server))
            if stop:
                self.nova.servers.stop(server.id)
                server = self.wait_status(server, 'SHUTOFF', 180)
        host = self.host_of(server)
        folder = os.path.join(self.cloud.root, 'consoles')
        os.makedirs(folder, exist_ok=True)
        argv = [config.venv_bin('python'), '-m', 'tests.lab.guest.verify']
        for i, text in enumerate(consoles):
            path = os.path.join(folder, '%s-%d.log' % (server.id, i))
            with open(path, 'w') as f:
                f.write(text)
            argv += ['--console', path]
        argv += self.instance_disks(server, host) + list(extra_disks)
        result = self.cloud.host(host).run(
            argv, check=False, timeout=300,
            env=dict(os.environ, PYTHONPATH=self.cloud.repo))
        return result.returncode == 0, result.stdout + result.stderr
