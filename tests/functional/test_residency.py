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
"""Nova's records say one host, the guest lives on another.

The state a killed nova-compute leaves when libvirt finished the copy
anyway (reproduced on real hosts by ``tests/lab/test_faults.py``): nova
puts the VM on its source, the guest runs on the destination. A new move
must be refused at the source, and a rollback on the destination must
never destroy the guest living there.
"""

import os

from nova import context as nova_context
from nova import objects
from nova.objects import migrate_data as migrate_data_obj
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.virt.libvirt import driver as libvirt_driver

from tests.functional import base


class GuestNotOnItsRecordedHostTest(base.MigrationExtTestBase):

    def setUp(self):
        super().setUp()
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]
        self.server = self.boot('src')

    def move_guest_behind_novas_back(self):
        """The guest now runs on dest; src has no domain of it."""
        domain = self.domain('src', self.server['id'])
        xml = domain.XMLDesc(0)
        domain.destroy()
        domain.undefine()
        conn = self.dest.driver._host.get_connection()
        conn.defineXML(xml).create()
        instance_dir = os.path.join(self.folders.paths['dest'],
                                    self.server['id'])
        os.makedirs(instance_dir, exist_ok=True)
        return instance_dir

    def test_live_migration_refused_at_the_source(self):
        self.move_guest_behind_novas_back()
        self.live_migrate(self.server, 'dest',
                          migration_expected_state='error')
        server = self.api.get_server(self.server['id'])
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual('src', server['OS-EXT-SRV-ATTR:host'])
        self.assertFalse(self.migrate_stub_ran)
        # The guest on dest was not touched.
        self.assertEqual(fakelibvirt.VIR_DOMAIN_RUNNING,
                         self.domain('dest', self.server['id']).info()[0])

    def test_cold_migration_refused_at_the_source(self):
        self.move_guest_behind_novas_back()
        self.cold_migrate(self.server, 'dest', expected_state='ACTIVE')
        self._wait_for_migration_status(self.server, ['error'])
        server = self.api.get_server(self.server['id'])
        self.assertEqual('src', server['OS-EXT-SRV-ATTR:host'])
        details = '\n'.join(self.action_event_details(server))
        self.assertIn('No libvirt domain of instance %s on src' %
                      self.server['id'], details)
        self.assertIn('Nothing was changed', details)

    def rollback_on_dest(self, method):
        instance_dir = self.move_guest_behind_novas_back()
        self.use_host_paths('dest')
        context = nova_context.get_admin_context()
        instance = objects.Instance.get_by_uuid(context, self.server['id'])
        data = migrate_data_obj.LibvirtLiveMigrateData(
            is_shared_instance_path=False, is_shared_block_storage=False,
            instance_relative_path=self.server['id'])
        method(context, instance, [], None, destroy_disks=True,
               migrate_data=data)
        return instance_dir

    def test_rollback_keeps_a_guest_that_lives_on_the_destination(self):
        driver = self.dest.driver
        instance_dir = self.rollback_on_dest(
            driver.rollback_live_migration_at_destination)
        self.assertEqual(fakelibvirt.VIR_DOMAIN_RUNNING,
                         self.domain('dest', self.server['id']).info()[0])
        self.assertTrue(os.path.isdir(instance_dir))

    def test_control_stock_rollback_destroys_it(self):
        driver = self.dest.driver
        instance_dir = self.rollback_on_dest(
            lambda *a, **k: libvirt_driver.LibvirtDriver.
            rollback_live_migration_at_destination(driver, *a, **k))
        self.assertRaises(fakelibvirt.libvirtError, self.domain, 'dest',
                          self.server['id'])
        self.assertFalse(os.path.exists(instance_dir))
