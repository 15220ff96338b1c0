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
"""Tests on the running lab: boot guests, move them, prove their data.

The lab is brought up once for the whole run (``tools/lab.sh up``, which
``tools/run-tests.sh`` does in its lab step); a test that finds no lab
fails, it does not skip. Every server a test boots is deleted at its end.
"""

import hashlib
import os
import time
import uuid

import testtools
import testtools.content

from tests.lab import cloud as lab_cloud
from tests.lab import guests


class LabTestCase(testtools.TestCase):
    """A test against the lab under ``$NMX_LAB_ROOT``."""

    def setUp(self):
        super().setUp()
        self.cloud = lab_cloud.Cloud()
        state = self.cloud.state()
        if not state.get('bring_up_seconds'):
            self.fail('No lab is up under %s: run "tools/lab.sh up" first '
                      '(tools/run-tests.sh does).' % self.cloud.root)
        self.state = state
        self.nova = self.cloud.nova()
        self.glance = self.cloud.glance()
        self.guests = guests.Guests(self.cloud, self.nova)
        self.tag = uuid.uuid4().hex[:6]

    def boot(self, host, flavor='lab.small', image=None, name=None):
        """Boot the lab guest on *host*, deleted at the test's end."""
        server = self.guests.boot(name or 'lab-%s' % self.tag, host,
                                  flavor=flavor, image=image, wait=False)
        self.addCleanup(self.guests.delete, server.id)
        return self._check(self.guests.wait_booted, server)

    def boot_orphan(self, host, flavor='lab.small'):
        """Boot on *host* from an image then deleted from Glance.

        Sets ``self.base_name``: the name of its base file in ``_base``.
        """
        image = self.cloud.make_root_image('orphan-%s' % self.tag)
        server = self.boot(host, flavor=flavor, image=image)
        self.glance.images.delete(image)
        self.base_name = hashlib.sha1(image.encode()).hexdigest()
        return server

    def has_base(self, host):
        """Whether *host*'s image cache holds ``self.base_name``."""
        listing = self.cloud.run_in(host, [
            'ls', '/var/lib/nova/instances/_base/'])
        return self.base_name in listing.split()

    def _check(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except guests.GuestError as exc:
            self.fail(str(exc))

    def wait_status(self, server, status, timeout=guests.MOVE_TIMEOUT):
        return self._check(self.guests.wait_status, server, status, timeout)

    def wait_console(self, server, text):
        return self._check(self.guests.wait_console, server, text)

    def host_of(self, server):
        return self.guests.host_of(server)

    def console(self, server):
        return self.guests.console(server)

    def migrations(self, server):
        return self.nova.migrations.list(instance_uuid=server.id)

    def wait_migration(self, server, status, timeout=60):
        """*server*'s newest migration once it reaches *status*.

        Nova marks the instance ACTIVE on its new host a moment before it
        marks the migration record, so a test waits for both.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self.migrations(server)
            if found and (found[0].status == status
                          or time.monotonic() > deadline):
                return found[0]
            if not found and time.monotonic() > deadline:
                raise AssertionError('%s has no migration' % server.id)
            time.sleep(1)

    def verify_data(self, server, consoles, extra_disks=()):
        """Stop *server*, then prove its disks hold every acked write."""
        ok, output = self._check(self.guests.verify, server, consoles,
                                 extra_disks)
        self.addDetail('verify', testtools.content.text_content(output))
        self.assertTrue(ok, 'data check failed:\n%s' % output)
        return output

    # -- logs ---------------------------------------------------------

    def compute_log_since(self, host, mark):
        """*host*'s nova-compute log written after byte offset *mark*."""
        with open(self.cloud.compute_log(host), 'rb') as f:
            f.seek(mark)
            return f.read().decode('utf-8', 'replace')

    def wait_for_log(self, host, mark, text, timeout=300):
        """Wait until *host*'s nova-compute logs *text* after *mark*."""
        deadline = time.monotonic() + timeout
        while text not in self.compute_log_since(host, mark):
            if time.monotonic() > deadline:
                self.fail('%s never logged %r' % (host, text))
            time.sleep(0.2)

    def log_mark(self, host):
        try:
            return os.path.getsize(self.cloud.compute_log(host))
        except OSError:
            return 0
