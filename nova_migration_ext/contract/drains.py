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
"""The API's resources: a drain, its plan, its tasks and its audit log.

Defined once, for the API (which writes them), the engine (which fills
them), the Python client (which reads them) and the CLI and Horizon
(which show them). Counts, bytes and seconds are numbers; times are
:class:`datetime.datetime` here and ISO 8601 on the wire.
"""

import dataclasses
import datetime

from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import resource
from nova_migration_ext.contract import states


@dataclasses.dataclass
class Limits(resource.Resource):
    """Migrations at once a drain runs with; ``total`` None: no cap.

    ``derived`` names the limits derived from the drain rather than set by
    its policy.
    """

    per_source: int
    per_target: int
    total: int | None = None
    derived: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Unplaceable(resource.Resource):
    """A VM the plan found no target for, and why."""

    server_id: str
    name: str
    source: str
    status: str
    reason: str


@dataclasses.dataclass
class Move(resource.Resource):
    """One VM's planned move, as a dry run shows it.

    ``verdicts`` holds the prechecks' answers for its source and target.
    """

    server_id: str
    name: str
    source: str
    target: str
    method: str
    status: str = ''
    project_id: str = ''
    bytes: int = 0
    expected_seconds: float = 0.0
    expected_downtime_seconds: float = 0.0
    verdicts: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Plan(resource.Resource):
    """What a drain was planned to do, and how long it should take.

    ``moves`` lists each VM's move in a dry run; a stored drain's moves
    are its tasks, so there it is None.
    """

    vms: int
    by_method: dict = dataclasses.field(default_factory=dict)
    bytes: int = 0
    estimated_seconds: int = 0
    limits: Limits | None = resource.nested(Limits, default=None)
    unplaceable: list = resource.many(Unplaceable, default_factory=list)
    moves: list | None = resource.many(Move, default=None)

    @property
    def move_count(self):
        return sum(self.by_method.values())


@dataclasses.dataclass
class Task(resource.Resource):
    """One VM of a drain: where it goes, how, and where it stands.

    ``progress`` is the percent of its bytes moved; ``last_error`` and
    ``remedy`` say what went wrong last and what to do about it.
    """

    server_id: str
    name: str
    source: str
    target: str | None
    method: str
    state: str
    phase: str = ''
    progress: float = 0.0
    attempts: int = 0
    last_error: str | None = None
    remedy: str | None = None


@dataclasses.dataclass
class AuditEntry(resource.Resource):
    """Who did what to a drain, and when."""

    at: datetime.datetime = resource.timestamp()
    actor: str = ''
    action: str = ''
    detail: str = ''


@dataclasses.dataclass
class Drain(resource.Resource):
    """A drain: the hosts it empties, its state and its progress.

    A list of drains fills the summary (no ``tasks``, ``audit``, ``plan``
    nor ``eta_seconds``: None); showing one fills everything. ``counts``
    is the number of its VMs per task state; ``progress`` the percent of
    its bytes moved; ``lease`` which evacuator drives it.
    """

    id: str
    state: str
    sources: list
    name: str = ''
    owner: str | None = None
    created_at: datetime.datetime | None = resource.timestamp(default=None)
    started_at: datetime.datetime | None = resource.timestamp(default=None)
    finished_at: datetime.datetime | None = resource.timestamp(default=None)
    counts: dict = dataclasses.field(default_factory=dict)
    vms: int = 0
    progress: float = 0.0
    eta_seconds: int | None = None
    window: str | None = None
    lease: str | None = None
    policy: drain_policy.Policy | None = resource.nested(
        drain_policy.Policy, default=None)
    plan: Plan | None = resource.nested(Plan, default=None)
    tasks: list | None = resource.many(Task, default=None)
    audit: list | None = resource.many(AuditEntry, default=None)

    @property
    def needs_operator(self):
        """How many of its VMs are left for the operator."""
        return self.counts.get(states.NEEDS_OPERATOR, 0)

    @property
    def running(self):
        return self.state in (states.RUNNING, states.PAUSED)

    @property
    def ended(self):
        """Whether nothing more happens to it until the operator acts.

        A resting state (completed, cancelled, failed) and no VM still
        moving: a migration under way when the drain was cancelled or
        failed goes on in nova, and the drain follows it.
        """
        return self.state in states.DRAIN_RESTING and not any(
            self.counts.get(state) for state in states.TASK_ACTIVE)
