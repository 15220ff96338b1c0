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
"""Plans stored by an earlier release read through the contract."""

from nova_migration_ext.engine import engine as engine_mod
from tests.unit import utils


class TestStoredPlans(utils.TestCase):
    """Plans stored by the previous release still show."""

    def test_a_plan_summary_of_the_previous_release(self):
        stored = {'vms': 3, 'moves': 2, 'unplaceable': [
            {'server_id': 'vm-c', 'name': 'c', 'source': 'old1',
             'status': 'ERROR', 'reason': 'in ERROR'}],
            'by_method': {'block': 2}, 'bytes': 10, 'estimated_seconds': 60,
            'limits': {'per_source': 2, 'per_target': 2, 'total': None,
                       'derived': []},
            'links': {'old1': 1e9}, 'disks': {}}
        plan = engine_mod.stored_plan(stored)
        self.assertEqual((3, 2, None, ['c']),
                         (plan.vms, plan.move_count, plan.moves,
                          [u.name for u in plan.unplaceable]))
        self.assertEqual(2, plan.limits.per_source)
        # A dry run's count of unplaceable VMs, stored by mistake: none
        # listed rather than an error.
        plan = engine_mod.stored_plan(dict(stored, unplaceable=1))
        self.assertEqual([], plan.unplaceable)
        self.assertIsNone(engine_mod.stored_plan(None))
