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
"""The contract: one serialisation both ways, drift refused by name."""

import datetime
import json

import jsonschema

from nova_migration_ext.api import schemas
from nova_migration_ext.contract import drains
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import resource
from nova_migration_ext.contract import states
from tests.unit import utils

AT = datetime.datetime(2026, 12, 6, 17, 5, 9, 250000)


def a_drain():
    return drains.Drain(
        id='d-1', state=states.RUNNING, sources=['old1'], name='rack 4',
        owner='ev-1', created_at=AT, started_at=AT,
        counts={states.DONE: 1, states.NEEDS_OPERATOR: 1}, vms=2,
        progress=50.0, eta_seconds=95, window='22:00-06:00 UTC',
        lease='ev-1, renewed (80 s left)',
        policy=drain_policy.Policy(window=('22:00', '06:00'),
                                   downtime_servers={'vm-b': True}),
        plan=drains.Plan(
            vms=3, by_method={'cold': 1, 'block': 1}, bytes=4 * 2 ** 30,
            estimated_seconds=190,
            limits=drains.Limits(per_source=2, per_target=2,
                                 derived=['per_source']),
            unplaceable=[drains.Unplaceable('vm-c', 'c', 'old1', 'ERROR',
                                            'in ERROR: repair it first')]),
        tasks=[drains.Task('vm-a', 'a', 'old1', 'new1', 'block',
                           states.DONE, progress=100.0, attempts=1),
               drains.Task('vm-b', 'b', 'old1', None, 'cold',
                           states.NEEDS_OPERATOR, attempts=3,
                           last_error='Disk of instance is too large',
                           remedy='retry with another target')],
        audit=[drains.AuditEntry(AT, 'admin (user u1, domain Default, '
                                     'project admin)', 'start', '')])


class TestRoundTrip(utils.TestCase):

    def test_drain_through_json_and_back(self):
        drain = a_drain()
        wire = json.loads(json.dumps(drain.to_dict()))
        self.assertEqual(drain, drains.Drain.from_dict(wire))
        # Raw values on the wire: numbers, lists, ISO timestamps.
        self.assertEqual('2026-12-06T17:05:09.250000', wire['created_at'])
        self.assertEqual(['22:00', '06:00'], wire['policy']['window'])
        self.assertEqual(95, wire['eta_seconds'])
        self.assertEqual('c', wire['plan']['unplaceable'][0]['name'])
        self.assertIsNone(wire['plan']['moves'])
        self.assertEqual(1, drain.needs_operator)

    def test_summary_and_dry_run(self):
        summary = drains.Drain(id='d-2', state=states.PLANNED,
                               sources=['old2'])
        self.assertEqual(summary,
                         drains.Drain.from_dict(summary.to_dict()))
        self.assertIsNone(summary.to_dict()['tasks'])
        plan = drains.Plan(vms=1, by_method={'block': 1}, moves=[
            drains.Move('vm-a', 'a', 'old1', 'new1', 'block',
                        expected_downtime_seconds=0.4,
                        verdicts=[['disk_fit', 'ok', '']])])
        self.assertEqual(plan, drains.Plan.from_dict(
            json.loads(json.dumps(plan.to_dict()))))
        self.assertEqual(1, plan.move_count)

    def test_policy_through_json_and_back(self):
        policy = drain_policy.Policy(method='cold', max_total=4,
                                     window=('01:00', '05:00'))
        self.assertEqual(policy, drain_policy.Policy.from_dict(
            json.loads(json.dumps(policy.to_dict()))))


class TestDrift(utils.TestCase):

    def test_unknown_keys_are_named(self):
        wire = a_drain().to_dict()
        wire['tasks'][0]['source_host'] = 'old1'
        error = self.assertRaises(resource.ContractError,
                                  drains.Drain.from_dict, wire)
        self.assertIn('Unknown keys in a Task: source_host', str(error))

    def test_missing_keys_are_named(self):
        error = self.assertRaises(resource.ContractError,
                                  drains.Drain.from_dict, {'id': 'd-1'})
        self.assertEqual('A Drain needs sources, state.', str(error))

    def test_unreadable_values_are_named(self):
        wire = a_drain().to_dict()
        wire['started_at'] = 'yesterday'
        error = self.assertRaises(resource.ContractError,
                                  drains.Drain.from_dict, wire)
        self.assertIn('Key started_at of a Drain', str(error))
        error = self.assertRaises(resource.ContractError,
                                  drains.Drain.from_dict, [])
        self.assertIn('A Drain is a JSON object', str(error))

    def test_records_of_an_older_release_read_leniently(self):
        stored = dict(drain_policy.Policy().to_dict(), retired_option=1)
        self.assertRaises(resource.ContractError,
                          drain_policy.Policy.from_dict, stored)
        self.assertEqual(drain_policy.Policy(), drain_policy.Policy.from_dict(
            stored, strict=False))

    def test_api_schema_takes_the_policy_keys(self):
        # The request schema and the contract's Policy name the same
        # keys, and the methods the policy accepts.
        self.assertEqual(
            set(drain_policy.Policy().to_dict()),
            set(schemas.POLICY['properties']))
        self.assertEqual(list(drain_policy.POLICY_METHODS),
                         schemas.POLICY['properties']['method']['enum'])
        # What the client sends for a default policy passes the schema.
        validator = jsonschema.validators.validator_for(schemas.POLICY)
        self.assertEqual([], list(validator(schemas.POLICY).iter_errors(
            drain_policy.Policy().to_dict())))


class TestEnded(utils.TestCase):
    """Drain.ended: the one "is it over?" of the CLI and the panel."""

    def test_a_resting_state_with_no_vm_moving(self):
        for state, counts, ended in (
                ('running', {'done': 3}, False),
                ('paused', {'pending': 3}, False),
                ('planned', {'pending': 3}, False),
                ('completed', {'done': 3}, True),
                ('completed', {'done': 2, 'needs_operator': 1}, True),
                ('failed', {'needs_operator': 3}, True),
                ('cancelled', {'cancelled': 3}, True),
                # nova still moves these: the drain is not over.
                ('cancelled', {'migrating': 1, 'cancelled': 2}, False),
                ('failed', {'submitting': 1}, False),
                ('failed', {'verifying': 1}, False)):
            drain = drains.Drain(id='d', state=state, sources=['old1'],
                                 counts=counts)
            self.assertIs(ended, drain.ended, (state, counts))
