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
"""Tests of the disk_fit precheck."""

import dataclasses

from nova_migration_ext.prechecks import base
from nova_migration_ext.prechecks import disk_fit
from tests.unit import utils

GiB = utils.GiB
MiB = utils.MiB
CACHE_NAME = '9f0d8e1ab7c4a2d3e5f60718293a4b5c6d7e8f90'


def root_disk(allocated=200 * GiB, backing_file=CACHE_NAME, **kwargs):
    return base.Disk('vda', path=utils.INSTANCES_PATH + '/uuid/disk',
                     driver_format='qcow2', virtual_size=allocated,
                     allocated_size=allocated, backing_file=backing_file,
                     **kwargs)


def image(size=30 * GiB, **kwargs):
    return base.BaseImage('5d3c8b1e-image', CACHE_NAME, size=size,
                          deleted_in_glance=False, **kwargs)


class TestDiskFit(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.check = disk_fit.DiskFit(self.conf)

    def request(self, free=52 * GiB, disks=None, base_images=None,
                dest_kwargs=None, **kwargs):
        dest = utils.host(utils.DESTINATION, free_bytes=free,
                          base_images={} if base_images is None
                          else base_images, **(dest_kwargs or {}))
        kwargs.setdefault('base_image', image())
        return utils.make_request(
            destination=dest,
            disks=(root_disk(),) if disks is None else disks,
            **kwargs)

    def test_name_and_scope(self):
        self.assertEqual('disk_fit', self.check.name)
        self.assertEqual(1024, self.conf.migration_ext.disk_fit_margin_mb)
        for kind in (base.MigrationKind.BLOCK, base.MigrationKind.COLD,
                     base.MigrationKind.RESIZE):
            for phase in base.Phase:
                self.assertTrue(self.check.applies_to(
                    utils.make_request(kind=kind, phase=phase)))
        self.assertFalse(self.check.applies_to(
            utils.make_request(kind=base.MigrationKind.LIVE)))

    def test_operator_case_fails(self):
        """Nova said: available on destination host:55834574848 < need:...

        ...246960619520. The check must say the same, readably.
        """
        verdict = self.check.check(self.request())
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertEqual(
            'Destination c7-03 has 52.0 GiB free on /var/lib/nova/instances,'
            ' of which 1.0 GiB margin must stay free; instance %s needs '
            '230.0 GiB (200.0 GiB disk + 30.0 GiB base image missing '
            'there).' % utils.INSTANCE_UUID, verdict.reason)
        self.assertIn('Destination c7-03 has 52.0 GiB free', verdict.reason)
        self.assertIn('needs 230.0 GiB (200.0 GiB disk + 30.0 GiB base '
                      'image missing there)', verdict.reason)
        self.assertEqual('Choose another destination.', verdict.remedy)
        self.assertTrue(verdict.message().startswith(
            'disk_fit: Destination c7-03 has 52.0 GiB free'))
        self.assertTrue(verdict.message().endswith(
            ' Choose another destination.'))
        self.assertEqual({'needed_bytes': 246960619520,
                          'free_bytes': 55834574848,
                          'reserved_bytes': 0,
                          'margin_bytes': 1024 * MiB}, verdict.details)

    def test_operator_case_fits_on_larger_destination(self):
        verdict = self.check.check(self.request(free=300 * GiB))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('230.0 GiB needed, 299.0 GiB usable on c7-03.',
                         verdict.reason)
        self.assertEqual(230 * GiB, verdict.details['needed_bytes'])

    def test_base_image_already_on_destination(self):
        verdict = self.check.check(self.request(
            free=210 * GiB, base_images={CACHE_NAME: 30 * GiB}))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('200.0 GiB needed, 209.0 GiB usable on c7-03.',
                         verdict.reason)

    def test_base_image_perhaps_missing(self):
        request = self.request()
        request = dataclasses.replace(
            request, destination=dataclasses.replace(
                request.destination, base_images=None))
        verdict = self.check.check(request)
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('needs 230.0 GiB (200.0 GiB disk + 30.0 GiB base '
                      'image perhaps missing there).', verdict.reason)

    def test_base_image_not_counted_without_backing_file(self):
        verdict = self.check.check(self.request(
            free=210 * GiB, disks=(root_disk(backing_file=None),)))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual(200 * GiB, verdict.details['needed_bytes'])

    def test_base_image_of_unknown_size_not_counted(self):
        verdict = self.check.check(self.request(base_image=image(size=None)))
        self.assertEqual(200 * GiB, verdict.details['needed_bytes'])
        self.assertIn('needs 200.0 GiB (200.0 GiB disk).', verdict.reason)

    def test_boot_from_volume_without_base_image(self):
        verdict = self.check.check(self.request(
            free=10 * GiB, base_image=None,
            disks=(base.Disk('vda', source_type='block', is_volume=True,
                             allocated_size=500 * GiB),)))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual(0, verdict.details['needed_bytes'])
        self.assertEqual('0.0 MiB needed, 9.0 GiB usable on c7-03.',
                         verdict.reason)

    def test_volumes_and_shared_disks_not_counted(self):
        disks = (root_disk(),
                 base.Disk('vdb', source_type='block', is_volume=True,
                           allocated_size=1000 * GiB),
                 base.Disk('vdc', shareable=True, allocated_size=None),
                 base.Disk('vdd', source_type='network', allocated_size=None))
        verdict = self.check.check(self.request(free=300 * GiB, disks=disks))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual(230 * GiB, verdict.details['needed_bytes'])

    def test_several_disks_ephemeral_and_swap(self):
        disks = (root_disk(allocated=20 * GiB),
                 base.Disk('vdb', allocated_size=4 * GiB))
        verdict = self.check.check(self.request(
            free=40 * GiB, disks=disks, ephemeral_bytes=10 * GiB,
            swap_bytes=2 * GiB))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('needs 66.0 GiB (24.0 GiB disk + 30.0 GiB base image '
                      'missing there + 10.0 GiB ephemeral + 2.0 GiB swap).',
                      verdict.reason)
        self.assertEqual(66 * GiB, verdict.details['needed_bytes'])

    def test_reserved_and_margin_in_message(self):
        self.flags(disk_fit_margin_mb=2048)
        verdict = self.check.check(self.request(
            free=231 * GiB, dest_kwargs={'reserved_bytes': 4 * GiB}))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('Destination c7-03 has 231.0 GiB free on '
                      '/var/lib/nova/instances, of which 4.0 GiB reserved '
                      'and 2.0 GiB margin must stay free; instance',
                      verdict.reason)
        self.assertEqual(4 * GiB, verdict.details['reserved_bytes'])
        self.assertEqual(2 * GiB, verdict.details['margin_bytes'])

    def test_reserved_only_in_message(self):
        self.flags(disk_fit_margin_mb=0)
        verdict = self.check.check(self.request(
            free=52 * GiB, dest_kwargs={'reserved_bytes': 1536 * MiB}))
        self.assertIn('has 52.0 GiB free on /var/lib/nova/instances, of '
                      'which 1.5 GiB reserved must stay free; instance',
                      verdict.reason)

    def test_no_margin_nor_reserved_nor_path(self):
        self.flags(disk_fit_margin_mb=0)
        verdict = self.check.check(self.request(
            dest_kwargs={'instances_path': None}))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertEqual(
            'Destination c7-03 has 52.0 GiB free on its instances path; '
            'instance %s needs 230.0 GiB (200.0 GiB disk + 30.0 GiB base '
            'image missing there).' % utils.INSTANCE_UUID, verdict.reason)

    def test_margin_below_one_gib_shown_in_mib(self):
        self.flags(disk_fit_margin_mb=512)
        verdict = self.check.check(self.request())
        self.assertIn('of which 512.0 MiB margin must stay free',
                      verdict.reason)

    def test_exact_fit_passes(self):
        self.flags(disk_fit_margin_mb=0)
        verdict = self.check.check(self.request(free=230 * GiB))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('230.0 GiB needed, 230.0 GiB usable on c7-03.',
                         verdict.reason)

    def test_one_byte_short_fails(self):
        self.flags(disk_fit_margin_mb=0)
        verdict = self.check.check(self.request(free=230 * GiB - 1))
        self.assertEqual(base.Status.FAIL, verdict.status)

    def test_margin_decides(self):
        verdict = self.check.check(self.request(free=231 * GiB))
        self.assertEqual(base.Status.PASS, verdict.status)
        verdict = self.check.check(self.request(free=231 * GiB - 1))
        self.assertEqual(base.Status.FAIL, verdict.status)

    def test_nothing_to_copy_on_full_destination(self):
        verdict = self.check.check(self.request(
            free=100 * MiB, disks=(), base_image=None))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('needs 0.0 MiB (nothing).', verdict.reason)

    def test_skip_when_free_space_unknown(self):
        verdict = self.check.check(self.request(free=None))
        self.assertEqual(base.Status.SKIP, verdict.status)
        self.assertEqual('not applicable: free space on c7-03 is not known '
                         'in this phase', verdict.reason)
        self.assertEqual({'skipped': True}, verdict.details)

    def test_skip_when_disks_unknown(self):
        request = dataclasses.replace(self.request(), disks=None)
        verdict = self.check.check(request)
        self.assertEqual(base.Status.SKIP, verdict.status)
        self.assertEqual('not applicable: the disks are not known in this '
                         'phase', verdict.reason)
        self.assertTrue(verdict.details['skipped'])

    def test_warn_when_allocated_size_unknown(self):
        disks = (root_disk(), base.Disk('vdb', allocated_size=None))
        verdict = self.check.check(self.request(disks=disks))
        self.assertEqual(base.Status.WARN, verdict.status)
        self.assertEqual(
            'the allocated size of some disk of instance %s could not be '
            'read, so the fit on c7-03 was not verified.'
            % utils.INSTANCE_UUID, verdict.reason)
        self.assertEqual('Check that every disk file of the instance exists '
                         'on c7-01.', verdict.remedy)

    def test_margin_option_min(self):
        self.assertRaises(ValueError, self.flags, disk_fit_margin_mb=-1)
