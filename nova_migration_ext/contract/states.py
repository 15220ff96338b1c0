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
"""States of an evacuation and of its per-VM tasks, and their transitions.

Every change of state goes through :func:`check_transition`, so an
illegal move (say, resuming a completed evacuation) is refused with a
message instead of corrupting the record.
"""

PLANNED = 'planned'
RUNNING = 'running'
PAUSED = 'paused'
COMPLETED = 'completed'
CANCELLED = 'cancelled'
FAILED = 'failed'

EVACUATION_TRANSITIONS = {
    PLANNED: {RUNNING, CANCELLED},
    RUNNING: {PAUSED, COMPLETED, CANCELLED, FAILED},
    PAUSED: {RUNNING, CANCELLED},
    COMPLETED: {RUNNING},      # reopened to retry a VM left behind
    CANCELLED: set(),
    FAILED: {RUNNING},
}
EVACUATION_FINAL = frozenset([COMPLETED, CANCELLED])
# States a drain rests in until the operator acts (retry, resume).
DRAIN_RESTING = EVACUATION_FINAL | {FAILED}

# Task states. SUBMITTING is written *before* nova is asked to move the VM:
# a restarted engine finding it asks nova what happened instead of asking
# again, so no VM is migrated twice.
PENDING = 'pending'
SUBMITTING = 'submitting'
MIGRATING = 'migrating'
VERIFYING = 'verifying'       # cold migration done, waiting for confirm
DONE = 'done'
RETRY_WAIT = 'retry_wait'
NEEDS_OPERATOR = 'needs_operator'
SKIPPED = 'skipped'
TASK_CANCELLED = 'cancelled'
GONE = 'gone'                 # deleted in nova during the evacuation

TASK_TRANSITIONS = {
    PENDING: {SUBMITTING, SKIPPED, TASK_CANCELLED, NEEDS_OPERATOR, GONE},
    SUBMITTING: {MIGRATING, VERIFYING, DONE, RETRY_WAIT, NEEDS_OPERATOR,
                 PENDING, TASK_CANCELLED, GONE},
    MIGRATING: {VERIFYING, DONE, RETRY_WAIT, NEEDS_OPERATOR,
                TASK_CANCELLED, GONE},
    VERIFYING: {DONE, RETRY_WAIT, NEEDS_OPERATOR, GONE},
    RETRY_WAIT: {PENDING, SKIPPED, TASK_CANCELLED, NEEDS_OPERATOR, GONE},
    NEEDS_OPERATOR: {PENDING, SKIPPED, DONE},
    DONE: set(),
    SKIPPED: {PENDING},
    TASK_CANCELLED: {PENDING},
    GONE: set(),
}
TASK_ACTIVE = frozenset([SUBMITTING, MIGRATING, VERIFYING])
TASK_FINAL = frozenset([DONE, SKIPPED, TASK_CANCELLED, GONE])


class InvalidTransition(ValueError):
    """A state change that the state machine does not allow."""


def check_transition(kind, current, new):
    """Raise :class:`InvalidTransition` unless *current* → *new* is legal."""
    table = EVACUATION_TRANSITIONS if kind == 'evacuation' \
        else TASK_TRANSITIONS
    if new == current:
        return
    if new not in table.get(current, ()):
        allowed = ', '.join(sorted(table.get(current, ()))) or 'nothing'
        article = 'An' if kind[0] in 'aeiou' else 'A'
        raise InvalidTransition(
            '%s %s in state %s cannot become %s (allowed: %s).'
            % (article, kind, current, new, allowed))


def check_retry(state, server, evacuation_id):
    """Raise :class:`InvalidTransition` when a retry would be unsafe.

    A VM being submitted or moved must not be asked for again: nova could
    migrate it twice.
    """
    if state == SUBMITTING:
        raise InvalidTransition(
            'VM %s is being submitted to nova right now; a retry could '
            'migrate it twice. Wait until the evacuator sees what nova did '
            '("openstack drain server list %s"), then retry it if it is '
            'left for the operator.' % (server, evacuation_id))
    if state in TASK_ACTIVE:
        raise InvalidTransition(
            'VM %s is %s; let the evacuator finish, then retry it if it '
            'is left for the operator.' % (server, state))
    if state == GONE:
        raise InvalidTransition(
            'VM %s was deleted during the evacuation; there is nothing to '
            'retry.' % server)
