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
"""Live and block live migration through the REST API with our driver."""

import fixtures
from nova.tests import fixtures as nova_fixtures

from nova_migration_ext.compute import throttle
from tests.functional import base


class BlockMigrationWithVolumeTest(base.MigrationExtTestBase):
    """A block migration with a volume: nova leaves it out, we check.

    That the volume is not copied is nova's doing (its
    _live_migration_copy_disk_paths drops volumes from migrate_disks), so
    this passes with the stock driver too as far as libvirt's arguments
    go. What is ours: the guard run right before libvirt is called checks
    that very disk list, knows the volume, and lets the safe migration
    through (test_prechecks shows it refusing an unsafe list).
    """

    def setUp(self):
        super().setUp()
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]
        self.migrate_calls = []
        self.guard_calls = []
        guard = self.src.driver._volume_guard
        check = guard.check

        def recording(request):
            verdict = check(request)
            self.guard_calls.append((request, verdict))
            return verdict
        guard.check = recording

    def _migrate_stub(self, domain, destination, params, flags):
        self.migrate_calls.append((params.get('migrate_disks'), flags))
        super()._migrate_stub(domain, destination, params, flags)

    def test_volume_left_out_by_nova_and_checked_by_our_guard(self):
        self.server = self.boot('src')
        volume_id = nova_fixtures.CinderFixture.IMAGE_BACKED_VOL
        self._attach_volume(self.server, volume_id)
        volume_dev = self.api.get_server_volumes(
            self.server['id'])[0]['device'].rpartition('/')[2]
        server = self.live_migrate(self.server, 'dest')

        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual(1, len(self.migrate_calls))
        migrate_disks, _flags = self.migrate_calls[0]
        self.assertIn('vda', migrate_disks)
        self.assertNotIn(volume_dev, migrate_disks)
        # Our guard ran once, on the list libvirt got, and knew the volume.
        [(request, verdict)] = self.guard_calls
        self.assertEqual(tuple(migrate_disks), request.migrate_disks)
        self.assertEqual(
            [volume_dev],
            [d.target_dev for d in request.disks if d.is_volume])
        self.assertEqual('pass', verdict.status.value)
        self.assertEqual('volumes %s are not in the copied disks %s.'
                         % (volume_dev, ', '.join(migrate_disks)),
                         verdict.reason)


class SharedStorageLiveMigrationTest(base.MigrationExtTestBase):
    shared_instance_path = True

    def setUp(self):
        super().setUp()
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]

    def test_live_migration_on_shared_storage(self):
        self.server = self.boot('src')
        server = self.live_migrate(self.server, 'dest')
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('ACTIVE', server['status'])
        self.assertTrue(self.migrate_stub_ran)


class BandwidthCapTest(base.MigrationExtTestBase):
    """The evacuator's signed cap reaches libvirt; an owner's does not."""

    SECRET = 'operator-secret'

    def setUp(self):
        super().setUp()
        self.flags(bandwidth_cap_secret=self.SECRET, group='migration_ext')
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]
        self.bandwidths = []
        self.log = self.useFixture(fixtures.FakeLogger(
            name='nova_migration_ext.compute.driver'))

    def _migrate_stub(self, domain, destination, params, flags):
        self.bandwidths.append(params.get('bandwidth'))
        super()._migrate_stub(domain, destination, params, flags)

    def migrate(self, metadata=None, signed_cap=None, ttl=600):
        self.server = self.boot('src')
        if signed_cap:
            metadata = {throttle.BANDWIDTH_KEY: throttle.sign(
                self.SECRET, self.server['id'], signed_cap, ttl)}
        if metadata:
            self.api.post_server_metadata(self.server['id'], metadata)
        server = self.live_migrate(self.server, 'dest')
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('ACTIVE', server['status'])
        return self.bandwidths.pop()

    def test_cap_from_evacuator(self):
        self.assertEqual(40, self.migrate(signed_cap=40))

    def test_no_cap_is_nova_default(self):
        self.assertEqual(0, self.migrate())

    def test_tenant_written_cap_ignored_and_logged(self):
        # The VM's owner may write its metadata: an unsigned cap, or a
        # signed one copied from another VM or expired, changes nothing.
        self.assertEqual(0, self.migrate({throttle.BANDWIDTH_KEY: '1'}))
        self.assertIn('Ignoring %s' % throttle.BANDWIDTH_KEY,
                      self.log.output)
        self.assertEqual(0, self.migrate({throttle.BANDWIDTH_KEY: 'fast'}))
        other = throttle.sign(self.SECRET, 'another-vm', 1, 600)
        self.assertEqual(0, self.migrate({throttle.BANDWIDTH_KEY: other}))
        self.assertEqual(0, self.migrate(signed_cap=1, ttl=-1))

    def test_no_secret_no_cap(self):
        self.assertEqual(40, self.migrate(signed_cap=40))
        self.flags(bandwidth_cap_secret=None, group='migration_ext')
        self.assertEqual(0, self.migrate(signed_cap=40))
        self.assertIn('bandwidth_cap_secret', self.log.output)

    def test_smaller_host_limit_wins(self):
        # [libvirt] live_migration_bandwidth is the operator's host-wide
        # cap; it holds with or without an evacuation's cap.
        self.flags(live_migration_bandwidth=20, group='libvirt')
        self.assertEqual(20, self.migrate(signed_cap=40))
        self.assertEqual(20, self.migrate({throttle.BANDWIDTH_KEY: '1'}))
        self.flags(live_migration_bandwidth=80, group='libvirt')
        self.assertEqual(40, self.migrate(signed_cap=40))
