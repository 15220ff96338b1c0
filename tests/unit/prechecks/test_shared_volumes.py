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
"""Tests of the shared_volumes precheck."""

from nova_migration_ext.prechecks import base
from nova_migration_ext.prechecks import shared_volumes
from tests.unit import utils

UUID = utils.INSTANCE_UUID
ROOT = base.Disk('vda', path='/var/lib/nova/instances/uuid/disk',
                 driver_format='qcow2')
VOLUME = base.Disk('vdb', path='/dev/sdc', source_type='block',
                   driver_format='raw', is_volume=True)
VOLUME_BDM = {'source_type': 'volume', 'destination_type': 'volume',
              'device_name': '/dev/vdb', 'volume_id': 'vol-1',
              'multiattach': False}


class TestSharedVolumes(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.check = shared_volumes.SharedVolumes(self.conf)

    def request(self, disks=(ROOT, VOLUME), **kwargs):
        return utils.make_request(disks=disks, **kwargs)

    def assertFails(self, reason, devices, verdict):
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertEqual(reason, verdict.reason)
        self.assertEqual(shared_volumes.REMEDY, verdict.remedy)
        self.assertEqual({'devices': devices}, verdict.details)

    def test_name_and_scope(self):
        self.assertEqual('shared_volumes', self.check.name)
        for kind in base.MigrationKind:
            for phase in base.Phase:
                self.assertEqual(
                    kind is base.MigrationKind.BLOCK and
                    phase is base.Phase.SOURCE,
                    self.check.applies_to(
                        utils.make_request(kind=kind, phase=phase)),
                    (kind, phase))

    def test_remedy(self):
        self.assertEqual(
            'Use cold migration ("openstack server migrate") for this '
            'instance, or keep its disks on shared storage and live-migrate '
            'without --block-migration.', shared_volumes.REMEDY)

    def test_no_volumes(self):
        verdict = self.check.check(self.request(
            disks=(ROOT, base.Disk('vdb', source_type='block')),
            migrate_disks=('vda', 'vdb'), copies_all_disks=True,
            tunnelled=True))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('no volume or shared disk.', verdict.reason)

    def test_no_disks_at_all(self):
        verdict = self.check.check(self.request(disks=(), migrate_disks=()))
        self.assertEqual(base.Status.PASS, verdict.status)

    def test_volume_in_migrate_disks(self):
        verdict = self.check.check(self.request(
            migrate_disks=('vda', 'vdb')))
        self.assertFails(
            'Block migration of instance %s would copy volume or shared '
            'disk(s) vdb (disks given to libvirt: vda, vdb).' % UUID,
            ['vdb'], verdict)
        self.assertTrue(verdict.message().startswith(
            'shared_volumes: Block migration of instance'))
        self.assertTrue(verdict.message().endswith(shared_volumes.REMEDY))

    def test_volume_not_in_migrate_disks(self):
        verdict = self.check.check(self.request(migrate_disks=('vda',)))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('volumes vdb are not in the copied disks vda.',
                         verdict.reason)

    def test_empty_migrate_disks_copies_all(self):
        verdict = self.check.check(self.request(
            disks=(VOLUME,), migrate_disks=(), copies_all_disks=True))
        self.assertFails(
            'Block migration of instance %s would copy volume or shared '
            'disk(s) vdb (disks given to libvirt: none, so libvirt copies '
            'all).' % UUID, ['vdb'], verdict)

    def test_empty_migrate_disks_without_non_shared_flags(self):
        verdict = self.check.check(self.request(migrate_disks=()))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('volumes vdb are not in the copied disks none.',
                         verdict.reason)

    def test_tunnelled_with_volume(self):
        verdict = self.check.check(self.request(
            migrate_disks=('vda',), tunnelled=True))
        self.assertFails(
            'Block migration of instance %s is tunnelled, which cannot '
            'exclude disks, and it has volume or shared disks (vdb).' % UUID,
            ['vdb'], verdict)

    def test_tunnelled_before_disk_list_known(self):
        verdict = self.check.check(self.request(tunnelled=True))
        self.assertEqual(base.Status.FAIL, verdict.status)

    def test_disk_list_not_known_yet(self):
        verdict = self.check.check(self.request())
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('volumes vdb will be excluded from the copy; the '
                         'disk list is verified before libvirt is called.',
                         verdict.reason)

    def test_shareable_disk(self):
        shared = base.Disk('vdc', source_type='block', shareable=True)
        verdict = self.check.check(self.request(
            disks=(ROOT, shared), migrate_disks=('vda', 'vdc')))
        self.assertFails(
            'Block migration of instance %s would copy volume or shared '
            'disk(s) vdc (disks given to libvirt: vda, vdc).' % UUID,
            ['vdc'], verdict)

    def test_readonly_disk(self):
        readonly = base.Disk('hdd', readonly=True)
        verdict = self.check.check(self.request(
            disks=(ROOT, readonly), migrate_disks=('hdd', 'vda')))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertEqual({'devices': ['hdd']}, verdict.details)

        verdict = self.check.check(self.request(
            disks=(ROOT, readonly), migrate_disks=('vda',)))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('volumes hdd are not in the copied disks vda.',
                         verdict.reason)

    def test_network_disk(self):
        rbd = base.Disk('vdb', path='volumes/volume-1',
                        source_type='network')
        verdict = self.check.check(self.request(
            disks=(ROOT, rbd), migrate_disks=('vda', 'vdb')))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertEqual({'devices': ['vdb']}, verdict.details)

    def test_volume_known_only_from_bdm(self):
        """The domain shows a plain block disk; the BDM says volume."""
        disks = (ROOT, base.Disk('vdb', path='/dev/sdc',
                                 source_type='block'))
        verdict = self.check.check(self.request(
            disks=disks, block_device_mappings=(VOLUME_BDM,),
            migrate_disks=('vda', 'vdb')))
        self.assertFails(
            'Block migration of instance %s would copy volume or shared '
            'disk(s) vdb (disks given to libvirt: vda, vdb).' % UUID,
            ['vdb'], verdict)

    def test_bdm_volume_not_in_domain_disks(self):
        verdict = self.check.check(self.request(
            disks=(ROOT,), block_device_mappings=(VOLUME_BDM,),
            migrate_disks=(), copies_all_disks=True))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertEqual({'devices': ['vdb']}, verdict.details)

    def test_bdm_device_name_without_dev_prefix(self):
        bdm = dict(VOLUME_BDM, device_name='vdb')
        verdict = self.check.check(self.request(
            disks=(ROOT,), block_device_mappings=(bdm,),
            migrate_disks=('vda', 'vdb')))
        self.assertEqual({'devices': ['vdb']}, verdict.details)

    def test_bdm_ignored_unless_volume_with_device(self):
        bdms = ({'source_type': 'image', 'destination_type': 'local',
                 'device_name': '/dev/vda'},
                {'source_type': 'blank', 'destination_type': 'local',
                 'device_name': '/dev/vdb'},
                dict(VOLUME_BDM, device_name=None),
                {'destination_type': 'volume'})
        verdict = self.check.check(self.request(
            disks=(ROOT, base.Disk('vdb')), block_device_mappings=bdms,
            migrate_disks=('vda', 'vdb')))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('no volume or shared disk.', verdict.reason)

    def test_several_volumes_sorted(self):
        disks = (ROOT, base.Disk('vdd', is_volume=True), VOLUME,
                 base.Disk('vdc', is_volume=True))
        verdict = self.check.check(self.request(
            disks=disks, migrate_disks=('vda', 'vdd', 'vdb')))
        self.assertFails(
            'Block migration of instance %s would copy volume or shared '
            'disk(s) vdb, vdd (disks given to libvirt: vda, vdd, vdb).'
            % UUID, ['vdb', 'vdd'], verdict)

        verdict = self.check.check(self.request(disks=disks, tunnelled=True))
        self.assertIn('shared disks (vdb, vdc, vdd).', verdict.reason)
        self.assertEqual({'devices': ['vdb', 'vdc', 'vdd']},
                         verdict.details)

    def test_disks_unknown_bdms_still_protect(self):
        """Unknown domain disks (None) do not crash; BDMs still count."""
        verdict = self.check.check(self.request(
            disks=None, block_device_mappings=(VOLUME_BDM,),
            migrate_disks=('vda', 'vdb')))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertEqual({'devices': ['vdb']}, verdict.details)

        verdict = self.check.check(self.request(disks=None))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('no volume or shared disk.', verdict.reason)
