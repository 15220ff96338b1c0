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
"""Tests of the disk probe, on this machine's real file systems."""

import os

import fixtures
import testtools

from nova_migration_ext.compute import disk_speed

MiB = 1024 ** 2


class MeasureTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.logger = self.useFixture(fixtures.FakeLogger())

    def check(self, folder):
        read, write = disk_speed.measure(folder, 8 * MiB)
        self.assertGreater(read, 1e6)
        self.assertGreater(write, 1e6)
        # Nothing left behind.
        self.assertEqual([], os.listdir(folder))
        return read, write

    def test_disk_folder(self):
        # /var/tmp is on a disk (O_DIRECT where the file system has it).
        self.check(self.useFixture(fixtures.TempDir('/var/tmp')).path)

    def test_tmpfs_refuses_o_direct_and_is_measured_anyway(self):
        # /dev/shm: a tmpfs on every Linux machine.
        self.check(self.useFixture(fixtures.TempDir('/dev/shm')).path)

    def test_probe_measures_once(self):
        folder = self.useFixture(fixtures.TempDir()).path
        probe = disk_speed.DiskSpeedProbe(folder, 4)
        rates = probe.measure()
        self.assertIs(rates, probe.measure())
        self.assertIn('reads', self.logger.output)

    def test_probe_off(self):
        folder = self.useFixture(fixtures.TempDir()).path
        self.assertIsNone(disk_speed.DiskSpeedProbe(folder, 0).measure())

    def test_unwritable_folder_is_said_once_and_not_retried(self):
        folder = os.path.join(self.useFixture(fixtures.TempDir()).path,
                              'missing')
        probe = disk_speed.DiskSpeedProbe(folder, 4)
        self.assertIsNone(probe.measure())
        self.assertIsNone(probe.measure())
        self.assertEqual(1, self.logger.output.count('Cannot measure'))
        self.assertIn('budget this host by its link alone',
                      self.logger.output)
