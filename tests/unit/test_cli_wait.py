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
"""What ``--wait`` prints while it follows a drain.

It stops once ``Drain.ended`` (tests/unit/contract/test_drains.py).
"""

from nova_migration_ext.cli import commands
from nova_migration_ext.contract import drains
from nova_migration_ext.contract import states
from tests.unit import utils


def info(state, **counts):
    return drains.Drain(id='d-1', state=state, sources=['cmp-1'],
                        counts=counts, progress=50.0, eta_seconds=65)


class TestProgressLine(utils.TestCase):

    def test_running(self):
        self.assertEqual(
            '[   35 s] running   [###############...............]  50.0%'
            '  ETA 1m05s  done 1, migrating 2',
            commands.progress_line(info(states.RUNNING, done=1,
                                        migrating=2), 35.4))

    def test_ended_has_no_eta(self):
        line = commands.progress_line(info(states.COMPLETED, done=3), 90)
        self.assertNotIn('ETA', line)
        self.assertTrue(line.endswith('done 3'))
