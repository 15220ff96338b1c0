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
"""Tests of the orphaned_base_image precheck."""

import dataclasses

from nova_migration_ext.prechecks import base
from nova_migration_ext.prechecks import orphaned_base_image
from tests.unit import utils

GiB = utils.GiB
CACHE_NAME = '9f0d8e1ab7c4a2d3e5f60718293a4b5c6d7e8f90'
OTHER_NAME = 'ephemeral_20_40d1d2c'
IMAGE_ID = '5d3c8b1e-7a55-4f0e-8d8e-2b6f0c9a1d77'


class TestOrphanedBaseImage(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.check = orphaned_base_image.OrphanedBaseImage(self.conf)

    def request(self, src_bases=None, dest_bases=None, disks=None,
                **kwargs):
        kwargs.setdefault('base_image', base.BaseImage(
            IMAGE_ID, CACHE_NAME, size=3 * GiB, deleted_in_glance=True))
        if disks is None:
            disks = (base.Disk('vda', allocated_size=GiB,
                               backing_file=CACHE_NAME),)
        return utils.make_request(
            source=utils.host(utils.SOURCE, base_images=src_bases),
            destination=utils.host(utils.DESTINATION, base_images=dest_bases),
            disks=disks, **kwargs)

    def assertVerdict(self, status, reason, verdict):
        self.assertEqual((status, reason), (verdict.status, verdict.reason))

    def test_name_and_scope(self):
        self.assertEqual('orphaned_base_image', self.check.name)
        self.assertTrue(self.conf.migration_ext.seed_orphaned_base_images)
        for kind in (base.MigrationKind.BLOCK, base.MigrationKind.COLD,
                     base.MigrationKind.RESIZE):
            for phase in base.Phase:
                self.assertTrue(self.check.applies_to(
                    utils.make_request(kind=kind, phase=phase)))
        self.assertFalse(self.check.applies_to(
            utils.make_request(kind=base.MigrationKind.LIVE)))

    def test_skip_when_disks_unknown(self):
        verdict = self.check.check(utils.make_request())
        self.assertVerdict(
            base.Status.SKIP,
            'not applicable: the disks are not known in this phase', verdict)
        self.assertTrue(verdict.details['skipped'])

    def test_pass_without_backing_file(self):
        verdict = self.check.check(self.request(
            disks=(base.Disk('vda', allocated_size=GiB),)))
        self.assertVerdict(
            base.Status.PASS, 'no disk has a backing file.', verdict)

    def test_backing_file_of_volume_ignored(self):
        disks = (base.Disk('vda', is_volume=True, source_type='block',
                           backing_file=CACHE_NAME),)
        verdict = self.check.check(self.request(src_bases={}, dest_bases={},
                                                disks=disks))
        self.assertVerdict(
            base.Status.PASS, 'no disk has a backing file.', verdict)

    def test_image_still_in_glance(self):
        image = base.BaseImage(IMAGE_ID, CACHE_NAME, deleted_in_glance=False)
        verdict = self.check.check(self.request(src_bases={}, dest_bases={},
                                                base_image=image))
        self.assertVerdict(base.Status.PASS,
                           'image %s is still in Glance.' % IMAGE_ID, verdict)

    def test_present_on_destination(self):
        verdict = self.check.check(self.request(
            src_bases={}, dest_bases={CACHE_NAME: 3 * GiB}))
        self.assertVerdict(
            base.Status.PASS,
            'base file(s) %s present or copied before the move.'
            % CACHE_NAME, verdict)

    def test_glance_state_unknown_but_present(self):
        image = base.BaseImage(IMAGE_ID, CACHE_NAME, deleted_in_glance=None)
        verdict = self.check.check(self.request(
            dest_bases={CACHE_NAME: 1}, base_image=image))
        self.assertEqual(base.Status.PASS, verdict.status)

    def test_copy_planned(self):
        image = base.BaseImage(IMAGE_ID, CACHE_NAME, size=3 * GiB,
                               deleted_in_glance=True, copy_planned=True)
        self.flags(seed_orphaned_base_images=False)
        verdict = self.check.check(self.request(
            src_bases={CACHE_NAME: 3 * GiB}, dest_bases={}, base_image=image))
        self.assertEqual(base.Status.PASS, verdict.status)

    def test_on_source_and_seeding_on(self):
        verdict = self.check.check(self.request(
            src_bases={CACHE_NAME: 3 * GiB}, dest_bases={}))
        self.assertEqual(base.Status.PASS, verdict.status)

    def test_on_source_and_seeding_off(self):
        self.flags(seed_orphaned_base_images=False)
        verdict = self.check.check(self.request(
            src_bases={CACHE_NAME: 3 * GiB}, dest_bases={}))
        self.assertVerdict(
            base.Status.FAIL,
            'base file _base/%s of deleted image %s is on c7-01 but not on '
            'c7-03, and seeding is off.' % (CACHE_NAME, IMAGE_ID), verdict)
        self.assertEqual(
            'Copy it to c7-03:/var/lib/nova/instances/_base/ first, or set '
            '[migration_ext] seed_orphaned_base_images = true.',
            verdict.remedy)
        self.assertEqual({'backing_file': CACHE_NAME}, verdict.details)

    def test_seeding_off_without_destination_path(self):
        self.flags(seed_orphaned_base_images=False)
        request = self.request(src_bases={CACHE_NAME: 3 * GiB},
                               dest_bases={})
        request = dataclasses.replace(
            request, destination=base.HostFacts(
                utils.DESTINATION, base_images={}))
        verdict = self.check.check(request)
        self.assertEqual(
            'Copy it to c7-03:<instances_path>/_base/ first, or set '
            '[migration_ext] seed_orphaned_base_images = true.',
            verdict.remedy)

    def test_seeding_off_destination_cache_unknown(self):
        """Source phase of a block migration: the destination is unknown.

        The documented contract is to skip (or pass) on unknown facts, and
        the remedy, copying the file to the destination first, cannot work
        if the check always fails.
        """
        self.flags(seed_orphaned_base_images=False)
        verdict = self.check.check(self.request(
            src_bases={CACHE_NAME: 3 * GiB}, dest_bases=None))
        self.assertNotEqual(base.Status.FAIL, verdict.status)

    def test_missing_everywhere(self):
        verdict = self.check.check(self.request(src_bases={}, dest_bases={}))
        self.assertVerdict(
            base.Status.FAIL,
            'base file _base/%s of deleted Glance image %s is on neither '
            'c7-01 nor c7-03, and the disk of instance %s needs it.'
            % (CACHE_NAME, IMAGE_ID, utils.INSTANCE_UUID), verdict)
        self.assertEqual(
            'Copy it from any compute host that still has it into '
            '/var/lib/nova/instances/_base/ on c7-01 '
            '(nova-migration-ext-orphans lists the instances of deleted '
            'images), then retry.', verdict.remedy)
        self.assertEqual({'backing_files': [CACHE_NAME]}, verdict.details)

    def test_missing_everywhere_without_source_path(self):
        request = self.request(src_bases={}, dest_bases={})
        request = dataclasses.replace(
            request, source=base.HostFacts(utils.SOURCE, base_images={}))
        verdict = self.check.check(request)
        self.assertIn('into <instances_path>/_base/ on c7-01',
                      verdict.remedy)

    def test_missing_without_image(self):
        verdict = self.check.check(self.request(
            src_bases={}, dest_bases={}, base_image=None))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('of deleted Glance image unknown is on neither',
                      verdict.reason)

    def test_source_cache_unknown_gives_benefit_of_doubt(self):
        verdict = self.check.check(self.request(src_bases=None,
                                                dest_bases={}))
        self.assertEqual(base.Status.PASS, verdict.status)

    def test_several_backing_files(self):
        disks = (base.Disk('vda', allocated_size=GiB,
                           backing_file=CACHE_NAME),
                 base.Disk('vdb', allocated_size=GiB,
                           backing_file=OTHER_NAME),
                 base.Disk('vdc', allocated_size=GiB,
                           backing_file=CACHE_NAME))
        verdict = self.check.check(self.request(
            src_bases={}, dest_bases={OTHER_NAME: GiB}, disks=disks))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('base file _base/%s of deleted' % CACHE_NAME,
                      verdict.reason)
        self.assertEqual({'backing_files': [CACHE_NAME]}, verdict.details)

        verdict = self.check.check(self.request(
            src_bases={}, dest_bases={OTHER_NAME: GiB, CACHE_NAME: GiB},
            disks=disks))
        self.assertVerdict(
            base.Status.PASS,
            'base file(s) %s, %s present or copied before the move.'
            % (CACHE_NAME, OTHER_NAME), verdict)

    def test_two_missing_listed_together(self):
        disks = (base.Disk('vda', allocated_size=GiB,
                           backing_file=OTHER_NAME),
                 base.Disk('vdb', allocated_size=GiB,
                           backing_file=CACHE_NAME))
        verdict = self.check.check(self.request(
            src_bases={}, dest_bases={}, disks=disks))
        self.assertIn('base file _base/%s, %s of deleted Glance image'
                      % (CACHE_NAME, OTHER_NAME), verdict.reason)
        self.assertEqual({'backing_files': [CACHE_NAME, OTHER_NAME]},
                         verdict.details)
