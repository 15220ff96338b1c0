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
"""Tests of the evacuation and task state machines."""

from oslotest import base as oslotest_base

from nova_migration_ext.contract import states

EVACUATION_STATES = (states.PLANNED, states.RUNNING, states.PAUSED,
                     states.COMPLETED, states.CANCELLED, states.FAILED)
TASK_STATES = (states.PENDING, states.SUBMITTING, states.MIGRATING,
               states.VERIFYING, states.DONE, states.RETRY_WAIT,
               states.NEEDS_OPERATOR, states.SKIPPED, states.TASK_CANCELLED,
               states.GONE)


class TestCheckTransition(oslotest_base.BaseTestCase):

    def assertLegal(self, kind, current, new):
        self.assertIsNone(states.check_transition(kind, current, new))

    def assertIllegal(self, kind, current, new):
        self.assertRaises(states.InvalidTransition, states.check_transition,
                          kind, current, new)

    def test_evacuation_legal_moves(self):
        for current, new in [
                (states.PLANNED, states.RUNNING),
                (states.PLANNED, states.CANCELLED),
                (states.RUNNING, states.PAUSED),
                (states.RUNNING, states.COMPLETED),
                (states.RUNNING, states.CANCELLED),
                (states.RUNNING, states.FAILED),
                (states.PAUSED, states.RUNNING),
                (states.PAUSED, states.CANCELLED),
                (states.FAILED, states.RUNNING)]:
            self.assertLegal('evacuation', current, new)

    def test_evacuation_illegal_moves(self):
        for current, new in [
                (states.PLANNED, states.COMPLETED),
                (states.PLANNED, states.PAUSED),
                (states.PLANNED, states.FAILED),
                (states.PAUSED, states.COMPLETED),
                (states.CANCELLED, states.RUNNING),
                (states.COMPLETED, states.PLANNED),
                (states.CANCELLED, states.RUNNING),
                (states.FAILED, states.COMPLETED),
                (states.RUNNING, states.PLANNED)]:
            self.assertIllegal('evacuation', current, new)

    def test_task_legal_moves(self):
        for current, new in [
                (states.PENDING, states.SUBMITTING),
                (states.PENDING, states.SKIPPED),
                (states.SUBMITTING, states.MIGRATING),
                (states.SUBMITTING, states.PENDING),
                (states.MIGRATING, states.VERIFYING),
                (states.MIGRATING, states.DONE),
                (states.VERIFYING, states.DONE),
                (states.MIGRATING, states.RETRY_WAIT),
                (states.RETRY_WAIT, states.PENDING),
                (states.NEEDS_OPERATOR, states.DONE),
                (states.SKIPPED, states.PENDING),
                (states.TASK_CANCELLED, states.PENDING),
                (states.MIGRATING, states.GONE),
                (states.RETRY_WAIT, states.GONE)]:
            self.assertLegal('task', current, new)

    def test_task_illegal_moves(self):
        for current, new in [
                (states.PENDING, states.DONE),
                (states.PENDING, states.MIGRATING),
                (states.DONE, states.PENDING),
                (states.DONE, states.SUBMITTING),
                (states.VERIFYING, states.MIGRATING),
                (states.VERIFYING, states.TASK_CANCELLED),
                (states.SKIPPED, states.DONE),
                (states.RETRY_WAIT, states.MIGRATING),
                (states.GONE, states.PENDING),
                (states.DONE, states.GONE)]:
            self.assertIllegal('task', current, new)

    def test_same_state_is_always_allowed(self):
        for state in EVACUATION_STATES:
            self.assertLegal('evacuation', state, state)
        for state in TASK_STATES:
            self.assertLegal('task', state, state)

    def test_every_pair_follows_the_tables(self):
        for kind, table, all_states in [
                ('evacuation', states.EVACUATION_TRANSITIONS,
                 EVACUATION_STATES),
                ('task', states.TASK_TRANSITIONS, TASK_STATES)]:
            for current in all_states:
                for new in all_states:
                    if new == current or new in table[current]:
                        self.assertLegal(kind, current, new)
                    else:
                        self.assertIllegal(kind, current, new)

    def test_tables_are_closed(self):
        self.assertEqual(set(EVACUATION_STATES),
                         set(states.EVACUATION_TRANSITIONS))
        self.assertEqual(set(TASK_STATES), set(states.TASK_TRANSITIONS))
        for table in (states.EVACUATION_TRANSITIONS,
                      states.TASK_TRANSITIONS):
            for targets in table.values():
                self.assertTrue(targets.issubset(table), targets)

    def test_final_states(self):
        self.assertEqual(set(),
                         states.EVACUATION_TRANSITIONS[states.CANCELLED])
        # A completed evacuation is only reopened, to retry a VM.
        self.assertEqual({states.RUNNING},
                         states.EVACUATION_TRANSITIONS[states.COMPLETED])
        self.assertEqual(set(), states.TASK_TRANSITIONS[states.DONE])
        # A deleted VM cannot be retried.
        self.assertEqual(set(), states.TASK_TRANSITIONS[states.GONE])
        self.assertIn(states.GONE, states.TASK_FINAL)
        self.assertTrue(states.TASK_FINAL.isdisjoint(states.TASK_ACTIVE))

    def test_message_nothing_allowed(self):
        exc = self.assertRaises(states.InvalidTransition,
                                states.check_transition, 'evacuation',
                                states.CANCELLED, states.RUNNING)
        self.assertEqual('An evacuation in state cancelled cannot become '
                         'running (allowed: nothing).', str(exc))

    def test_message_lists_allowed_states_sorted(self):
        exc = self.assertRaises(states.InvalidTransition,
                                states.check_transition, 'evacuation',
                                states.PLANNED, states.COMPLETED)
        self.assertEqual('An evacuation in state planned cannot become '
                         'completed (allowed: cancelled, running).',
                         str(exc))

    def test_task_message(self):
        exc = self.assertRaises(states.InvalidTransition,
                                states.check_transition, 'task',
                                states.PENDING, states.DONE)
        self.assertEqual('A task in state pending cannot become done '
                         '(allowed: cancelled, gone, needs_operator, '
                         'skipped, submitting).', str(exc))

    def test_unknown_current_state(self):
        exc = self.assertRaises(states.InvalidTransition,
                                states.check_transition, 'task', 'bogus',
                                states.DONE)
        self.assertEqual('A task in state bogus cannot become done '
                         '(allowed: nothing).', str(exc))

    def test_is_a_value_error(self):
        self.assertTrue(issubclass(states.InvalidTransition, ValueError))


class TestCheckRetry(oslotest_base.BaseTestCase):

    def test_retryable(self):
        for state in (states.PENDING, states.RETRY_WAIT,
                      states.NEEDS_OPERATOR, states.SKIPPED,
                      states.TASK_CANCELLED):
            self.assertIsNone(states.check_retry(state, 'vm', 'ev'))

    def test_refused_while_nova_is_asked_or_moving(self):
        for state in states.TASK_ACTIVE:
            self.assertRaises(states.InvalidTransition, states.check_retry,
                              state, 'vm', 'ev')

    def test_refused_when_deleted(self):
        exc = self.assertRaises(states.InvalidTransition,
                                states.check_retry, states.GONE, 'vm', 'ev')
        self.assertEqual('VM vm was deleted during the evacuation; there is '
                         'nothing to retry.', str(exc))
