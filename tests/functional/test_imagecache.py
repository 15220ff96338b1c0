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
"""Which instances keep their base files in this host's image cache.

Against nova's own objects and database: the windows nova leaves open
are made of its records, so the test writes those records as nova does.
"""

from nova.compute import task_states
from nova import context as nova_context
from nova import objects
from nova import test
from oslo_utils import uuidutils

from nova_migration_ext.compute import imagecache


class InFlightInstancesTest(test.TestCase):

    def setUp(self):
        super().setUp()
        self.ctxt = nova_context.get_admin_context()

    def make_instance(self, host, task_state=None, vm_state='active'):
        instance = objects.Instance(
            context=self.ctxt, uuid=uuidutils.generate_uuid(), host=host,
            node=host, compute_id=1, task_state=task_state,
            vm_state=vm_state,
            project_id='p', user_id='u', image_ref=uuidutils.generate_uuid())
        instance.create()
        return instance

    def make_migration(self, instance, status):
        migration = objects.Migration(
            context=self.ctxt, uuid=uuidutils.generate_uuid(),
            instance_uuid=instance.uuid, migration_type='resize',
            source_compute='c1', source_node='c1', dest_compute='c2',
            dest_node='c2', dest_compute_id=2, status=status)
        migration.create()
        instance.migration_context = objects.MigrationContext(
            context=self.ctxt, instance_uuid=instance.uuid,
            migration_id=migration.id, new_numa_topology=None,
            old_numa_topology=None, new_pci_devices=None,
            old_pci_devices=None, new_pci_requests=None,
            old_pci_requests=None, new_resources=None, old_resources=None)
        instance.save()
        return migration

    def in_flight(self, host):
        return [i.uuid for i in imagecache.in_flight_instances(
            self.ctxt, host, host)]

    def test_revert_on_its_way_back_counts_on_the_source(self):
        # The destination has marked the migration reverted and handed
        # the revert to the source; nova still records the instance on
        # the destination. Stock nova's lists miss it on c1.
        instance = self.make_instance('c2', task_states.RESIZE_REVERTING)
        self.make_migration(instance, 'reverted')

        self.assertEqual([instance.uuid], self.in_flight('c1'))
        self.assertEqual([], list(
            objects.MigrationList.get_in_progress_by_host_and_node(
                self.ctxt, 'c1', 'c1')))

    def test_finished_revert_does_not_count(self):
        instance = self.make_instance('c1')
        self.make_migration(instance, 'reverted')

        self.assertEqual([], self.in_flight('c1'))

    def test_resize_waiting_for_confirmation_counts_on_both_hosts(self):
        instance = self.make_instance('c2', vm_state='resized')
        self.make_migration(instance, 'finished')

        self.assertEqual([instance.uuid], self.in_flight('c1'))
        self.assertEqual([instance.uuid], self.in_flight('c2'))

    def test_unconfirmable_resize_frees_the_base(self):
        # ERROR while in VERIFY_RESIZE, reset to ACTIVE: the migration
        # stays finished for ever, but nothing can revert to the source.
        instance = self.make_instance('c2', vm_state='active')
        self.make_migration(instance, 'finished')

        self.assertEqual([], self.in_flight('c1'))

    def test_revert_towards_another_host_does_not_count(self):
        instance = self.make_instance('c2', task_states.RESIZE_REVERTING)
        self.make_migration(instance, 'reverted')

        self.assertEqual([], self.in_flight('c3'))
