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
"""Tests of the hypervisor_version precheck."""

from nova_migration_ext.prechecks import base
from nova_migration_ext.prechecks import hypervisor_version
from tests.unit import utils

REMEDY = ('Choose a destination with the same or newer libvirt and QEMU, '
          'or upgrade c7-03 first.')


class TestVersionString(utils.TestCase):

    def test_format(self):
        self.assertEqual('8.0.0', hypervisor_version.version_string(8000000))
        self.assertEqual('7.10.0',
                         hypervisor_version.version_string(7010000))
        self.assertEqual('6.2.1', hypervisor_version.version_string(6002001))
        self.assertEqual('10.0.12',
                         hypervisor_version.version_string(10000012))


class TestHypervisorVersion(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.check = hypervisor_version.HypervisorVersion(self.conf)

    def request(self, src_libvirt=None, src_qemu=None, dest_libvirt=None,
                dest_qemu=None, **kwargs):
        return utils.make_request(
            source=utils.host(utils.SOURCE, libvirt_version=src_libvirt,
                              qemu_version=src_qemu),
            destination=utils.host(utils.DESTINATION,
                                   libvirt_version=dest_libvirt,
                                   qemu_version=dest_qemu),
            **kwargs)

    def test_name_and_scope(self):
        self.assertEqual('hypervisor_version', self.check.name)
        self.assertFalse(
            self.conf.migration_ext.hypervisor_version_allow_older)
        for kind in base.MigrationKind:
            for phase in base.Phase:
                self.assertTrue(self.check.applies_to(
                    utils.make_request(kind=kind, phase=phase)))

    def test_skip_when_unknown(self):
        verdict = self.check.check(self.request())
        self.assertEqual(base.Status.SKIP, verdict.status)
        self.assertEqual('not applicable: versions not known', verdict.reason)
        self.assertTrue(verdict.details['skipped'])

    def test_skip_when_one_side_unknown(self):
        verdict = self.check.check(self.request(src_libvirt=8000000,
                                                dest_qemu=6002000))
        self.assertEqual('not applicable: versions not known', verdict.reason)

    def test_same_versions(self):
        verdict = self.check.check(self.request(8000000, 6002000,
                                                8000000, 6002000))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('destination is not older.', verdict.reason)

    def test_newer_destination(self):
        verdict = self.check.check(self.request(7000000, 5002000,
                                                8000000, 6002000))
        self.assertEqual(base.Status.PASS, verdict.status)

    def test_older_libvirt(self):
        verdict = self.check.check(self.request(8000000, 6002000,
                                                7010000, 6002000))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertEqual(
            'Destination c7-03 runs an older hypervisor than source c7-01 '
            '(libvirt 7.10.0 < 8.0.0); the guest may not start there or '
            'migrate back.', verdict.reason)
        self.assertEqual(REMEDY, verdict.remedy)

    def test_older_libvirt_and_qemu(self):
        verdict = self.check.check(self.request(8000000, 6002000,
                                                7000000, 5002000))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('(libvirt 7.0.0 < 8.0.0, QEMU 5.2.0 < 6.2.0);',
                      verdict.reason)

    def test_older_qemu_newer_libvirt(self):
        verdict = self.check.check(self.request(8000000, 6002000,
                                                9000000, 6001000))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('(QEMU 6.1.0 < 6.2.0)', verdict.reason)

    def test_only_qemu_known(self):
        verdict = self.check.check(self.request(src_qemu=6002000,
                                                dest_qemu=6001000))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('(QEMU 6.1.0 < 6.2.0)', verdict.reason)

    def test_allow_older_warns(self):
        self.flags(hypervisor_version_allow_older=True)
        verdict = self.check.check(self.request(8000000, 6002000,
                                                7010000, 6002000))
        self.assertEqual(base.Status.WARN, verdict.status)
        self.assertIn('(libvirt 7.10.0 < 8.0.0)', verdict.reason)
        self.assertEqual(REMEDY, verdict.remedy)
