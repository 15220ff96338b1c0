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
"""nova's own ERROR after a cold move, and what the source is left with.

The confirm runs on the source, and it asks Neutron for the VM's ports
first: with Neutron down it fails, nova puts the VM (already running on
its destination) in ERROR and the migration in ``error``, and the source
keeps the old disks and the domain. nova offers no way back: a VM in
ERROR cannot be confirmed. Once it is reset to ACTIVE (by the evacuator,
or an operator), the source's nova-compute with our driver does what the
confirm did not.
"""

import time

from tests.lab import base
from tests.lab import config

INSTANCES = '/var/lib/nova/instances'
SWEEP_TIMEOUT = 120   # a resource update every 20 s, 10 s of grace


class ConfirmFailsOnTheSourceTest(base.LabTestCase):

    def leftovers(self, host, server):
        """(the ``_resize`` folder exists, the domain is defined) on host."""
        listing = self.cloud.run_in(host, [
            'sh', '-c', 'ls -d %s/%s_resize 2>/dev/null || true'
            % (INSTANCES, server.id)])
        domains = self.cloud.host(host).virsh('list', '--all', '--uuid')
        return bool(listing.strip()), server.id in domains.split()

    def fail_the_confirm(self, server, mark):
        """Confirm with Neutron down; nova's confirm on c1 fails.

        nova's API needs Neutron to show a server: the test reads c1's log
        while Neutron is down.
        """
        self.cloud.supervisor.stop('neutron')
        try:
            self.nova.servers.confirm_resize(server)
            self.wait_for_log('c1', mark, 'Confirm resize failed on source '
                              'host c1', timeout=180)
        finally:
            self.cloud.control.start_standins(names=('neutron',))
            self.cloud.supervisor.wait_http(
                'neutron', config.url('neutron'),
                accept=(200, 300, 401, 404))
        return self.wait_status(server, 'ERROR')

    def test_source_is_cleaned_after_the_vm_is_reset(self):
        server = self.boot('c1')
        before = self.console(server)
        self.nova.servers.migrate(server, host='c2')
        server = self.wait_status(server, 'VERIFY_RESIZE')
        mark = self.log_mark('c1')
        server = self.fail_the_confirm(server, mark)

        # What nova leaves: the VM in ERROR on c2, its guest running
        # there, the migration in error, the old disks and domain on c1.
        self.assertEqual('c2', self.host_of(server))
        self.assertEqual('error', self.wait_migration(server, 'error').status)
        self.assertEqual('running', self.cloud.host('c2').virsh(
            'domstate', self.guests.instance_name(server)).strip())
        self.assertEqual((True, True), self.leftovers('c1', server))

        # The evacuator's (or the operator's) fix: the guest runs on c2.
        self.nova.servers.reset_state(server, 'active')
        server = self.wait_status(server, 'ACTIVE')
        deadline = time.monotonic() + SWEEP_TIMEOUT
        while self.leftovers('c1', server) != (False, False):
            if time.monotonic() > deadline:
                self.fail('c1 still holds %s after %d s (folder, domain): '
                          '%s' % (server.id, SWEEP_TIMEOUT,
                                  self.leftovers('c1', server)))
            time.sleep(5)
        # The folder goes first; the claim and nova's records follow,
        # then the line that says the sweep ended.
        self.wait_for_log('c1', mark, 'Removed %s/%s_resize'
                          % (INSTANCES, server.id), timeout=60)
        log = self.compute_log_since('c1', mark)
        self.assertIn('doing what a confirm does on this host', log)
        self.assertNotIn('Cannot decide on %s/%s_resize'
                         % (INSTANCES, server.id), log)
        self.assertEqual('c2', self.host_of(server))
        after = self.wait_console(server, 'nmx-ready')
        self.verify_data(server, [before, after])
