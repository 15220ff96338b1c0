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
"""The evacuation engine drains two real hosts (``tools/lab.sh demo``)."""

import os

import testtools.content

from tests.lab import base
from tests.lab import drain as lab_drain


class LabDrainTest(base.LabTestCase):

    def test_engine_empties_two_hosts_and_every_vm_keeps_its_data(self):
        lines = []
        drain = lab_drain.Drain(self.cloud.root, out=lines.append)
        self.addCleanup(drain.cleanup)
        self.addCleanup(lambda: self.addDetail(
            'report', testtools.content.text_content('\n'.join(lines))))
        status = drain.run()
        # Kept for the record (tools/run-tests.sh prints it).
        with open(os.path.join(self.cloud.root, 'drain-report.txt'),
                  'w') as f:
            f.write('\n'.join(lines) + '\n')
        self.assertEqual(0, status, '\n'.join(lines))
        self.assertEqual('lost VMs: 0, data verified: %d of %d' % (
            len(drain.servers), len(drain.servers)), lines[-1])
        self.assertEqual(5, len(drain.servers))
