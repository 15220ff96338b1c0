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
"""Tests of the precheck plugin API in prechecks/base.py."""

import dataclasses
import json

from oslo_config import cfg

from nova_migration_ext.prechecks import base
from tests.unit import utils

GiB = utils.GiB


class TestMigrationKind(utils.TestCase):

    def test_values(self):
        self.assertEqual(['live', 'block', 'cold', 'resize'],
                         [kind.value for kind in base.MigrationKind])
        self.assertEqual('block', base.MigrationKind.BLOCK)

    def test_copies_disks(self):
        self.assertFalse(base.MigrationKind.LIVE.copies_disks)
        for kind in (base.MigrationKind.BLOCK, base.MigrationKind.COLD,
                     base.MigrationKind.RESIZE):
            self.assertTrue(kind.copies_disks, kind)

    def test_phase_and_status_values(self):
        self.assertEqual(['source', 'destination'],
                         [phase.value for phase in base.Phase])
        self.assertEqual(['pass', 'warn', 'fail', 'skip'],
                         [status.value for status in base.Status])


class TestDisk(utils.TestCase):

    def test_defaults(self):
        disk = base.Disk('vda')
        self.assertEqual('file', disk.source_type)
        self.assertIsNone(disk.path)
        self.assertIsNone(disk.allocated_size)
        self.assertIsNone(disk.backing_file)
        self.assertFalse(disk.is_volume)
        self.assertFalse(disk.shareable)
        self.assertFalse(disk.readonly)
        self.assertTrue(disk.is_local)

    def test_is_local(self):
        self.assertTrue(base.Disk('vda', source_type='block').is_local)
        self.assertFalse(base.Disk('vdb', is_volume=True).is_local)
        self.assertFalse(base.Disk('vdc', shareable=True).is_local)
        self.assertFalse(base.Disk('vdd', source_type='network').is_local)
        # A read-only local file (a config drive) is still copied.
        self.assertTrue(base.Disk('hdd', readonly=True).is_local)

    def test_frozen(self):
        disk = base.Disk('vda')
        self.assertRaises(dataclasses.FrozenInstanceError,
                          setattr, disk, 'is_volume', True)


class TestHostFactsAndBaseImage(utils.TestCase):

    def test_host_facts_defaults(self):
        facts = base.HostFacts('c7-03')
        self.assertEqual('c7-03', facts.host)
        self.assertEqual(0, facts.reserved_bytes)
        for attr in ('instances_path', 'free_bytes', 'base_images',
                     'libvirt_version', 'qemu_version', 'hypervisor_type'):
            self.assertIsNone(getattr(facts, attr), attr)

    def test_base_image_defaults(self):
        image = base.BaseImage('img-1', 'abc123')
        self.assertIsNone(image.size)
        self.assertIsNone(image.deleted_in_glance)
        self.assertFalse(image.copy_planned)


class TestPrecheckInput(utils.TestCase):

    def test_defaults(self):
        request = utils.make_request()
        self.assertEqual('', request.instance_name)
        self.assertIsNone(request.disks)
        self.assertEqual((), request.block_device_mappings)
        self.assertIsNone(request.migrate_disks)
        self.assertFalse(request.copies_all_disks)
        self.assertFalse(request.tunnelled)
        self.assertFalse(request.service_token)
        self.assertIsNone(request.user_token_remaining)
        self.assertEqual(0, request.queued_migrations)

    def test_local_disks(self):
        vda = base.Disk('vda', allocated_size=GiB)
        vdb = base.Disk('vdb', is_volume=True, source_type='block')
        vdc = base.Disk('vdc', source_type='network')
        request = utils.make_request(disks=(vda, vdb, vdc))
        self.assertEqual((vda,), request.local_disks)

    def test_local_disks_unknown(self):
        self.assertEqual((), utils.make_request().local_disks)

    def test_bytes_to_copy_live(self):
        request = utils.make_request(
            kind=base.MigrationKind.LIVE,
            disks=(base.Disk('vda', allocated_size=None),))
        self.assertEqual(0, request.bytes_to_copy())

    def test_bytes_to_copy_sums_local_disks(self):
        request = utils.make_request(disks=(
            base.Disk('vda', allocated_size=20 * GiB),
            base.Disk('vdb', allocated_size=5 * GiB),
            base.Disk('vdc', is_volume=True, allocated_size=100 * GiB),
            base.Disk('vdd', is_volume=True)))
        self.assertEqual(25 * GiB, request.bytes_to_copy())

    def test_bytes_to_copy_unknown_size(self):
        request = utils.make_request(
            kind=base.MigrationKind.COLD,
            disks=(base.Disk('vda', allocated_size=20 * GiB),
                   base.Disk('vdb')))
        self.assertIsNone(request.bytes_to_copy())

    def test_bytes_to_copy_no_disks(self):
        self.assertEqual(0, utils.make_request().bytes_to_copy())

    def test_bytes_to_copy_planned_base_copy(self):
        disks = (base.Disk('vda', allocated_size=20 * GiB,
                           backing_file='abc123'),)
        planned = base.BaseImage('img-1', 'abc123', size=3 * GiB,
                                 copy_planned=True)
        request = utils.make_request(disks=disks, base_image=planned)
        self.assertEqual(23 * GiB, request.bytes_to_copy())

        not_planned = dataclasses.replace(planned, copy_planned=False)
        request = utils.make_request(disks=disks, base_image=not_planned)
        self.assertEqual(20 * GiB, request.bytes_to_copy())

        no_size = dataclasses.replace(planned, size=None)
        request = utils.make_request(disks=disks, base_image=no_size)
        self.assertEqual(20 * GiB, request.bytes_to_copy())


class TestVerdict(utils.TestCase):

    def test_ok(self):
        verdict = base.Verdict.ok('disk_fit', 'fits.', needed_bytes=1)
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('fits.', verdict.reason)
        self.assertEqual('', verdict.remedy)
        self.assertEqual({'needed_bytes': 1}, verdict.details)

    def test_skip(self):
        verdict = base.Verdict.skip('disk_fit', 'no disks')
        self.assertEqual(base.Status.SKIP, verdict.status)
        self.assertEqual('not applicable: no disks', verdict.reason)
        self.assertEqual({'skipped': True}, verdict.details)

    def test_warn(self):
        verdict = base.Verdict.warn('x', 'odd.', 'Look.', size=2)
        self.assertEqual(base.Status.WARN, verdict.status)
        self.assertEqual('Look.', verdict.remedy)
        self.assertEqual({'size': 2}, verdict.details)
        self.assertEqual('', base.Verdict.warn('x', 'odd.').remedy)

    def test_fail(self):
        verdict = base.Verdict.fail('x', 'bad.', 'Fix it.', size=2)
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertEqual('bad.', verdict.reason)
        self.assertEqual('Fix it.', verdict.remedy)
        self.assertEqual({'size': 2}, verdict.details)

    def test_message(self):
        self.assertEqual('x: bad. Fix it.',
                         base.Verdict.fail('x', 'bad.', 'Fix it.').message())
        self.assertEqual('x: fine.', base.Verdict.ok('x', 'fine.').message())

    def test_to_dict(self):
        verdict = base.Verdict.fail('x', 'bad.', 'Fix it.', size=2)
        data = verdict.to_dict()
        self.assertEqual({'check': 'x', 'status': 'fail', 'reason': 'bad.',
                          'remedy': 'Fix it.', 'details': {'size': 2}},
                         data)
        self.assertEqual(data, json.loads(json.dumps(data)))
        data['details']['size'] = 3
        self.assertEqual({'size': 2}, verdict.details)

    def test_details_not_shared(self):
        self.assertIsNot(base.Verdict('x', base.Status.PASS).details,
                         base.Verdict('y', base.Status.PASS).details)


class FakeCheck(base.Precheck):
    name = 'fake'
    phases = frozenset([base.Phase.DESTINATION])
    kinds = frozenset([base.MigrationKind.COLD])
    OPTS = [cfg.IntOpt('fake_limit', default=7)]

    def check(self, request):
        return base.Verdict.ok(self.name, str(self.options.fake_limit))


class PlainCheck(base.Precheck):
    name = 'plain'

    def check(self, request):
        return base.Verdict.ok(self.name)


class TestPrecheck(utils.TestCase):

    def test_abstract(self):
        self.assertRaises(TypeError, base.Precheck, self.conf)

    def test_registers_opts_in_group(self):
        check = FakeCheck(self.conf)
        self.assertIs(self.conf, check.conf)
        self.assertEqual(7, self.conf.migration_ext.fake_limit)
        self.flags(fake_limit=9)
        self.assertEqual('9', check.check(utils.make_request()).reason)

    def test_registers_opts_on_bare_conf(self):
        conf = cfg.ConfigOpts()
        FakeCheck(conf)
        FakeCheck(conf)
        self.assertEqual(7, conf.migration_ext.fake_limit)

    def test_applies_to(self):
        check = FakeCheck(self.conf)
        self.assertTrue(check.applies_to(utils.make_request(
            kind=base.MigrationKind.COLD, phase=base.Phase.DESTINATION)))
        self.assertFalse(check.applies_to(utils.make_request(
            kind=base.MigrationKind.COLD, phase=base.Phase.SOURCE)))
        self.assertFalse(check.applies_to(utils.make_request(
            kind=base.MigrationKind.BLOCK, phase=base.Phase.DESTINATION)))

    def test_applies_to_everything_by_default(self):
        check = PlainCheck(self.conf)
        for kind in base.MigrationKind:
            for phase in base.Phase:
                self.assertTrue(check.applies_to(
                    utils.make_request(kind=kind, phase=phase)))


class TestGib(utils.TestCase):

    def test_constants(self):
        self.assertEqual(1073741824, base.GiB)
        self.assertEqual(1048576, base.MiB)

    def test_format_gib(self):
        self.assertEqual('52.0 GiB', base.gib(55834574848))
        self.assertEqual('230.0 GiB', base.gib(246960619520))
        self.assertEqual('1.5 GiB', base.gib(1.5 * GiB))
        self.assertEqual('1.0 GiB', base.gib(GiB))

    def test_format_below_one_gib_in_mib(self):
        self.assertEqual('0.0 MiB', base.gib(0))
        self.assertEqual('512.0 MiB', base.gib(512 * base.MiB))
        self.assertEqual('0.5 MiB', base.gib(base.MiB // 2))

    def test_format_negative(self):
        self.assertEqual('-2.0 GiB', base.gib(-2 * GiB))
        self.assertEqual('-10.0 MiB', base.gib(-10 * base.MiB))
