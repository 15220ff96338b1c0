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
"""The executor: runs an evacuation's tasks, watches them, recovers them.

Each :meth:`Executor.tick` reconciles what the database says with what
nova says, then starts what the scheduler (:mod:`.scheduling`) allows.
Every state change is committed *before*
the call to nova that it announces (a task is ``submitting`` before nova is
asked to move the VM), so a restarted executor resumes without moving a VM
twice and without forgetting one.
"""

import datetime

from oslo_log import log as logging

from nova_migration_ext.compute import throttle
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import inventory
from nova_migration_ext.engine import nova_gateway
from nova_migration_ext.engine import scheduling
from nova_migration_ext.engine import store as store_mod

LOG = logging.getLogger(__name__)

POWER_RUNNING = 1
POWER_SHUTDOWN = 4
POWER_STATES = {POWER_RUNNING: 'running', POWER_SHUTDOWN: 'shutdown'}
LIVE_METHODS = (drain_policy.METHOD_LIVE, drain_policy.METHOD_BLOCK)
FAILED_MIGRATION = ('error', 'failed', 'cancelled')
COMPLETED_MIGRATION = ('completed', 'done')
ENDED_MIGRATION = FAILED_MIGRATION + COMPLETED_MIGRATION
# Statuses of a live migration libvirt has not started yet.
NOT_STARTED_MIGRATION = ('accepted', 'queued', 'preparing')
# Seconds a migration may wait for a slot on its source, at least, after
# the last change there, before it is taken for stuck.
QUEUE_PATIENCE = 60


def _signed_keys(policy):
    """Metadata keys the evacuation signs on its VMs for the driver."""
    keys = []
    if policy.max_bandwidth_mib_per_s:
        keys.append(throttle.BANDWIDTH_KEY)
    if policy.two_phase_cold:
        keys.append(throttle.TWO_PHASE_KEY)
    return keys


def release_bandwidth_caps(gateway, tasks, policy):
    """Remove the cap (and two-phase flag) the evacuation put on its VMs.

    Any VM submitted may carry them, also one whose live attempts failed
    and that went cold. Returns the ids of the tasks whose VM is rid of
    them.
    """
    keys = _signed_keys(policy)
    if not keys:
        return []
    released = []
    for task in tasks:
        if task.attempts or task.live_failures:
            try:
                gateway.delete_metadata(task.server_id, keys)
            except Exception as exc:
                LOG.warning('Could not remove %s from %s: %s',
                            ', '.join(keys), task.server_id, exc)
            else:
                released.append(task.id)
    return released


def task_job(task, policy):
    """The scheduler's view of *task* (:class:`drain_model.Job`).

    A task planned before dirty rates were recorded gets the default.
    """
    job = scheduling.job(
        task.id, task.source_host, task.target_host, task.method,
        task.bytes_total, scheduling.assumed_dirty(
            task.dirty_bytes_per_s, task.original_status),
        policy, task.memory_bytes)
    job.starts_guest = (task.method != drain_policy.METHOD_COLD or
                        task.original_status == 'ACTIVE')
    return job


def _ended(task):
    return task.state in states.TASK_FINAL or \
        task.state == states.NEEDS_OPERATOR


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


# Marks a task's last_error when a submit may or may not have reached nova.
UNKNOWN_OUTCOME = 'outcome of the submit unknown'


class CannotTell(Exception):
    """Nova did not answer: where the VM stands is unknown, not "idle"."""


def completion_summary(tasks):
    """Why an evacuation completed, for its audit log."""
    left = sum(t.state == states.NEEDS_OPERATOR for t in tasks)
    gone = sum(t.state == states.GONE for t in tasks)
    parts = ['%d VM(s) left for the operator' % left] if left else []
    if gone:
        parts.append('%d VM(s) deleted by their owner' % gone)
    return '; '.join(parts) or 'every VM moved'


class Executor:
    """Drive one evacuation.

    :param store: :class:`~nova_migration_ext.engine.store.Store`.
    :param gateway: :class:`~.nova_gateway.NovaGateway` (or a double).
    :param owner: name of this evacuator, for leases and the audit log.
    :param stuck_after: seconds without progress after which a migrating
        VM is considered stuck.
    :param retry_base: first retry delay in seconds (doubles each attempt).
    :param settle_seconds: how long a VM must rest on its source, with no
        task under way, before a failed attempt is closed: nova may still
        set it to ERROR after rolling a migration back.
    :param unanswered_timeout: seconds a moving VM's task waits while
        nova's API cannot say where the VM stands, before it is handed to
        the operator. Nothing is repaired meanwhile.
    :param bandwidth_cap_secret: key signing the policy's bandwidth cap
        for the driver (see :mod:`nova_migration_ext.compute.throttle`);
        without it no cap is written.
    :param bandwidth_cap_ttl: seconds a signed cap stays valid.
    """

    def __init__(self, store, gateway, evacuation_id, owner='evacuator',
                 stuck_after=600, retry_base=5.0, lease_seconds=60,
                 settle_seconds=10.0, unanswered_timeout=1800,
                 clock=utcnow, bandwidth_cap_secret=None,
                 bandwidth_cap_ttl=3600):
        self.store = store
        self.gateway = gateway
        self.evacuation_id = evacuation_id
        self.owner = owner
        self.stuck_after = stuck_after
        self.retry_base = retry_base
        self.lease_seconds = lease_seconds
        self.settle_seconds = settle_seconds
        self.unanswered_timeout = unanswered_timeout
        self.clock = clock
        self.bandwidth_cap_secret = bandwidth_cap_secret
        self.bandwidth_cap_ttl = bandwidth_cap_ttl
        self._progress_seen = {}
        self._resting_since = {}
        self._unanswered_since = {}
        self._released = set()     # tasks whose VM lost its cap
        self._fence = None

    # -- the loop -------------------------------------------------------------

    def tick(self):
        """One pass: watch running tasks, then start new ones.

        Returns the evacuation's state, or None when another evacuator
        holds its lease or took it over during the pass: every task write
        is fenced, so a stale pass stops before it submits anything.
        """
        token = self.store.acquire(self.evacuation_id, self.owner,
                                   self.lease_seconds)
        if token is None:
            return None
        self._fence = store_mod.Fence(self.evacuation_id, self.owner, token)
        try:
            return self._pass()
        except store_mod.Conflict as exc:
            LOG.info('Evacuation %s: pass stopped, nothing more done: %s',
                     self.evacuation_id, exc)
            return None

    def _pass(self):
        with self.store.session() as session:
            evacuation = self.store.get(session, self.evacuation_id)
            state = evacuation.state
            policy = drain_policy.Policy.from_dict(evacuation.policy,
                                                   strict=False)
            plan_summary = evacuation.plan_summary
        tasks = self.store.tasks(self.evacuation_id)
        for task in tasks:
            if task.state in states.TASK_ACTIVE:
                self._watch(task, policy)
        tasks = self.store.tasks(self.evacuation_id)
        self._release_ended(tasks, policy)
        if state == states.RUNNING and policy.in_window(self.clock()):
            self._fill(tasks, policy, plan_summary)
            tasks = self.store.tasks(self.evacuation_id)
        if state == states.RUNNING and not any(
                t.state in states.TASK_ACTIVE or t.state in (
                    states.PENDING, states.RETRY_WAIT) for t in tasks):
            release_bandwidth_caps(self.gateway, tasks, policy)
            self.store.set_state(self.evacuation_id, states.COMPLETED,
                                 self.owner, completion_summary(tasks),
                                 fence=self._fence)
            state = states.COMPLETED
        return state

    def _fill(self, tasks, policy, plan_summary):
        """Start what the scheduler says may start now."""
        now = self.clock()
        waiting, running = [], []
        for task in tasks:
            if task.state == states.RETRY_WAIT and (
                    task.not_before is None or task.not_before <= now):
                if not self._settled(task):
                    continue    # nova is still rolling back; wait
                task = self._compare_and_swap(task,
                                              states.PENDING, 'retry')
            if task.state == states.PENDING:
                waiting.append(task)
            elif task.state in states.TASK_ACTIVE:
                running.append(task)
        if not waiting:
            return
        link, limits = scheduling.for_plan(plan_summary, policy)
        jobs = {task.id: task_job(task, policy)
                for task in running + waiting}
        scheduler = scheduling.Scheduler(policy, list(jobs.values()), link,
                                         limits)
        for task in running:
            scheduler.running(jobs[task.id])
        by_id = {task.id: task for task in waiting}
        for job in scheduler.start():
            self._submit(by_id[job.key], policy)

    def _cancelled(self):
        with self.store.session() as session:
            return self.store.get(session, self.evacuation_id).state == \
                states.CANCELLED

    def _settled(self, task):
        """The VM has rested on its source for ``settle_seconds``.

        Resting means ACTIVE or SHUTOFF with no task under way. Nova may
        set a VM to ERROR seconds after it rolled a migration back (when
        libvirt's migrate call returns after the rollback), so one look is
        not enough. A VM left in ERROR on its source with its guest still
        running there is reset to ACTIVE, and its rest starts again.
        """
        try:
            server = self.gateway.get_server(task.server_id)
        except Exception as exc:
            if nova_gateway.is_gone(exc):
                self._gone(task)
            return False
        task_state = getattr(server, 'OS-EXT-STS:task_state', None)
        if task_state is None and server.status in ('ACTIVE', 'SHUTOFF'):
            now = self.clock()
            since = self._resting_since.setdefault(task.id, now)
            if (now - since).total_seconds() >= self.settle_seconds:
                del self._resting_since[task.id]
                return True
            return False
        self._resting_since.pop(task.id, None)
        if task_state is None and not self._reset_error_on_source(
                task, server, 'a failed attempt'):
            self._flag_stopped_in_error(task, server)
        elif task_state is not None:
            self._flag_never_resting(task, server, task_state)
        return False

    def _flag_never_resting(self, task, server, task_state):
        """A VM to retry that nova keeps moving goes to the operator.

        After an abort (or a failure) the retry waits for the VM to rest.
        One whose task stays set for ``stuck_after`` is left half-way (seen
        in the lab: the abort of a migration whose copy had ended while
        nova's post-migration hung on a cut RPC). Nothing more is done.
        """
        if not self._phase_held(task, ('unsettled', task_state,
                                       server.status)):
            return
        self._progress_seen.pop(task.id, None)
        host = getattr(server, 'OS-EXT-SRV-ATTR:host', None)
        remedy = ('still %s (task %s) on %s %ds after the last attempt '
                  '(%s); nova neither finished nor rolled it back and '
                  'nothing more was done. Find where the guest runs ("virsh '
                  'list --all" on %s and %s, "openstack server migration '
                  'list --server %s"); restarting nova-compute on %s clears '
                  'the task of an interrupted migration. Then "openstack '
                  'drain server retry" or "skip" the VM'
                  % (server.status, task_state, host, self.stuck_after,
                     task.remedy or task.last_error or 'no detail',
                     task.source_host, task.target_host, task.server_id,
                     host))
        self._compare_and_swap(task, states.NEEDS_OPERATOR,
                               'left moving after an attempt',
                               remedy=remedy)

    def _flag_stopped_in_error(self, task, server):
        """A stopped VM left in ERROR on its source goes to the operator.

        Its guest is stopped there and nova has no migration of it in
        flight, so nothing moved; reset-state can only make it ACTIVE,
        which a stopped VM is not, so the engine does not guess.
        """
        if server.status != 'ERROR' or task.original_status != 'SHUTOFF' \
                or getattr(server, 'OS-EXT-SRV-ATTR:host', None) != \
                task.source_host or self._guest_state(server) != 'shutdown':
            return
        try:
            records = self._migrations_since(task)
        except CannotTell:
            return
        if records and records[0].status not in FAILED_MIGRATION:
            return
        remedy = ('stopped VM left in ERROR on %s by a failed migration; '
                  'its guest is stopped there and nothing moved. Run '
                  '"openstack server set --state active", then "openstack '
                  'server stop", then "openstack drain server retry" it'
                  % task.source_host)
        self._compare_and_swap(task, states.NEEDS_OPERATOR,
                               'stopped VM in ERROR on its source',
                               remedy=remedy)

    def _reset_error_on_source(self, task, server, after):
        """Reset to ACTIVE a VM in ERROR on its source, guest running.

        Returns whether it was reset.
        """
        if server.status != 'ERROR' or \
                getattr(server, 'OS-EXT-SRV-ATTR:host', None) != \
                task.source_host or self._guest_state(server) != 'running':
            return False
        self._act(task, 'reset-state', '%s ERROR on its source after %s, '
                  'guest running: reset to ACTIVE' % (task.server_id, after),
                  self.gateway.reset_state, 'active')
        return True

    def _act(self, task, action, detail, call, *args):
        """Ask nova for a repair, with its audit entry written first.

        The entry records the intent: a crash, a database outage or a
        lost reply after nova acted must not leave an action unlogged.
        """
        self._still_ours()
        self.store.audit(self.evacuation_id, self.owner, action, detail,
                         task.id)
        return call(task.server_id, *args)

    def _guest_state(self, server):
        """The guest's state from its hypervisor, else nova's power state."""
        state = self.gateway.guest_state(server.id)
        if state is None:
            state = POWER_STATES.get(
                getattr(server, 'OS-EXT-STS:power_state', None))
        return state

    def _release_ended(self, tasks, policy):
        """Take the cap off the VMs whose task ended."""
        ended = [t for t in tasks if _ended(t) and t.id not in self._released]
        self._released.update(release_bandwidth_caps(self.gateway, ended,
                                                     policy))

    # -- submitting -----------------------------------------------------------

    def _submit(self, task, policy):
        self._renew()
        task = self._compare_and_swap(
            task, states.SUBMITTING,
            'asking nova to %s-migrate to %s' % (task.method,
                                                 task.target_host),
            attempts=task.attempts + 1, submitted_at=self.clock(),
            not_before=None)
        try:
            self._released.discard(task.id)
            if task.method in LIVE_METHODS:
                self._set_cap(task, policy)
                self.gateway.live_migrate(
                    task.server_id, task.target_host,
                    block_migration=task.method == drain_policy.METHOD_BLOCK)
            else:
                if task.live_failures:      # a live attempt left its cap
                    release_bandwidth_caps(self.gateway, [task], policy)
                self._set_cap(task, policy, cold=True)
                self.gateway.cold_migrate(task.server_id, task.target_host)
        except Exception as exc:
            LOG.warning('Submitting %s failed: %s', task.server_id, exc)
            if nova_gateway.is_gone(exc) and self._deleted(task):
                self._gone(task)
                return
            if nova_gateway.is_unknown_outcome(exc):
                self._outcome_unknown(task, exc)
                return
            self._failed(task, str(exc), policy,
                         transient=nova_gateway.is_transient(exc))
            return
        self._compare_and_swap(task, states.MIGRATING,
                               'accepted by nova')

    def _outcome_unknown(self, task, exc):
        """Nova may have taken the request: find out, never resend blind.

        The task stays ``submitting``; the next passes reconcile it with
        nova's migrations and the server (:meth:`_reconcile_submitting`).
        """
        error = '%s: %s' % (UNKNOWN_OUTCOME, exc)
        self._compare_and_swap(task, last_error=error)
        self.store.audit(self.evacuation_id, self.owner, 'submit-unknown',
                         '%s %s; asking nova what happened'
                         % (task.server_id, error), task.id)

    def _set_cap(self, task, policy, cold=False):
        """Sign the policy's live cap, or its two-phase cold copy."""
        values = {}
        if policy.max_bandwidth_mib_per_s and not cold:
            values[throttle.BANDWIDTH_KEY] = policy.max_bandwidth_mib_per_s
        if policy.two_phase_cold and cold:
            values[throttle.TWO_PHASE_KEY] = 1
        if not values:
            return
        if not self.bandwidth_cap_secret:
            LOG.warning('%s migrates without %s: no [evacuator] '
                        'bandwidth_cap_secret to sign it with',
                        task.server_id, ', '.join(values))
            return
        self.gateway.set_metadata(task.server_id, {
            key: throttle.sign(self.bandwidth_cap_secret, task.server_id,
                               value, self.bandwidth_cap_ttl, key=key)
            for key, value in values.items()})

    # -- watching -------------------------------------------------------------

    def _watch(self, task, policy):
        """Follow a task under way; wait while nova cannot tell."""
        self._renew()
        try:
            self._look(task, policy)
        except CannotTell as exc:
            self._unanswered(task, exc)
        else:
            self._unanswered_since.pop(task.id, None)

    def _look(self, task, policy):
        try:
            server = self.gateway.get_server(task.server_id)
        except Exception as exc:
            if nova_gateway.is_gone(exc):
                self._gone(task)
                return
            raise CannotTell('cannot see server %s: %s'
                             % (task.server_id, exc))
        status = server.status
        host = getattr(server, 'OS-EXT-SRV-ATTR:host', None)
        task_state = getattr(server, 'OS-EXT-STS:task_state', None)
        if task.state == states.SUBMITTING:
            self._reconcile_submitting(task, status, host, task_state,
                                       policy)
            return
        if status == 'VERIFY_RESIZE':
            if task.state != states.VERIFYING:   # else: confirm under way
                self._verify_resize(task, server, host, policy)
        elif host == task.target_host and status in ('ACTIVE', 'SHUTOFF') \
                and not task_state:
            self._done(task, 'running on %s' % host)
        elif status == 'ERROR':
            self._recover_error(task, server, host, policy)
        elif task_state or status in ('MIGRATING', 'RESIZE'):
            self._watch_progress(task, server, task_state, policy)
        elif host == task.source_host:
            self._maybe_failed(task, policy)

    def _reconcile_submitting(self, task, status, host, task_state, policy):
        """Did nova get the request we announced?

        After a restart, or after a submit whose outcome is unknown: the
        VM moved, or a migration is under way, or nothing happened at
        all (no migration since the submit, the VM resting for
        ``settle_seconds``). Anything else, or a nova that does not
        answer, raises :class:`CannotTell`: wait, then the operator.
        """
        unknown = (task.last_error or '').startswith(UNKNOWN_OUTCOME)
        if host == task.target_host and not task_state and \
                status in ('ACTIVE', 'SHUTOFF'):
            self._done(task, 'found on %s after %s' % (
                host, 'a submit of unknown outcome' if unknown
                else 'restart'))
        elif task_state or status in ('MIGRATING', 'RESIZE',
                                      'VERIFY_RESIZE') or \
                self._migrations_since(task):
            self._compare_and_swap(task, states.MIGRATING,
                                   'nova had accepted it before the '
                                   '%s' % ('unknown outcome' if unknown
                                           else 'restart'))
        elif self._settled(task):
            self._never_received(task, unknown, policy)
        elif status not in ('ACTIVE', 'SHUTOFF'):
            raise CannotTell('%s is %s on %s with no migration since the '
                             'submit' % (task.server_id, status, host))

    def _never_received(self, task, unknown, policy):
        """Nothing happened: the task is pending again.

        An attempt whose outcome was unknown still counts, so a request
        nova keeps losing ends with the operator.
        """
        if not unknown:
            self._compare_and_swap(task, states.PENDING,
                                   'nova never received it; submitting '
                                   'again', attempts=max(task.attempts - 1,
                                                         0))
        elif task.attempts >= policy.max_attempts:
            remedy = ('left on %s: nova did not act on %d submit(s) (%s)'
                      % (task.source_host, task.attempts, task.last_error))
            self._compare_and_swap(task, states.NEEDS_OPERATOR,
                                   'needs the operator', remedy=remedy)
        else:
            self._compare_and_swap(task, states.PENDING,
                                   'nova never received it (no migration '
                                   'since the submit); submitting again')

    def _migrations_since(self, task):
        """Nova's migration records of the VM since it was submitted.

        Raises :class:`CannotTell` when nova does not list them.
        """
        try:
            records = self.gateway.migrations(task.server_id)
        except Exception as exc:
            raise CannotTell('cannot list the migrations of %s: %s'
                             % (task.server_id, exc))
        return [m for m in records if nova_gateway.not_before(
            m.created_at, task.submitted_at)]

    def _watch_progress(self, task, server, task_state, policy):
        if task.method not in LIVE_METHODS:
            self._watch_cold(task, task_state)
            return
        try:
            migration_id, status, done, _total = self.gateway.live_progress(
                task.server_id)
        except Exception as exc:
            # Unknown progress is not "no progress": never abort on it.
            self._watch_live_records(task, server, exc)
            return
        if migration_id is None and self._ended_while_moving(task, server):
            return
        now = self.clock()
        if status in NOT_STARTED_MIGRATION:
            # Waiting for a slot of nova-compute's own
            # max_concurrent_live_migrations, or being prepared: not stuck
            # while one of ours moves ahead of it (that one is watched).
            self._watch_waiting(task, migration_id, status)
            return
        seen = self._progress_seen.get(task.id)
        if seen is None or seen[0] != done:
            self._progress_seen[task.id] = (done, now)
            if done != task.bytes_done:
                self._compare_and_swap(task,
                                       bytes_done=done)
            return
        if (now - seen[1]).total_seconds() < self.stuck_after:
            return
        # CannotTell from here keeps the VM stuck for the next look.
        remedy = self._unstick(task, migration_id)
        self._progress_seen.pop(task.id, None)
        if remedy is None:
            return
        if task.attempts >= policy.max_attempts:
            self._compare_and_swap(
                task, states.NEEDS_OPERATOR,
                'stuck %d times' % task.attempts, remedy=remedy)
            return
        self._compare_and_swap(task, states.RETRY_WAIT,
                               remedy, remedy=remedy,
                               not_before=self._backoff(task))

    def _watch_waiting(self, task, migration_id, status):
        """Flag a migration that waits for ever behind a stuck one.

        nova-compute runs ``max_concurrent_live_migrations`` at a time; the
        rest wait ``queued``. Waiting is normal while another task of this
        evacuation moves from the same source; once none does and the wait
        held ``stuck_after``, the slot is held by something that does not
        end (seen in the lab: a post-migration cut by a RabbitMQ outage).
        Nothing is aborted: nova may still run it.
        """
        neighbours = tuple(sorted(
            (t.id, t.state) for t in self.store.tasks(self.evacuation_id)
            if t.id != task.id and t.source_host == task.source_host))
        if any(state in states.TASK_ACTIVE or state == states.RETRY_WAIT
               for _id, state in neighbours):
            self._progress_seen.pop(task.id, None)
            return
        # nova finishes on the source (post-migration, rollback) for a
        # while after a VM shows where it ended: the wait counts from the
        # last change on this source, and lasts at least a minute.
        patience = max(self.stuck_after, QUEUE_PATIENCE)
        if not self._phase_held(task, ('waiting', status, neighbours),
                                patience):
            return
        self._progress_seen.pop(task.id, None)
        remedy = ('live migration %s has been %s on %s for %ds with nothing '
                  'of this evacuation ahead of it or changing there: '
                  'nova-compute there runs '
                  '[DEFAULT] max_concurrent_live_migrations at once and the '
                  'one holding the slot does not end. Nothing was aborted; '
                  'nova may still run it. Check "openstack server migration '
                  'list --host %s"; once it ran, or after "openstack server '
                  'migration abort", "openstack drain server retry" or "skip" '
                  'the VM' % (migration_id, status, task.source_host,
                              patience, task.source_host))
        self._compare_and_swap(task, states.NEEDS_OPERATOR,
                               'live migration waits for ever',
                               remedy=remedy)

    def _watch_live_records(self, task, server, error):
        """Follow a live migration through nova's migration list.

        Used when the server's own migration view fails (seen in the lab:
        HTTP 500 on ``GET /servers/{id}/migrations`` after a RabbitMQ
        outage cut nova's post-migration short). The list carries no byte
        counts, so nothing is aborted on it: a status that holds for
        ``stuck_after`` goes to the operator with the reason.
        """
        records = self._migrations_since(task)
        if not records:
            raise CannotTell('cannot read the progress of %s: %s'
                             % (task.server_id, error))
        if self._ended_while_moving(task, server, records):
            return
        latest = records[0]
        if not self._phase_held(task, ('live', latest.status)):
            return
        remedy = ('live migration %s to %s has been %s for %ds while '
                  "nova's view of its progress fails (%s); nothing was "
                  'aborted or reset. Check nova-compute on %s and %s and '
                  '"openstack server migration list --server %s"; once '
                  'it ends, "openstack drain server retry" or "skip" the VM'
                  % (latest.id, task.target_host, latest.status,
                     self.stuck_after, error, task.source_host,
                     task.target_host, task.server_id))
        self._compare_and_swap(task, states.NEEDS_OPERATOR,
                               'live migration progress unreadable',
                               last_error=str(error), remedy=remedy)

    def _ended_while_moving(self, task, server, records=None):
        """Handle a VM still moving whose live migration has ended.

        nova ends the migration record, then finishes on the hosts
        (post-migration or rollback) and clears the VM's task. A VM whose
        task outlives its ended migration by ``stuck_after`` was left
        half-way: a token expired or an RPC lost mid post-migration. The
        hypervisor of the host nova records answers (server diagnostics):
        a guest running on the target moved, and is reset to ACTIVE there;
        a guest running on the source after a failed migration did not,
        and is reset and retried. Anything else goes to the operator with
        the facts. Returns whether the migration ended.
        """
        if records is None:
            records = self._migrations_since(task)
        if not records or records[0].status not in ENDED_MIGRATION:
            return False
        latest = records[0]
        if not self._phase_held(task, ('ended', latest.status)):
            return True
        self._progress_seen.pop(task.id, None)
        host = getattr(server, 'OS-EXT-SRV-ATTR:host', None)
        guest = self.gateway.guest_state(task.server_id)
        facts = ('%s still moving %ds after migration %s was %s, nova '
                 'records it on %s, guest there: %s' % (
                     task.server_id, self.stuck_after, latest.id,
                     latest.status, host, guest or 'unknown'))
        if guest == 'running' and host == task.target_host:
            remedy = '%s: it moved; state reset to ACTIVE' % facts
            self._act(task, 'reset-state', remedy, self.gateway.reset_state,
                      'active')
            self._compare_and_swap(task, states.DONE, remedy, remedy=remedy,
                                   finished_at=self.clock())
            return True
        if guest == 'running' and host == task.source_host and \
                latest.status in FAILED_MIGRATION:
            remedy = '%s: rollback unfinished; state reset to ACTIVE' % facts
            self._act(task, 'reset-state', remedy, self.gateway.reset_state,
                      'active')
            self._compare_and_swap(
                task, states.RETRY_WAIT, 'rollback left it moving',
                remedy=remedy + ', will retry',
                not_before=self._backoff(task))
            return True
        remedy = ('%s. nova did not finish its %s; nothing was reset. Find '
                  'where the guest runs ("virsh list --all" on %s and %s); '
                  'if on %s only, restart nova-compute on %s, which clears '
                  'the task of an interrupted migration, and make nova '
                  'record the host where it runs; then "openstack '
                  'drain server skip" or "retry" the VM'
                  % (facts, 'post-migration' if latest.status in
                     COMPLETED_MIGRATION else 'rollback',
                     task.source_host, task.target_host, task.target_host,
                     task.source_host))
        self._compare_and_swap(task, states.NEEDS_OPERATOR,
                               'left moving after its migration ended',
                               remedy=remedy)
        return True

    def _phase_held(self, task, phase, seconds=None):
        """Whether *phase* has held for *seconds* since first seen.

        *seconds* defaults to ``stuck_after``.
        """
        now = self.clock()
        seen = self._progress_seen.get(task.id)
        if seen is None or seen[0] != phase:
            self._progress_seen[task.id] = (phase, now)
            return False
        return (now - seen[1]).total_seconds() >= (
            self.stuck_after if seconds is None else seconds)

    def _watch_cold(self, task, task_state):
        """Flag a cold migration whose phase no longer changes.

        Nova cannot abort a cold migration, and its copy shows no bytes:
        a phase (the VM's task and its migration's status) held for three
        times the planned copy time, and at least ``stuck_after``, goes to
        the operator with the reason. Nothing is reset or reverted.
        """
        records = self._migrations_since(task)
        phase = (task_state, records[0].status if records else None)
        now = self.clock()
        seen = self._progress_seen.get(task.id)
        if seen is None or seen[0] != phase:
            self._progress_seen[task.id] = (phase, now)
            return
        patience = max(self.stuck_after, 3 * (task.expected_seconds or 0))
        held = (now - seen[1]).total_seconds()
        if held < patience:
            return
        self._progress_seen.pop(task.id, None)
        remedy = ('cold migration to %s has been in phase %s (migration %s) '
                  'for %ds, three times its planned copy time: nova cannot '
                  'abort it and nothing was reset. Check nova-compute on %s '
                  'and %s (is the copy still running?); once it ends, '
                  '"openstack drain server retry" or "skip" the VM'
                  % (task.target_host, phase[0] or 'none',
                     phase[1] or 'unknown', held, task.source_host,
                     task.target_host))
        self._compare_and_swap(task, states.NEEDS_OPERATOR,
                               'cold migration hangs', remedy=remedy)

    def _unstick(self, task, migration_id):
        """Abort a stuck live migration, or reset one that never started.

        Resets only when nova's migration list holds no migration of the VM
        since the submit.
        Returns the remedy applied, or None when nothing could be done
        safely yet.
        """
        if migration_id is not None:
            try:
                self._act(task, 'abort', '%s no progress for %ds: aborting '
                          'live migration %s' % (task.server_id,
                                                 self.stuck_after,
                                                 migration_id),
                          self.gateway.abort_live_migration, migration_id)
            except store_mod.Conflict:
                raise
            except Exception as exc:
                LOG.warning('Abort of %s failed: %s', task.server_id, exc)
                return None
            return ('no progress for %ds: live migration %s aborted, will '
                    'retry' % (self.stuck_after, migration_id))
        if self._migrations_since(task):
            # Not ended (_ended_while_moving takes those): nova still
            # works on it; look again later.
            return None
        # MIGRATING with no migration since the submit: it never started.
        self._act(task, 'reset-state', '%s MIGRATING for %ds with no '
                  'migration running: reset to ACTIVE' % (task.server_id,
                                                          self.stuck_after),
                  self.gateway.reset_state, 'active')
        return ('MIGRATING for %ds with no migration running: state reset '
                'to ACTIVE, will retry' % self.stuck_after)

    def _copy_verified(self, task):
        """Whether the source's driver verified the copy; None: unknown."""
        try:
            return self.gateway.copy_verified(task.server_id)
        except Exception as exc:
            LOG.warning('Cannot read the instance actions of %s: %s',
                        task.server_id, exc)
            return None

    def _verify_resize(self, task, server, host, policy):
        """Confirm only when the VM really runs on the destination.

        The destination's hypervisor answers (server diagnostics); a guest
        that is not there in its expected state means nothing usable was
        copied, and the resize is reverted instead.
        """
        expected = 'shutdown' if task.original_status == 'SHUTOFF' \
            else 'running'
        guest = self._guest_state(server)
        if host == task.target_host and guest == expected:
            verified = (self._copy_verified(task)
                        if policy.require_verified_copy else True)
            if verified is None:
                return   # nova cannot tell now: look again next pass
            if not verified:
                remedy = ('its disks reached %s but the copy was not '
                          'verified (the source copies with nova\'s stock '
                          'copy, [migration_ext] cold_copy = stock, or an '
                          'older driver): check the VM there, then confirm '
                          'the resize (openstack server resize confirm) or '
                          'revert it' % host)
                self.store.audit(self.evacuation_id, self.owner,
                                 'unverified-copy', '%s %s' % (
                                     task.server_id, remedy), task.id)
                self._compare_and_swap(task, states.NEEDS_OPERATOR, remedy,
                                       remedy=remedy)
                return
            self._act(task, 'confirm-resize', '%s verified %s on %s'
                      % (task.server_id, guest, host),
                      self.gateway.confirm_resize)
            self._compare_and_swap(task, states.VERIFYING,
                                   'resize confirmed')
            return
        remedy = ('VERIFY_RESIZE but the guest is %s on %s: resize '
                  'reverted' % (guest or 'unknown', host))
        self._act(task, 'revert-resize', '%s %s' % (task.server_id, remedy),
                  self.gateway.revert_resize)
        if task.attempts >= policy.max_attempts:
            self._compare_and_swap(task,
                                   states.NEEDS_OPERATOR, remedy,
                                   remedy=remedy)
            return
        remedy += ', will retry'
        self._compare_and_swap(task, states.RETRY_WAIT,
                               remedy, remedy=remedy,
                               not_before=self._backoff(task))

    def _recover_error(self, task, server, host, policy):
        """ERROR after a migration attempt: find out what really happened.

        Remedies use nova's own API only (reset-state, confirm, revert),
        never its database.
        """
        records = self._migrations_since(task)
        last = records[0].status if records else 'unknown'
        power = getattr(server, 'OS-EXT-STS:power_state', None)
        expected_power = POWER_SHUTDOWN \
            if task.original_status == 'SHUTOFF' else POWER_RUNNING
        if host == task.target_host and (
                power == expected_power or
                last in ('completed', 'finished', 'confirmed', 'done')):
            # nova records the VM on the destination and the hypervisor
            # there reports it in its expected power state: it moved.
            remedy = ('ERROR after a migration that worked (it runs on '
                      '%s, migration %s): state reset to ACTIVE'
                      % (host, last))
            self._act(task, 'reset-state', '%s %s' % (task.server_id,
                                                      remedy),
                      self.gateway.reset_state, 'active')
            if last == 'finished':
                remedy += self._release_unconfirmed(task, records[0])
            self._compare_and_swap(task, states.DONE,
                                   remedy, remedy=remedy,
                                   finished_at=self.clock())
            return
        error = self._error_text(task)
        if last in FAILED_MIGRATION and self._reset_error_on_source(
                task, server, 'a failed migration'):
            # The move never happened and the guest still runs here.
            self._failed(task, error or 'migration failed', policy,
                         transient=nova_gateway.is_transient(error))
            return
        remedy = ('in ERROR on %s after migration %s; inspect it (%s), '
                  'then "openstack drain server retry"'
                  % (host, last, error))
        self._compare_and_swap(task, states.NEEDS_OPERATOR,
                               remedy, last_error=error, remedy=remedy)

    def _release_unconfirmed(self, task, migration):
        """Clean up after a cold move that ERROR left unconfirmed.

        nova confirms a resize only from VERIFY_RESIZE, which a VM in
        ERROR never returns to, so what the confirm would release stays:
        the source's allocation in Placement (released here, as nova's
        confirm does); the source's ``<uuid>_resize`` folder and domain go
        with that nova-compute's sweep (``resize_leftovers``). Returns the
        text added to the remedy.
        """
        uuid = getattr(migration, 'uuid', None)
        if not uuid:
            return ('; migration %s has no uuid in nova\'s answer: its '
                    'allocation on %s was not checked'
                    % (migration.id, task.source_host))
        try:
            released = self._act(
                task, 'release-allocation', '%s: deleting what unconfirmed '
                'migration %s holds in Placement on %s' % (
                    task.server_id, uuid, task.source_host),
                self.gateway.release_migration_allocation, uuid)
        except store_mod.Conflict:
            raise
        except Exception as exc:
            LOG.warning('Cannot release the allocation of migration %s: %s',
                        uuid, exc)
            return ('; the allocation of migration %s on %s may remain '
                    '(Placement: %s): "openstack resource provider '
                    'allocation delete %s"' % (uuid, task.source_host, exc,
                                               uuid))
        return ('; the allocation migration %s held on %s released in '
                'Placement (%d provider(s)); its old disks in %s_resize on '
                '%s go with the next sweep of that nova-compute if their '
                'copy was verified ([migration_ext] remove_resize_leftovers; '
                'its log says why one stays)'
                % (uuid, task.source_host, len(released), task.server_id,
                   task.source_host))

    def _maybe_failed(self, task, policy):
        """The VM rests on its source with no task: did the move fail?

        nova sets the VM's task before it records a migration and clears
        it when the migration ends. A record that still waits behind a VM
        with no task was dropped (seen when the source's nova-compute is
        killed between accepting the request and starting libvirt): that
        attempt failed. A record that says running or done behind such a
        VM is nova contradicting itself: wait, then ask the operator.
        """
        records = self._migrations_since(task)
        latest = records[0].status if records else None
        if latest in NOT_STARTED_MIGRATION:
            if not self._settled(task):
                return      # the task may be about to show
            self._failed(task, 'nova dropped migration %s: still %s while '
                         'the VM has no task (did its source nova-compute '
                         'restart?)' % (records[0].id, latest), policy,
                         transient=True)
            return
        if latest is not None and latest not in FAILED_MIGRATION:
            raise CannotTell('migration %s of %s is %s but the VM rests on '
                             '%s with no task' % (records[0].id,
                                                  task.server_id, latest,
                                                  task.source_host))
        if not self._settled(task):
            return      # nova is still rolling back
        error = self._error_text(task) or 'migration did not happen'
        self._failed(task, error, policy,
                     transient=nova_gateway.is_transient(error))

    def _error_text(self, task):
        """nova's error of this attempt (none of an earlier one)."""
        try:
            return self.gateway.last_error(
                task.server_id, since=task.submitted_at) or ''
        except Exception:
            return ''

    def _failed(self, task, error, policy, transient):
        """A migration failed and the VM is still on its source.

        A transient error is retried with the same method, up to
        ``max_attempts``. A live migration goes cold instead, when the
        policy allows this VM downtime, once it failed
        ``live_failures_before_cold`` times or with an error that another
        live attempt would meet again. Otherwise the operator gets it.
        """
        attempts = task.attempts
        fields = {'last_error': error}
        if self._cancelled():
            self._compare_and_swap(task, states.TASK_CANCELLED,
                                   'evacuation cancelled', **fields)
            return
        can_go_cold = False
        if task.method in LIVE_METHODS:
            fields['live_failures'] = task.live_failures + 1
            can_go_cold = policy.method == 'auto' and \
                policy.downtime_allowed(inventory.Server(
                    id=task.server_id, name=task.server_name,
                    host=task.source_host, status=task.original_status,
                    vcpus=0, memory_mb=0, disk_bytes=0,
                    project_id=task.project_id))
        go_cold = can_go_cold and (
            not transient or attempts >= policy.max_attempts or
            fields['live_failures'] >= policy.live_failures_before_cold)
        if transient and attempts < policy.max_attempts and not go_cold:
            self._compare_and_swap(
                task, states.RETRY_WAIT,
                'transient error, retry %d of %d'
                % (attempts + 1, policy.max_attempts),
                not_before=self._backoff(task), **fields)
            return
        if go_cold:
            self._compare_and_swap(
                task, states.RETRY_WAIT,
                'live migration failed %d time(s)%s: falling back to cold '
                'migration' % (fields['live_failures'],
                               '' if transient else ' with an error a '
                               'retry would meet again'),
                method=drain_policy.METHOD_COLD, attempts=0,
                not_before=self._backoff(task), **fields)
            return
        remedy = ('left on %s: %s' % (task.source_host, error))
        self._compare_and_swap(task, states.NEEDS_OPERATOR,
                               'needs the operator', remedy=remedy,
                               **fields)

    def _unanswered(self, task, exc):
        """Nova cannot say where the VM stands: wait, then ask the operator.

        Nothing is reset, aborted, confirmed or reverted meanwhile.
        """
        now = self.clock()
        since = self._unanswered_since.setdefault(task.id, now)
        waited = (now - since).total_seconds()
        LOG.warning('%s; waiting for nova (%ds so far)', exc, waited)
        if waited < self.unanswered_timeout:
            return
        del self._unanswered_since[task.id]
        self._progress_seen.pop(task.id, None)
        remedy = ('for %ds nova cannot tell where it stands (%s); nothing '
                  'was reset, aborted, confirmed or reverted. Check the '
                  'server and its migrations in nova: if it runs on %s, '
                  '"openstack drain server skip" it, else "openstack '
                  'drain server retry" it'
                  % (waited, exc, task.target_host))
        self._compare_and_swap(task, states.NEEDS_OPERATOR,
                               'nova cannot tell for %ds' % waited,
                               last_error=str(exc), remedy=remedy)

    def _deleted(self, task):
        """Whether nova answers 404 for the task's server."""
        try:
            self.gateway.get_server(task.server_id)
        except Exception as exc:
            return nova_gateway.is_gone(exc)
        return False

    def _gone(self, task):
        """The VM was deleted in nova: its task ends, nothing to move."""
        for seen in (self._progress_seen, self._resting_since,
                     self._unanswered_since):
            seen.pop(task.id, None)
        why = ('deleted by its owner during the evacuation (nova: no '
               'server %s); nothing left to move' % task.server_id)
        LOG.warning('%s %s', task.server_name or task.server_id, why)
        self._compare_and_swap(task, states.GONE, why,
                               remedy=why, finished_at=self.clock())

    def _renew(self):
        """Renew the lease mid-pass, so a slow pass keeps it.

        Raises :class:`~.store.Fenced` once another evacuator took over.
        """
        token = self.store.acquire(self.evacuation_id, self.owner,
                                   self.lease_seconds)
        if token != self._fence.token:
            raise store_mod.Fenced('%s lost evacuation %s to another '
                                   'evacuator during its pass'
                                   % (self.owner, self.evacuation_id))

    def _still_ours(self):
        """Raise :class:`~.store.Fenced` once the lease is another's.

        Called before every repair asked of nova, so a stale pass never
        resets, aborts, confirms or reverts a VM another evacuator drives.
        """
        self.store.check_fence(self._fence)

    def _compare_and_swap(self, task, new_state=None, why='', **fields):
        """Change *task*, still as read and still ours, else refuse.

        Raises :class:`~.store.Conflict` (:class:`~.store.Fenced` when
        another evacuator took the evacuation over); :meth:`tick` then
        stops its pass.
        """
        return self.store.update_task(task.id, self.owner, new_state, why,
                                      expect=task.state, fence=self._fence,
                                      **fields)

    def _done(self, task, why):
        self._compare_and_swap(task, states.DONE, why,
                               bytes_done=task.bytes_total,
                               finished_at=self.clock())

    def _backoff(self, task):
        delay = self.retry_base * (2 ** max(task.attempts - 1, 0))
        return self.clock() + datetime.timedelta(seconds=delay)
