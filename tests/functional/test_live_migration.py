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

from nova.tests import fixtures as nova_fixtures

from nova_migration_ext import throttle
from tests.functional import base


class BlockMigrationWithVolumeTest(base.MigrationExtTestBase):

    def setUp(self):
        super().setUp()
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]
        self.migrate_calls = []

    def _migrate_stub(self, domain, destination, params, flags):
        self.migrate_calls.append((params.get('migrate_disks'), flags))
        super()._migrate_stub(domain, destination, params, flags)

    def test_block_migration_skips_volume(self):
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
    """The evacuation's cap, in the server's metadata, reaches libvirt."""

    def setUp(self):
        super().setUp()
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]
        self.bandwidths = []

    def _migrate_stub(self, domain, destination, params, flags):
        self.bandwidths.append(params.get('bandwidth'))
        super()._migrate_stub(domain, destination, params, flags)

    def migrate(self, metadata=None):
        self.server = self.boot('src')
        if metadata:
            self.api.post_server_metadata(self.server['id'], metadata)
        server = self.live_migrate(self.server, 'dest')
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('ACTIVE', server['status'])
        return self.bandwidths.pop()

    def test_cap_from_metadata(self):
        self.assertEqual(40, self.migrate({throttle.BANDWIDTH_KEY: '40'}))

    def test_no_cap_is_nova_default(self):
        self.assertEqual(0, self.migrate())
        self.assertEqual(0, self.migrate({throttle.BANDWIDTH_KEY: 'fast'}))

    def test_smaller_host_limit_wins(self):
        self.flags(live_migration_bandwidth=20, group='libvirt')
        self.assertEqual(20, self.migrate({throttle.BANDWIDTH_KEY: '40'}))
        self.flags(live_migration_bandwidth=80, group='libvirt')
        self.assertEqual(40, self.migrate({throttle.BANDWIDTH_KEY: '40'}))
