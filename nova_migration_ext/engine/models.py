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
"""Database models of the evacuation engine (SQLAlchemy 2.0).

The schema is created and upgraded by alembic (see ``migrations/``), never
by ``create_all``, so production databases follow the same path as tests.
"""

import datetime
import uuid

import sqlalchemy as sa
from sqlalchemy import orm


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Base(orm.DeclarativeBase):
    pass


class Evacuation(Base):
    """A drain of one or more source hosts.

    ``policy`` holds the method (``auto``, ``live``, ``cold``), whether
    downtime is allowed (with per-project and per-VM overrides), the
    concurrency limits (per source, per target, overall), an optional
    bandwidth cap and an optional time window.
    """

    __tablename__ = 'evacuations'

    id: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), default='')
    state: orm.Mapped[str] = orm.mapped_column(sa.String(32), index=True)
    source_hosts: orm.Mapped[list] = orm.mapped_column(sa.JSON)
    target_hosts: orm.Mapped[list | None] = orm.mapped_column(sa.JSON)
    target_aggregate: orm.Mapped[str | None] = orm.mapped_column(
        sa.String(255))
    policy: orm.Mapped[dict] = orm.mapped_column(sa.JSON)
    plan_summary: orm.Mapped[dict | None] = orm.mapped_column(sa.JSON)
    created_by: orm.Mapped[str] = orm.mapped_column(sa.String(255),
                                                    default='')
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(
        default=_now)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(
        default=_now, onupdate=_now)
    started_at: orm.Mapped[datetime.datetime | None]
    finished_at: orm.Mapped[datetime.datetime | None]
    # Which evacuator drives it, until when its lease holds (on the
    # database's clock), and its fencing token, bumped at every take-over.
    owner: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    lease_until: orm.Mapped[datetime.datetime | None]
    fence: orm.Mapped[int] = orm.mapped_column(default=0,
                                               server_default='0')

    tasks: orm.Mapped[list['Task']] = orm.relationship(
        back_populates='evacuation', order_by='Task.id',
        cascade='all, delete-orphan')


class Task(Base):
    """Moving one VM off its source host."""

    __tablename__ = 'tasks'
    __table_args__ = (
        sa.UniqueConstraint('evacuation_id', 'server_id',
                            name='uniq_tasks0evacuation_id0server_id'),
    )

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True,
                                            autoincrement=True)
    evacuation_id: orm.Mapped[str] = orm.mapped_column(
        sa.ForeignKey('evacuations.id', ondelete='CASCADE'), index=True)
    server_id: orm.Mapped[str] = orm.mapped_column(sa.String(36),
                                                   index=True)
    server_name: orm.Mapped[str] = orm.mapped_column(sa.String(255),
                                                     default='')
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255),
                                                    default='')
    source_host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    original_status: orm.Mapped[str] = orm.mapped_column(sa.String(32),
                                                         default='')
    method: orm.Mapped[str | None] = orm.mapped_column(sa.String(16))
    target_host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    state: orm.Mapped[str] = orm.mapped_column(sa.String(32), index=True)
    attempts: orm.Mapped[int] = orm.mapped_column(default=0)
    live_failures: orm.Mapped[int] = orm.mapped_column(default=0)
    bytes_total: orm.Mapped[int] = orm.mapped_column(sa.BigInteger,
                                                     default=0)
    bytes_done: orm.Mapped[int] = orm.mapped_column(sa.BigInteger,
                                                    default=0)
    expected_seconds: orm.Mapped[float] = orm.mapped_column(default=0.0)
    # Bytes per second its guest dirties, as the plan assumed: the
    # scheduler starts a live migration only where it can converge.
    dirty_bytes_per_s: orm.Mapped[float | None]
    # Of bytes_total, the memory: re-sent as the guest dirties it.
    memory_bytes: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    verdicts: orm.Mapped[list | None] = orm.mapped_column(sa.JSON)
    migration_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    # Where nova is in the move, from its versioned notifications.
    phase: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    last_error: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    remedy: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    not_before: orm.Mapped[datetime.datetime | None]
    submitted_at: orm.Mapped[datetime.datetime | None]
    finished_at: orm.Mapped[datetime.datetime | None]
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(
        default=_now, onupdate=_now)

    evacuation: orm.Mapped[Evacuation] = orm.relationship(
        back_populates='tasks')


class AuditEntry(Base):
    """Append-only log: who did what, when and why."""

    __tablename__ = 'audit_log'

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True,
                                            autoincrement=True)
    evacuation_id: orm.Mapped[str] = orm.mapped_column(
        sa.ForeignKey('evacuations.id', ondelete='CASCADE'), index=True)
    task_id: orm.Mapped[int | None]
    at: orm.Mapped[datetime.datetime] = orm.mapped_column(default=_now)
    actor: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    action: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    detail: orm.Mapped[str] = orm.mapped_column(sa.Text, default='')


class HostFacts(Base):
    """What a compute last published of itself (free disk, image cache).

    Filled from the driver's ``migration_ext.host.facts`` notifications;
    nova's API does not show them.
    """

    __tablename__ = 'host_facts'

    host: orm.Mapped[str] = orm.mapped_column(sa.String(255),
                                              primary_key=True)
    stats: orm.Mapped[dict] = orm.mapped_column(sa.JSON)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(
        default=_now, onupdate=_now)
