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
"""A compute measures what the drain scheduler needs, on real guests.

Two guests on c1: one idle, one rewriting 32 MiB of its disk over and
over through fresh buffers (``nmx_churn``: a few MB/s under TCG). At its
resource-tracker updates c1's driver has QEMU measure each guest's memory
dirty rate (libvirt's ``domdirtyrate-calc``, page sampling), sums the
allocated blocks of each instance's folder and reads the speed of the
NIC of its migration address (a veth: 10 Gbit/s). At start-up it
measured how fast its instances path reads and writes (a file of
``[migration_ext] disk_probe_mib`` past the page cache, then deleted).
nova itself publishes none of these: they are in c1's ComputeNode stats
only through our driver.
"""

import re
import time

import pymysql
import testtools.content

from nova_migration_ext.compute import host_stats
from tests.lab import base
from tests.lab import config

MiB = 1024 ** 2


class HostMeasurementsTest(base.LabTestCase):

    def published(self, host):
        connection = pymysql.connect(host=config.HOST, user='root',
                                     database=config.DB_PREFIX + 'nova_cell1')
        try:
            with connection.cursor() as cursor:
                cursor.execute('SELECT stats FROM compute_nodes WHERE host = '
                               '%s AND deleted = 0', (host,))
                (stats,), = cursor.fetchall()
        finally:
            connection.close()
        return host_stats.from_stats(host, stats)

    def test_dirty_rates_disk_bytes_and_link_speed_are_published(self):
        image = self.cloud.make_root_image(
            'churn-%s' % self.tag, fill_mb=64, guest_options='nmx_churn=32')
        self.addCleanup(self.glance.images.delete, image)
        busy = self.boot('c1', image=image)
        quiet = self.boot('c1')
        self.wait_console(busy, 'nmx-churned 2 ')
        # One update starts each guest's measure, a later one reads it;
        # QEMU reports whole MB/s, and a sample can miss the writer's
        # burst under TCG (CI saw 0 once): the next updates measure again.
        deadline = time.monotonic() + 180
        while True:
            facts = self.published('c1')
            rates = facts.dirty_rates or {}
            if quiet.id in rates and rates.get(busy.id, 0) >= MiB:
                break
            self.assertLess(time.monotonic(), deadline,
                            'c1 published no rate for the quiet guest, or '
                            'none of 1 MiB/s or more for the busy one: '
                            '%s' % facts)
            time.sleep(5)
        self.addDetail('measured', testtools.content.text_content(
            'dirty rates %s, disks %s, link %s' % (
                rates, facts.instance_disk_bytes, facts.link_bytes_per_s)))
        self.assertEqual(10e9 / 8, facts.link_bytes_per_s)
        # QEMU reports whole MB/s; under TCG the writer dirties a few.
        self.assertGreaterEqual(rates[busy.id], MiB)
        disks = facts.instance_disk_bytes
        # The busy guest's overlay holds its 32 MiB of churn.
        self.assertGreater(disks[busy.id], 32 * MiB)
        self.assertLess(disks[quiet.id], disks[busy.id])

    def test_disk_speeds_are_measured_at_start_up_and_published(self):
        # c2's last start (the lab's, or a test's restart) measured them.
        lines = re.findall(r'/var/lib/nova/instances reads (\d+) MB/s and '
                           r'writes (\d+) MB/s \((\d+) MiB',
                           self.compute_log_since('c2', 0))
        self.assertTrue(lines, 'c2 logged no disk speeds')
        read, write, size = (int(n) for n in lines[-1])
        self.assertEqual(256, size)        # the option's default
        deadline = time.monotonic() + 120
        while True:
            facts = self.published('c2')
            if facts.disk_write_bytes_per_s:
                break
            self.assertLess(time.monotonic(), deadline,
                            'c2 published no disk speeds: %s' % facts)
            time.sleep(5)
        self.addDetail('measured', testtools.content.text_content(
            'read %s B/s, write %s B/s'
            % (facts.disk_read_bytes_per_s, facts.disk_write_bytes_per_s)))
        # What the log said is what went to the evacuator.
        self.assertAlmostEqual(read, facts.disk_read_bytes_per_s / 1e6,
                               delta=1)
        self.assertAlmostEqual(write, facts.disk_write_bytes_per_s / 1e6,
                               delta=1)
        # A real disk (or its cache in the host's RAM at worst): more than
        # 10 MB/s, less than 100 GB/s.
        for rate in (facts.disk_read_bytes_per_s,
                     facts.disk_write_bytes_per_s):
            self.assertGreater(rate, 10e6)
            self.assertLess(rate, 100e9)
        leftovers = self.cloud.run_in('c2', [
            'ls', '-A', '/var/lib/nova/instances'])
        self.assertNotIn('.migration-ext-disk-probe', leftovers)
