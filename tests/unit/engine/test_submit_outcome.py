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
"""A submit whose outcome is unknown is reconciled, never sent again blind.

A time-out, a lost reply, a 5xx or a 409 may hide a migration nova did
start: the task stays ``submitting`` until nova's migrations and the
server say what happened.
"""

from keystoneauth1 import exceptions as ks_exc
from novaclient import exceptions as nova_exc
import testtools

from nova_migration_ext.contract import states
from nova_migration_ext.engine import nova_gateway
from tests.unit.engine import test_executor

SERVER = test_executor.SERVER


def lost_reply():
    return ks_exc.ConnectFailure('Connection aborted: RemoteDisconnected('
                                 '"Remote end closed connection without '
                                 'response")')


class TestClassification(testtools.TestCase):

    def test_unknown_outcomes(self):
        for error in (lost_reply(), ks_exc.ConnectTimeout('read timed out'),
                      TimeoutError('timed out'),
                      nova_exc.ClientException(500, 'Internal error'),
                      nova_exc.ClientException(503, 'Unavailable'),
                      nova_exc.ClientException(504, 'Gateway Time-out'),
                      nova_exc.Conflict(409, 'task_state migrating'),
                      nova_exc.ClientException(408, 'Request Timeout')):
            self.assertTrue(nova_gateway.is_unknown_outcome(error), error)

    def test_definite_refusals(self):
        for error in (nova_exc.BadRequest(400, 'No valid host was found'),
                      nova_exc.Forbidden(403, 'Policy does not allow'),
                      nova_exc.NotFound(404, 'Instance could not be found')):
            self.assertFalse(nova_gateway.is_unknown_outcome(error), error)


class LostReplyGateway(test_executor.FakeGateway):
    """nova takes the live migration, but its reply never arrives."""

    def __init__(self, error):
        super().__init__()
        self.error = error

    def live_migrate(self, server_id, host, *args, **kwargs):
        super().live_migrate(server_id, host, *args, **kwargs)
        if self.error is not None:
            raise self.error


class TestUnknownOutcome(test_executor.ExecutorTestBase):

    def setUp(self):
        super().setUp()
        self.gateway = LostReplyGateway(lost_reply())
        self.executor.gateway = self.gateway
        self.gateway.set_server('ACTIVE', 'src')

    def submits(self):
        return [a for a in self.gateway.actions if a[0] == 'live_migrate']

    def test_lost_reply_stays_submitting(self):
        self.executor.tick()

        task = self.task
        self.assertEqual(states.SUBMITTING, task.state)
        self.assertIn('outcome of the submit unknown', task.last_error)
        self.assertEqual(1, len(self.submits()))

    def test_lost_reply_of_a_move_that_worked_is_not_resubmitted(self):
        self.executor.tick()
        self.gateway.set_server('ACTIVE', 'dst')     # it moved meanwhile

        for _ in range(10):
            self.clock.advance(30)
            self.executor.tick()

        self.assertEqual(states.DONE, self.task.state)
        self.assertEqual(1, len(self.submits()))

    def test_lost_reply_of_a_move_under_way_is_watched(self):
        self.executor.tick()
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.record('running', seconds_after_submit=1)
        self.gateway.progress = ('7', 'running', 10, 100)

        self.tick_for(40, step=10)

        self.assertEqual(states.MIGRATING, self.task.state)
        self.assertEqual(1, len(self.submits()))

    def test_nothing_happened_is_pending_again(self):
        # A 502 from a proxy that never passed the request on.
        self.gateway.error = None
        self.gateway.fail['live_migrate'] = nova_exc.ClientException(
            502, 'Bad Gateway')

        self.executor.tick()
        self.assertEqual(states.SUBMITTING, self.task.state)
        del self.gateway.fail['live_migrate']
        self.clock.advance(30)
        self.executor.tick()

        task = self.task
        self.assertEqual(states.MIGRATING, task.state)
        self.assertEqual(2, task.attempts)
        self.assertEqual(1, len(self.submits()))
        self.assertTrue(any('nova never received it' in detail
                            for detail in self.audit_details()))

    def test_requests_nova_keeps_losing_end_with_the_operator(self):
        self.gateway.error = None
        self.gateway.fail['live_migrate'] = nova_exc.ClientException(
            502, 'Bad Gateway')

        self.tick_for(600)

        task = self.task
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertIn('nova did not act on', task.remedy)
        self.assertIn('Bad Gateway', task.remedy)

    def test_nova_not_answering_goes_to_the_operator(self):
        self.executor.tick()
        self.gateway.fail.update(get_server=test_executor.outage(),
                                 migrations=test_executor.outage())

        self.tick_for(self.executor.unanswered_timeout + 60)

        task = self.task
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertIn('cannot tell', task.remedy)
        self.assertEqual(1, len(self.submits()))

    def test_neither_moving_nor_resting_goes_to_the_operator(self):
        self.executor.tick()
        self.gateway.set_server('PAUSED', 'src')

        self.tick_for(self.executor.unanswered_timeout + 60)

        task = self.task
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertIn('PAUSED on src', task.last_error)
        self.assertEqual(1, len(self.submits()))

    def test_conflict_while_the_vm_moves_is_reconciled(self):
        # Another evacuator (or the operator) moves the VM already.
        self.gateway.set_server('MIGRATING', 'src', 'migrating')
        self.gateway.error = None
        self.gateway.fail['live_migrate'] = nova_exc.Conflict(
            409, "Cannot 'os-migrateLive' instance while it is in "
                 "task_state migrating")
        seen = set()
        for _ in range(4):
            self.executor.tick()
            seen.add(self.task.state)
            self.clock.advance(10)
        self.gateway.set_server('ACTIVE', 'dst')
        self.executor.tick()

        self.assertNotIn(states.RETRY_WAIT, seen)
        self.assertEqual(states.DONE, self.task.state)

    def test_definite_refusal_is_a_failed_attempt(self):
        self.gateway.error = None
        self.gateway.fail['live_migrate'] = nova_exc.BadRequest(
            400, 'No valid host was found.')

        self.executor.tick()

        task = self.task
        self.assertEqual(states.RETRY_WAIT, task.state)
        self.assertIn('No valid host', task.last_error)
        self.assertEqual([], self.submits())
