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
nova says, then fills free slots. Every state change is committed *before*
the call to nova that it announces (a task is ``submitting`` before nova is
asked to move the VM), so a restarted executor resumes without moving a VM
twice and without forgetting one.
"""

import datetime

from oslo_log import log as logging

from nova_migration_ext.evacuation import inventory
from nova_migration_ext.evacuation import nova_gateway
from nova_migration_ext.evacuation import slots as slots_mod
from nova_migration_ext.evacuation import states
from nova_migration_ext import throttle

LOG = logging.getLogger(__name__)

POWER_RUNNING = 1
POWER_SHUTDOWN = 4
POWER_STATES = {POWER_RUNNING: 'running', POWER_SHUTDOWN: 'shutdown'}
LIVE_METHODS = (inventory.METHOD_LIVE, inventory.METHOD_BLOCK)
FAILED_MIGRATION = ('error', 'failed', 'cancelled')
IN_PROGRESS_MIGRATION = ('queued', 'preparing', 'running', 'post-migrating')


def release_bandwidth_caps(gateway, tasks, policy):
    """Remove the bandwidth cap the evacuation put on its VMs."""
    if not policy.max_bandwidth_mib_per_s:
        return
    for task in tasks:
        if task.method in LIVE_METHODS and task.attempts:
            try:
                gateway.delete_metadata(task.server_id,
                                        [throttle.BANDWIDTH_KEY])
            except Exception as exc:
                LOG.warning('Could not remove %s from %s: %s',
                            throttle.BANDWIDTH_KEY, task.server_id, exc)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Executor:
    """Drive one evacuation.

    :param store: :class:`~nova_migration_ext.evacuation.store.Store`.
    :param gateway: :class:`~.nova_gateway.NovaGateway` (or a double).
    :param owner: name of this evacuator, for leases and the audit log.
    :param stuck_after: seconds without progress after which a migrating
        VM is considered stuck.
    :param retry_base: first retry delay in seconds (doubles each attempt).
    :param settle_seconds: how long a VM must rest on its source, with no
        task under way, before a failed attempt is closed: nova may still
        set it to ERROR after rolling a migration back.
    """

    def __init__(self, store, gateway, evacuation_id, owner='evacuator',
                 stuck_after=600, retry_base=5.0, lease_seconds=60,
                 settle_seconds=10.0, clock=utcnow):
        self.store = store
        self.gateway = gateway
        self.evacuation_id = evacuation_id
        self.owner = owner
        self.stuck_after = stuck_after
        self.retry_base = retry_base
        self.lease_seconds = lease_seconds
        self.settle_seconds = settle_seconds
        self.clock = clock
        self._progress_seen = {}
        self._resting_since = {}

    # -- the loop -------------------------------------------------------------

    def tick(self):
        """One pass: watch running tasks, then start new ones.

        Returns the evacuation's state, or None when another evacuator
        holds its lease.
        """
        if not self.store.acquire(self.evacuation_id, self.owner,
                                  self.lease_seconds):
            return None
        with self.store.session() as session:
            evacuation = self.store.get(session, self.evacuation_id)
            state = evacuation.state
            policy = inventory.Policy.from_dict(evacuation.policy)
        tasks = self.store.tasks(self.evacuation_id)
        for task in tasks:
            if task.state in states.TASK_ACTIVE:
                self._watch(task, policy)
        tasks = self.store.tasks(self.evacuation_id)
        if state == states.RUNNING and policy.in_window(self.clock()):
            self._fill(tasks, policy)
            tasks = self.store.tasks(self.evacuation_id)
        if state == states.RUNNING and not any(
                t.state in states.TASK_ACTIVE or t.state in (
                    states.PENDING, states.RETRY_WAIT) for t in tasks):
            left = [t for t in tasks if t.state == states.NEEDS_OPERATOR]
            release_bandwidth_caps(self.gateway, tasks, policy)
            self.store.set_state(
                self.evacuation_id, states.COMPLETED, self.owner,
                '%d VM(s) left for the operator' % len(left) if left
                else 'every VM moved')
            state = states.COMPLETED
        return state

    def _fill(self, tasks, policy):
        slots = slots_mod.Slots.for_policy(policy)
        for task in tasks:
            if task.state in states.TASK_ACTIVE:
                slots.take(task.source_host, task.target_host)
        now = self.clock()
        for task in tasks:
            if slots.full:
                return
            if task.state == states.RETRY_WAIT and (
                    task.not_before is None or task.not_before <= now):
                if not self._settled(task):
                    continue    # nova is still rolling back; wait
                task = self.store.update_task(task.id, self.owner,
                                              states.PENDING, 'retry')
            if task.state != states.PENDING:
                continue
            if not slots.can_start(task.source_host, task.target_host):
                continue
            slots.take(task.source_host, task.target_host)
            self._submit(task, policy)

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
        except Exception:
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
        if task_state is None:
            self._reset_error_on_source(task, server, 'a failed attempt')
        return False

    def _reset_error_on_source(self, task, server, after):
        """Reset to ACTIVE a VM in ERROR on its source, guest running.

        Returns whether it was reset.
        """
        if server.status != 'ERROR' or \
                getattr(server, 'OS-EXT-SRV-ATTR:host', None) != \
                task.source_host or self._guest_state(server) != 'running':
            return False
        self.gateway.reset_state(task.server_id, 'active')
        self.store.audit(self.evacuation_id, self.owner, 'reset-state',
                         '%s ERROR on its source after %s, guest running: '
                         'reset to ACTIVE' % (task.server_id, after),
                         task.id)
        return True

    def _guest_state(self, server):
        """The guest's state from its hypervisor, else nova's power state."""
        state = self.gateway.guest_state(server.id)
        if state is None:
            state = POWER_STATES.get(
                getattr(server, 'OS-EXT-STS:power_state', None))
        return state

    # -- submitting -----------------------------------------------------------

    def _submit(self, task, policy):
        task = self.store.update_task(
            task.id, self.owner, states.SUBMITTING,
            'asking nova to %s-migrate to %s' % (task.method,
                                                 task.target_host),
            attempts=task.attempts + 1, submitted_at=self.clock(),
            not_before=None)
        try:
            if task.method in LIVE_METHODS:
                if policy.max_bandwidth_mib_per_s:
                    self.gateway.set_metadata(task.server_id, {
                        throttle.BANDWIDTH_KEY:
                            str(policy.max_bandwidth_mib_per_s)})
                self.gateway.live_migrate(task.server_id, task.target_host)
            else:
                self.gateway.cold_migrate(task.server_id, task.target_host)
        except Exception as exc:
            LOG.warning('Submitting %s failed: %s', task.server_id, exc)
            self._failed(task, str(exc), policy,
                         transient=nova_gateway.is_transient(exc))
            return
        self.store.update_task(task.id, self.owner, states.MIGRATING,
                               'accepted by nova')

    # -- watching -------------------------------------------------------------

    def _watch(self, task, policy):
        try:
            server = self.gateway.get_server(task.server_id)
        except Exception as exc:
            LOG.warning('Cannot see server %s: %s', task.server_id, exc)
            return
        status = server.status
        host = getattr(server, 'OS-EXT-SRV-ATTR:host', None)
        task_state = getattr(server, 'OS-EXT-STS:task_state', None)
        if task.state == states.SUBMITTING:
            self._reconcile_submitting(task, server, status, host,
                                       task_state)
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

    def _reconcile_submitting(self, task, server, status, host, task_state):
        """After a restart: did nova get the request we announced?"""
        records = self._migrations_since(task)
        if host == task.target_host and not task_state:
            self._done(task, 'found on %s after restart' % host)
        elif records or task_state or status in ('MIGRATING', 'RESIZE',
                                                 'VERIFY_RESIZE'):
            self.store.update_task(task.id, self.owner, states.MIGRATING,
                                   'nova had accepted it before the '
                                   'restart')
        else:
            self.store.update_task(task.id, self.owner, states.PENDING,
                                   'nova never received it; submitting '
                                   'again', attempts=max(task.attempts - 1,
                                                         0))

    def _migrations_since(self, task):
        try:
            records = self.gateway.migrations(task.server_id)
        except Exception:
            return []
        since = task.submitted_at
        return [m for m in records if since is None or
                _parse_time(m.created_at) >= since.replace(microsecond=0)]

    def _watch_progress(self, task, server, task_state, policy):
        if task.method not in LIVE_METHODS:
            return
        try:
            migration_id, status, done, _total = self.gateway.live_progress(
                task.server_id)
        except Exception as exc:
            # Progress unreadable: judge by the migration record alone.
            LOG.warning('Cannot read the progress of %s: %s',
                        task.server_id, exc)
            records = self._migrations_since(task)
            migration_id = status = None
            if records and records[0].status in IN_PROGRESS_MIGRATION:
                migration_id, status = records[0].id, records[0].status
            done = task.bytes_done
        now = self.clock()
        if status in ('queued', 'preparing', 'accepted'):
            # Waiting for a slot of nova-compute's own
            # max_concurrent_live_migrations, or being prepared: not stuck.
            self._progress_seen[task.id] = (done, now)
            return
        seen = self._progress_seen.get(task.id)
        if seen is None or seen[0] != done:
            self._progress_seen[task.id] = (done, now)
            if done != task.bytes_done:
                self.store.update_task(task.id, self.owner,
                                       bytes_done=done)
            return
        if (now - seen[1]).total_seconds() < self.stuck_after:
            return
        self._progress_seen.pop(task.id, None)
        remedy = self._unstick(task, migration_id)
        if remedy is None:
            return
        if task.attempts >= policy.max_attempts:
            self.store.update_task(
                task.id, self.owner, states.NEEDS_OPERATOR,
                'stuck %d times' % task.attempts, remedy=remedy)
            return
        self.store.update_task(task.id, self.owner, states.RETRY_WAIT,
                               remedy, remedy=remedy,
                               not_before=self._backoff(task))

    def _unstick(self, task, migration_id):
        """Abort a stuck live migration, or reset one that never started.

        Returns the remedy applied, or None when nothing could be done
        safely yet.
        """
        if migration_id is not None:
            try:
                self.gateway.abort_live_migration(task.server_id,
                                                  migration_id)
            except Exception as exc:
                LOG.warning('Abort of %s failed: %s', task.server_id, exc)
                return None
            return ('no progress for %ds: live migration %s aborted, will '
                    'retry' % (self.stuck_after, migration_id))
        records = self._migrations_since(task)
        if records and records[0].status not in FAILED_MIGRATION + (
                'completed', 'done'):
            return None     # nova still works on it; look again later
        # MIGRATING with nothing running: the migration never started.
        self.gateway.reset_state(task.server_id, 'active')
        return ('MIGRATING for %ds with no migration running: state reset '
                'to ACTIVE, will retry' % self.stuck_after)

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
            self.gateway.confirm_resize(task.server_id)
            self.store.audit(self.evacuation_id, self.owner,
                             'confirm-resize', '%s verified %s on %s'
                             % (task.server_id, guest, host), task.id)
            self.store.update_task(task.id, self.owner, states.VERIFYING,
                                   'resize confirmed')
            return
        remedy = ('VERIFY_RESIZE but the guest is %s on %s: resize '
                  'reverted' % (guest or 'unknown', host))
        self.gateway.revert_resize(task.server_id)
        self.store.audit(self.evacuation_id, self.owner, 'revert-resize',
                         remedy, task.id)
        if task.attempts >= policy.max_attempts:
            self.store.update_task(task.id, self.owner,
                                   states.NEEDS_OPERATOR, remedy,
                                   remedy=remedy)
            return
        remedy += ', will retry'
        self.store.update_task(task.id, self.owner, states.RETRY_WAIT,
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
            self.gateway.reset_state(task.server_id, 'active')
            remedy = ('ERROR after a migration that worked (it runs on '
                      '%s, migration %s): state reset to ACTIVE'
                      % (host, last))
            self.store.update_task(task.id, self.owner, states.DONE,
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
                  'then "openstack evacuation retry"'
                  % (host, last, error))
        self.store.update_task(task.id, self.owner, states.NEEDS_OPERATOR,
                               remedy, last_error=error, remedy=remedy)

    def _maybe_failed(self, task, policy):
        records = self._migrations_since(task)
        if records and records[0].status not in FAILED_MIGRATION:
            return      # still starting
        if not self._settled(task):
            return      # nova is still rolling back
        error = self._error_text(task) or 'migration did not happen'
        self._failed(task, error, policy,
                     transient=nova_gateway.is_transient(error))

    def _error_text(self, task):
        try:
            return self.gateway.last_error(task.server_id) or ''
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
            self.store.update_task(task.id, self.owner, states.TASK_CANCELLED,
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
            self.store.update_task(
                task.id, self.owner, states.RETRY_WAIT,
                'transient error, retry %d of %d'
                % (attempts + 1, policy.max_attempts),
                not_before=self._backoff(task), **fields)
            return
        if go_cold:
            self.store.update_task(
                task.id, self.owner, states.RETRY_WAIT,
                'live migration failed %d time(s)%s: falling back to cold '
                'migration' % (fields['live_failures'],
                               '' if transient else ' with an error a '
                               'retry would meet again'),
                method=inventory.METHOD_COLD, attempts=0,
                not_before=self._backoff(task), **fields)
            return
        remedy = ('left on %s: %s' % (task.source_host, error))
        self.store.update_task(task.id, self.owner, states.NEEDS_OPERATOR,
                               'needs the operator', remedy=remedy,
                               **fields)

    def _done(self, task, why):
        self.store.update_task(task.id, self.owner, states.DONE, why,
                               bytes_done=task.bytes_total,
                               finished_at=self.clock())

    def _backoff(self, task):
        delay = self.retry_base * (2 ** max(task.attempts - 1, 0))
        return self.clock() + datetime.timedelta(seconds=delay)


def _parse_time(value):
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None)
    text = str(value).replace('Z', '').split('+')[0]
    return datetime.datetime.fromisoformat(text)
