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
"""Persistence of evacuations: schema upgrades, sessions, audit log.

The default database is an embedded SQLite file; production points
``[database] connection`` at MariaDB/MySQL (``mysql+pymysql://…``). The
engine is oslo.db's, built with the ``[database]`` options; each public
method commits before it returns, so what it wrote survives the process,
and those safe to run again are retried on a deadlock or a lost
connection (:func:`_retried`).
"""

import collections
import contextlib
import datetime
import functools
import os
import sys
import time
import urllib.parse

from alembic import command as alembic_command
from alembic import config as alembic_config
from alembic import migration as alembic_migration
from alembic import script as alembic_script
from oslo_db import api as db_api
from oslo_db import exception as db_exc
from oslo_db import options as db_options
from oslo_db.sqlalchemy import engines as db_engines
import sqlalchemy as sa
from sqlalchemy import orm

from nova_migration_ext.contract import states
from nova_migration_ext.engine import models

MIGRATIONS = os.path.join(os.path.dirname(__file__), 'migrations')
# Seconds one statement may wait for the database (connecting, reading,
# writing): a database gone silent fails the pass, which the service logs
# and retries, instead of hanging it past its lease.
DEFAULT_TIMEOUT = 20
UPGRADE_LOCK = 'nova_migration_ext_upgrade'
UPGRADE_LOCK_WAIT = 300

# The [database] options (oslo.db's) the store takes: those of oslo.db's
# create_engine(), including max_retries and retry_interval of the first
# connection...
ENGINE_OPTIONS = ('connection_debug', 'connection_parameters',
                  'connection_recycle_time', 'connection_trace',
                  'max_overflow', 'max_pool_size', 'max_retries',
                  'mysql_sql_mode', 'mysql_wsrep_sync_wait', 'pool_timeout',
                  'retry_interval', 'sqlite_synchronous')
# ... and those of wrap_db_retry(), by its names, for the operations safe
# to run again.
RETRY_OPTIONS = {'db_inc_retry_interval': 'inc_retry_interval',
                 'db_max_retries': 'max_retries',
                 'db_max_retry_interval': 'max_retry_interval',
                 'db_retry_interval': 'retry_interval'}
# oslo.db's defaults, for a store built without a configuration (tests,
# tools): it behaves as the services do.
DATABASE_DEFAULTS = {
    opt.dest: opt.default
    for _group, opts in db_options.list_opts() for opt in opts
    if opt.dest in ENGINE_OPTIONS or opt.dest in RETRY_OPTIONS}


class SchemaOutOfDate(Exception):
    """The database's schema is not the one this code needs."""


def _alembic_config():
    cfg = alembic_config.Config()
    cfg.set_main_option('script_location', MIGRATIONS)
    return cfg


def _now():
    return models._now()


def _db_clock(dialect):
    """SQL for the database's own UTC clock."""
    if dialect == 'sqlite':
        return sa.func.strftime('%Y-%m-%d %H:%M:%f', 'now',
                                type_=sa.DateTime)
    if dialect == 'mysql':
        return sa.func.utc_timestamp(6, type_=sa.DateTime)
    return sa.func.current_timestamp(type_=sa.DateTime)


def _sqlite_wal(dbapi_conn, _record):
    """Readers never wait for the writer (oslo.db turns foreign keys on)."""
    cursor = dbapi_conn.cursor()
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.close()


class NotFound(LookupError):
    """No evacuation with that id."""


class Conflict(RuntimeError):
    """A task is no longer in the state a write expected: refused."""


class Fenced(Conflict):
    """The writer no longer holds the evacuation's lease: refused."""


def _connect_parameters(url, timeout, given=''):
    """The driver's arguments that bound every wait on the database.

    As the query string oslo.db's create_engine() appends to *url*
    (``[database] connection_parameters``), so they reach every
    connection, its first test included: *given* (the operator's
    parameters), then ours for what neither *url* nor *given* sets. On
    MySQL, pymysql's own charset (``utf8mb4``) rather than oslo.db's
    ``utf8``, which cannot carry every server name.
    """
    url = sa.engine.make_url(url)
    backend = url.get_backend_name()
    if backend == 'sqlite':
        ours = {'timeout': timeout}
    elif backend == 'mysql':
        ours = {'connect_timeout': timeout, 'read_timeout': timeout,
                'write_timeout': timeout, 'charset': 'utf8mb4'}
    elif backend == 'postgresql':
        ours = {'connect_timeout': timeout,
                'options': '-c statement_timeout=%d' % (timeout * 1000)}
    else:
        ours = {}
    taken = set(url.query) | {
        key for key, _value in urllib.parse.parse_qsl(given or '')}
    ours = {key: value for key, value in ours.items() if key not in taken}
    return '&'.join(filter(None, [given, urllib.parse.urlencode(ours)]))


class _OutOfTime(Exception):
    """A retriable error that came past the call's time budget."""

    def __init__(self, error):
        super().__init__(error)
        self.error = error


def _retried(on_disconnect):
    """Retry the decorated operation with oslo.db's ``wrap_db_retry``.

    On a deadlock, and on a lost connection when *on_disconnect*. A
    deadlock rolls the whole transaction back: what failed was not
    applied, so any operation may run again. A connection lost during
    the commit leaves its outcome unknown: *on_disconnect* only for
    operations that read, or whose second run changes nothing or is
    refused (idempotent, compare-and-swap, fenced).

    Retries stop after ``[database] db_max_retries``, or once the call
    has lasted the store's time-out: a database gone silent still fails
    the pass after one time-out, never hangs it past its lease.
    """
    def decorate(method):
        @functools.wraps(method)
        def retried(self, *args, **kwargs):
            return self._retry(on_disconnect, method, self, *args, **kwargs)
        return retried
    return decorate


def _get_lock(connection, name, wait, step):
    """Take MySQL's named lock *name*, waiting up to *wait* seconds.

    Asked in steps of *step* seconds, shorter than the connection's read
    timeout. A session-level lock: it outlives the commits that follow.
    """
    deadline = time.monotonic() + wait
    while True:
        got = connection.execute(sa.text('SELECT GET_LOCK(:name, :step)'),
                                 {'name': name, 'step': step}).scalar()
        connection.commit()
        if got == 1:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError('lock %s still held by another evacuator '
                               'after %ds' % (name, wait))


# Who may write an evacuation's tasks: its lease holder, with the fencing
# token Store.acquire returned.
Fence = collections.namedtuple('Fence', 'evacuation_id owner token')


class Store:
    """Database access for the engine.

    :param url: SQLAlchemy URL, e.g. ``sqlite:////var/lib/evacuator/db``
        or ``mysql+pymysql://user:pw@db/evacuator``.
    :param timeout: seconds a connection attempt or a statement may take
        (SQLite: how long a write waits for the file's lock), and the
        most a call goes on retrying (see :func:`_retried`); also the
        wait for a connection of the pool unless ``pool_timeout`` is set.
    :param database: ``[database]`` options of oslo.db, by name
        (:data:`ENGINE_OPTIONS` and the keys of :data:`RETRY_OPTIONS`);
        oslo.db's defaults for the others. The engine is oslo.db's
        (``engines.create_engine``): its first connection is tried
        ``max_retries`` times, ``retry_interval`` seconds apart, and the
        errors of the database are oslo.db's (``oslo_db.exception``).
    """

    def __init__(self, url, timeout=DEFAULT_TIMEOUT, **database):
        unknown = set(database) - set(DATABASE_DEFAULTS)
        if unknown:
            raise TypeError('Not [database] options of the store: %s'
                            % ', '.join(sorted(unknown)))
        options = dict(DATABASE_DEFAULTS, **database)
        self.url = sa.engine.make_url(url)
        self.timeout = timeout
        self._retry_args = {name: options[option]
                            for option, name in RETRY_OPTIONS.items()}
        engine_args = {name: options[name] for name in ENGINE_OPTIONS}
        engine_args['connection_parameters'] = _connect_parameters(
            self.url, timeout, options['connection_parameters'])
        if self.url.get_backend_name() == 'sqlite':
            # oslo.db gives a SQLite file no pool (NullPool), which takes
            # no pool_timeout.
            engine_args['pool_timeout'] = None
        elif engine_args['pool_timeout'] is None:
            engine_args['pool_timeout'] = timeout
        self.engine = db_engines.create_engine(url, sqlite_fk=True,
                                               **engine_args)
        if self.engine.dialect.name == 'sqlite':
            sa.event.listen(self.engine, 'connect', _sqlite_wal)
        self._sessions = orm.sessionmaker(self.engine,
                                          expire_on_commit=False)

    def _retry(self, on_disconnect, func, *args, **kwargs):
        """*func* (*args*, *kwargs*), retried as :func:`_retried` says."""
        retry = dict(self._retry_args)
        if retry['max_retries'] == 0:
            return func(*args, **kwargs)
        if retry['max_retries'] < 0:    # oslo.db's "for ever": the budget
            retry['max_retries'] = sys.maxsize
        deadline = time.monotonic() + self.timeout

        def attempt():
            try:
                return func(*args, **kwargs)
            except (db_exc.DBDeadlock, db_exc.DBConnectionError) as exc:
                if time.monotonic() >= deadline:
                    raise _OutOfTime(exc)
                raise
        try:
            return db_api.wrap_db_retry(
                retry_on_deadlock=True, retry_on_disconnect=on_disconnect,
                **retry)(attempt)()
        except _OutOfTime as out:
            error = out.error
        raise error

    def upgrade(self):
        """Bring the schema to the newest alembic revision.

        Several evacuators may start at once on one MariaDB/MySQL: a named
        lock makes them upgrade one after the other.
        """
        cfg = _alembic_config()
        mysql = self.engine.dialect.name == 'mysql'
        with self.engine.connect() as connection:
            if mysql:
                _get_lock(connection, UPGRADE_LOCK, UPGRADE_LOCK_WAIT,
                          step=max(1, min(5, self.timeout // 2)))
            try:
                with connection.begin():
                    cfg.attributes['connection'] = connection
                    alembic_command.upgrade(cfg, 'head')
            finally:
                if mysql:
                    connection.execute(sa.text('SELECT RELEASE_LOCK(:name)'),
                                       {'name': UPGRADE_LOCK})
                    connection.commit()

    @_retried(on_disconnect=True)
    def revisions(self):
        """(the database's schema revision or None, the code's newest)."""
        head = alembic_script.ScriptDirectory.from_config(
            _alembic_config()).get_current_head()
        with self.engine.connect() as connection:
            current = alembic_migration.MigrationContext.configure(
                connection).get_current_revision()
        return current, head

    def check_schema(self):
        """Raise :class:`SchemaOutOfDate` unless the schema is current.

        Its message says what to run.
        """
        current, head = self.revisions()
        if current != head:
            raise SchemaOutOfDate(
                'The evacuation database %s is at schema revision %s; this '
                'code needs %s. Run "nova-migration-ext-manage '
                '--config-file <evacuator.conf> db sync", then start again.'
                % (self.url.render_as_string(hide_password=True),
                   current or 'none (empty)', head))

    @contextlib.contextmanager
    def session(self):
        """A session committed on success, rolled back on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()

    # -- evacuations ---------------------------------------------------------

    # Run twice after a lost commit, it would plan the evacuation twice.
    @_retried(on_disconnect=False)
    def create_evacuation(self, *, source_hosts, policy, tasks, actor,
                          name='', target_hosts=None, target_aggregate=None,
                          plan_summary=None):
        """Store a planned evacuation with its tasks, in one transaction."""
        with self.session() as session:
            evacuation = models.Evacuation(
                name=name, state=states.PLANNED,
                source_hosts=list(source_hosts),
                target_hosts=list(target_hosts) if target_hosts else None,
                target_aggregate=target_aggregate, policy=dict(policy),
                plan_summary=plan_summary, created_by=actor)
            for fields in tasks:
                evacuation.tasks.append(models.Task(
                    state=states.PENDING, attempts=0, live_failures=0,
                    bytes_done=0, **fields))
            session.add(evacuation)
            session.flush()
            session.add(models.AuditEntry(
                evacuation_id=evacuation.id, actor=actor, action='plan',
                detail='%d VM(s) off %s' % (len(evacuation.tasks),
                                            ', '.join(source_hosts))))
            return evacuation.id

    def get(self, session, evacuation_id, lock=False):
        query = sa.select(models.Evacuation).where(
            models.Evacuation.id == evacuation_id)
        if lock:
            query = query.with_for_update()
        evacuation = session.scalars(query).first()
        if evacuation is None:
            raise NotFound('No evacuation %s. List them with "openstack '
                           'drain list".' % evacuation_id)
        return evacuation

    @_retried(on_disconnect=True)
    def list_evacuations(self):
        with self.session() as session:
            return list(session.scalars(sa.select(models.Evacuation).order_by(
                models.Evacuation.created_at)))

    # Run twice, the second finds the state set and changes nothing.
    @_retried(on_disconnect=True)
    def set_state(self, evacuation_id, new_state, actor, why='',
                  fence=None):
        """Move an evacuation to *new_state* and log it.

        :param fence: a :class:`Fence` that must still hold the lease.
        """
        with self.session() as session:
            if fence is not None:
                self._check_fence(session, fence)
            evacuation = self._lock_evacuation(session, evacuation_id)
            if evacuation.state == new_state:
                return
            states.check_transition('evacuation', evacuation.state,
                                    new_state)
            old = evacuation.state
            evacuation.state = new_state
            if new_state == states.RUNNING and not evacuation.started_at:
                evacuation.started_at = _now()
            if new_state in states.EVACUATION_FINAL:
                evacuation.finished_at = _now()
            session.add(models.AuditEntry(
                evacuation_id=evacuation_id, actor=actor, action=new_state,
                detail='%s -> %s%s' % (old, new_state,
                                       (': ' + why) if why else '')))

    # Run twice, the second is refused (expect, check, fence) or sets the
    # same values again, without a second audit entry.
    @_retried(on_disconnect=True)
    def update_task(self, task_id, actor, new_state=None, why='',
                    check=None, expect=None, fence=None, **fields):
        """Change a task (state and fields) and log the state change.

        :param check: called with the task's state under the row lock,
            before any change; it raises to refuse the change.
        :param expect: the state the task must still be in, else
            :class:`Conflict` (a compare-and-swap).
        :param fence: a :class:`Fence` that must still hold the
            evacuation's lease, else :class:`Fenced`.
        """
        with self.session() as session:
            if fence is not None:
                self._check_fence(session, fence)
            self._lock_task(session, task_id)
            task = session.get(models.Task, task_id, with_for_update=True)
            if task is None:
                raise NotFound('No task %s.' % task_id)
            old = task.state
            if expect is not None and old != expect:
                raise Conflict('Task of %s is %s, no longer %s: changed by '
                               'someone else; %s\'s write refused.'
                               % (task.server_id, old, expect, actor))
            if check is not None:
                check(old)
            if new_state is not None:
                states.check_transition('task', old, new_state)
                task.state = new_state
                if new_state in states.TASK_FINAL:
                    task.finished_at = _now()
            for key, value in fields.items():
                setattr(task, key, value)
            if new_state is not None and new_state != old:
                session.add(models.AuditEntry(
                    evacuation_id=task.evacuation_id, task_id=task.id,
                    actor=actor, action='task-%s' % new_state,
                    detail='%s %s: %s -> %s%s' % (
                        task.server_name or task.server_id,
                        task.server_id, old, new_state,
                        (': ' + why) if why else '')))
            session.flush()
            session.expunge(task)
            return task

    @_retried(on_disconnect=True)
    def latest_task_for_server(self, server_id):
        """The newest task that moves *server_id*, or None."""
        with self.session() as session:
            return session.scalars(sa.select(models.Task).where(
                models.Task.server_id == server_id).order_by(
                    models.Task.id.desc()).limit(1)).first()

    @_retried(on_disconnect=True)
    def task_bytes(self):
        """(evacuation_id, state, bytes_total, bytes_done) of every task."""
        with self.session() as session:
            return session.execute(sa.select(
                models.Task.evacuation_id, models.Task.state,
                models.Task.bytes_total, models.Task.bytes_done)).all()

    @_retried(on_disconnect=True)
    def tasks(self, evacuation_id):
        with self.session() as session:
            return list(session.scalars(sa.select(models.Task).where(
                models.Task.evacuation_id == evacuation_id).order_by(
                    models.Task.id)))

    # Run twice after a lost commit, it would audit the change twice.
    @_retried(on_disconnect=False)
    def allow_downtime(self, evacuation_id, server_id, actor):
        """Let the policy of *evacuation_id* cold-migrate *server_id*."""
        with self.session() as session:
            evacuation = self._lock_evacuation(session, evacuation_id)
            policy = dict(evacuation.policy)
            policy['downtime_servers'] = dict(
                policy.get('downtime_servers') or {}, **{server_id: True})
            evacuation.policy = policy
            session.add(models.AuditEntry(
                evacuation_id=evacuation_id, actor=actor,
                action='allow-downtime',
                detail='%s may be cold-migrated (down meanwhile)'
                       % server_id))

    # Run twice after a lost commit, the entry would be there twice.
    @_retried(on_disconnect=False)
    def audit(self, evacuation_id, actor, action, detail, task_id=None):
        with self.session() as session:
            session.add(models.AuditEntry(
                evacuation_id=evacuation_id, task_id=task_id, actor=actor,
                action=action, detail=detail))

    @_retried(on_disconnect=True)
    def audit_log(self, evacuation_id):
        with self.session() as session:
            return list(session.scalars(sa.select(models.AuditEntry).where(
                models.AuditEntry.evacuation_id == evacuation_id).order_by(
                    models.AuditEntry.id)))

    # -- leases (one evacuator drives an evacuation at a time) --------------

    # Run twice, the second renews the lease the first took: same token.
    @_retried(on_disconnect=True)
    def acquire(self, evacuation_id, owner, seconds):
        """Take or renew the lease on an evacuation.

        The lease runs on the database's clock, so evacuators whose clocks
        disagree still agree on who holds it. Returns the fencing token
        (it grows at every take-over) while *owner* holds the lease, else
        None.
        """
        with self.session() as session:
            evacuation = self._lock_evacuation(session, evacuation_id)
            now = self.db_now(session)
            if (evacuation.owner not in (None, owner) and
                    evacuation.lease_until and evacuation.lease_until > now):
                return None
            if evacuation.owner != owner:
                session.add(models.AuditEntry(
                    evacuation_id=evacuation_id, actor=owner,
                    action='take-over', detail='lease taken from %s'
                    % (evacuation.owner or 'nobody')))
                evacuation.owner = owner
                evacuation.fence += 1
            evacuation.lease_until = now + datetime.timedelta(
                seconds=seconds)
            return evacuation.fence

    def db_now(self, session):
        """The database's clock (UTC), the one clock of every lease."""
        return session.scalar(sa.select(_db_clock(self.engine.dialect.name)))

    def _lock_evacuation(self, session, evacuation_id):
        """The evacuation, its row locked until the transaction ends.

        The first statement writes, so SQLite takes its write lock at once
        and every later read of the transaction sees the newest rows. Every
        write that reads first starts so: oslo.db begins SQLite's
        transactions at their first statement, and one that read before
        another process wrote could no longer write ("database is locked").
        """
        table = models.Evacuation.__table__
        session.execute(sa.update(table).where(
            table.c.id == evacuation_id).values(
                fence=table.c.fence, updated_at=table.c.updated_at))
        return self.get(session, evacuation_id, lock=True)

    def _lock_task(self, session, task_id):
        table = models.Task.__table__
        session.execute(sa.update(table).where(table.c.id == task_id).values(
            state=table.c.state, updated_at=table.c.updated_at))

    @_retried(on_disconnect=True)
    def check_fence(self, fence):
        """Raise :class:`Fenced` unless *fence* still holds the lease."""
        with self.session() as session:
            self._check_fence(session, fence)

    def _check_fence(self, session, fence):
        """Raise :class:`Fenced` unless *fence* still holds the lease.

        A lapsed lease nobody took over still holds: no one else can have
        written since, and a take-over, which bumps the token, waits for
        this transaction.
        """
        evacuation = self._lock_evacuation(session, fence.evacuation_id)
        if (evacuation.owner, evacuation.fence) != (fence.owner,
                                                    fence.token):
            raise Fenced('%s no longer drives evacuation %s: %s took it over '
                         '(fencing token %d, ours %d); write refused.'
                         % (fence.owner, fence.evacuation_id,
                            evacuation.owner, evacuation.fence,
                            fence.token))

    # -- host facts ----------------------------------------------------------

    # An upsert of the same values.
    @_retried(on_disconnect=True)
    def save_host_facts(self, host, stats):
        """Keep what *host* last published of itself.

        One upsert statement: reading the row under a lock before
        inserting it deadlocked on MariaDB when new hosts reported at
        once (gap locks).
        """
        values = {'host': host, 'stats': stats, 'updated_at': _now()}
        dialect = self.engine.dialect.name
        if dialect == 'mysql':
            from sqlalchemy.dialects import mysql as dialect_sql
            insert = dialect_sql.insert(models.HostFacts).values(**values)
            statement = insert.on_duplicate_key_update(
                stats=insert.inserted.stats,
                updated_at=insert.inserted.updated_at)
        else:
            from sqlalchemy.dialects import sqlite as dialect_sql
            insert = dialect_sql.insert(models.HostFacts).values(**values)
            statement = insert.on_conflict_do_update(
                index_elements=['host'],
                set_={'stats': insert.excluded.stats,
                      'updated_at': insert.excluded.updated_at})
        with self.session() as session:
            session.execute(statement)

    @_retried(on_disconnect=True)
    def host_facts(self, max_age):
        """Host name -> stats published in the last *max_age* seconds."""
        oldest = _now() - datetime.timedelta(seconds=max_age)
        with self.session() as session:
            return {row.host: row.stats for row in session.scalars(
                sa.select(models.HostFacts).where(
                    models.HostFacts.updated_at >= oldest))}
