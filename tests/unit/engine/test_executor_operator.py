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
"""The executor sends the planned method and the operator's signed cap.

The cap lives in server metadata, which the VM's owner can write: the
evacuator signs it for the driver, and removes it when the VM's task
ends, whatever method moved the VM.
"""

import fixtures
from oslotest import base as oslotest_base

from nova_migration_ext.compute import throttle
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import engine as engine_mod
from nova_migration_ext.engine import executor as executor_mod
from nova_migration_ext.engine import planner
from tests.unit.engine import test_executor
from tests.unit.engine import test_store

SERVER = test_executor.SERVER
SECRET = 'operator-secret'
CAP = 50


class MetadataGateway(test_executor.FakeGateway):
    """Keeps the server's metadata and the block_migration asked for."""

    def __init__(self):
        super().__init__()
        self.metadata = {}
        self.block_migration = []

    def live_migrate(self, server_id, host, block_migration='auto'):
        self.block_migration.append(block_migration)
        super().live_migrate(server_id, host)

    def set_metadata(self, server_id, metadata):
        self.metadata.update(metadata)

    def delete_metadata(self, server_id, keys):
        for key in keys:
            self.metadata.pop(key, None)


class OperatorTestBase(test_executor.ExecutorTestBase):

    METHOD = 'block'
    SECRET = SECRET

    def setUp(self):
        oslotest_base.BaseTestCase.setUp(self)
        self.log = self.useFixture(fixtures.FakeLogger(
            name='nova_migration_ext.engine.executor'))
        self.store = test_executor.fakes.sqlite_store(self)
        self.clock = test_executor.Clock()
        self.gateway = MetadataGateway()
        self.evacuation_id = self.store.create_evacuation(
            source_hosts=['src'], actor='alice',
            policy=dict(test_store.POLICY, allow_downtime=True,
                        max_bandwidth_mib_per_s=CAP,
                        live_failures_before_cold=1),
            tasks=[test_store.task(SERVER, source_host='src',
                                   target_host='dst', method=self.METHOD)])
        self.store.set_state(self.evacuation_id, states.RUNNING, 'alice')
        self.executor = executor_mod.Executor(
            self.store, self.gateway, self.evacuation_id, owner='ev',
            retry_base=5.0, settle_seconds=0.0, clock=self.clock,
            bandwidth_cap_secret=self.SECRET)
        self.gateway.set_server('ACTIVE', 'src')

    def cap(self):
        return throttle.verified_cap(self.gateway.metadata, SECRET, SERVER)


class TestPlannedMethod(OperatorTestBase):

    def test_block_is_sent_as_block(self):
        self.executor.tick()
        self.assertEqual([True], self.gateway.block_migration)


class TestPlannedLiveMethod(OperatorTestBase):

    METHOD = 'live'

    def test_live_is_sent_as_shared_storage(self):
        self.executor.tick()
        self.assertEqual([False], self.gateway.block_migration)


class TestBandwidthCap(OperatorTestBase):

    def test_cap_is_signed_for_the_server(self):
        self.executor.tick()
        self.assertEqual(states.MIGRATING, self.task.state)
        self.assertEqual(CAP, self.cap())
        self.assertNotEqual(str(CAP),
                            self.gateway.metadata[throttle.BANDWIDTH_KEY])

    def test_cap_removed_when_the_task_ends(self):
        self.executor.tick()
        self.store.set_state(self.evacuation_id, states.PAUSED, 'alice')
        self.gateway.set_server('ACTIVE', 'dst')

        self.executor.tick()

        self.assertEqual(states.DONE, self.task.state)
        self.assertEqual(states.PAUSED, self._evacuation_state())
        self.assertNotIn(throttle.BANDWIDTH_KEY, self.gateway.metadata)

    def test_cap_removed_after_cold_fallback(self):
        self.executor.tick()
        self.assertIn(throttle.BANDWIDTH_KEY, self.gateway.metadata)
        # The live migration did not happen: the VM rests on its source.
        self.executor.tick()
        self.assertEqual(states.RETRY_WAIT, self.task.state)
        self.assertEqual('cold', self.task.method)
        self.clock.advance(60)
        self.executor.tick()
        self.assertIn(('cold_migrate', SERVER, 'dst'), self.gateway.actions)
        self.assertNotIn(throttle.BANDWIDTH_KEY, self.gateway.metadata)
        self.gateway.set_server('ACTIVE', 'dst')
        self.executor.tick()

        self.assertEqual(states.DONE, self.task.state)
        self.assertEqual(states.COMPLETED, self._evacuation_state())
        self.assertNotIn(throttle.BANDWIDTH_KEY, self.gateway.metadata)

    def _evacuation_state(self):
        with self.store.session() as session:
            return self.store.get(session, self.evacuation_id).state


class TestNoSecret(OperatorTestBase):

    SECRET = None

    def test_no_cap_without_secret(self):
        self.executor.tick()
        self.assertEqual(states.MIGRATING, self.task.state)
        self.assertNotIn(throttle.BANDWIDTH_KEY, self.gateway.metadata)
        self.assertIn('bandwidth_cap_secret', self.log.output)


class TestPlanNeedsTheSecret(oslotest_base.BaseTestCase):

    def test_cap_without_secret_is_refused(self):
        engine = engine_mod.Engine(test_executor.fakes.sqlite_store(self),
                                   gateway=None)
        error = self.assertRaises(
            planner.PlanError, engine.dry_run, ['src'],
            policy=drain_policy.Policy(max_bandwidth_mib_per_s=CAP))
        self.assertIn('bandwidth_cap_secret', str(error))
