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
"""A simulated nova: the STAND-IN the fault campaign drains against.

Not nova. A model of what the engine sees of nova through its public API
(:class:`~nova_migration_ext.engine.nova_gateway.NovaGateway`), made
to run a drain in milliseconds instead of the embedded cloud's tens of
seconds (doc/chaos.md has the measurement):

* servers with ``status`` (vm_state), ``OS-EXT-STS:task_state``,
  ``OS-EXT-SRV-ATTR:host``, power state, a fault, metadata, and where the
  guest really runs (what server diagnostics, answered by the compute
  host, report);
* migration records as ``os-migrations`` lists them (id, type, status,
  source, dest, created_at) and the in-progress live migrations of
  ``servers/{id}/migrations`` with processed bytes;
* migrations that take ticks of a simulated clock: a live migration goes
  accepted -> preparing -> running (bytes grow) -> completed; a cold one
  pre-migrating -> migrating -> post-migrating -> finished (VERIFY_RESIZE),
  then confirmed or reverted (reverting takes a tick);
* the API's refusals: 409 when the server has a task or a state the
  action does not accept, 400 for a live migration to its own host, 404
  for a deleted server or an unknown migration.

Each migration's outcome is set when nova accepts it, from the faults
armed for that server (:meth:`SimNova.arm`): ``ok``, ``rpc_timeout``,
``fail`` (rolled back; ``fail_late_error``: ERROR set on the source after
the rollback, as libvirt's late return does), ``hang`` (a live migration
without progress until aborted), ``cold_hang`` (a cold one that never
ends), ``error_after_move``, ``error_no_move``,
``token_expiry`` (moved, then a 401 in the post-migration step: ERROR on
the destination), ``token_expiry_migrating`` (moved, but left MIGRATING
with the migration in error), ``guest_not_started`` (cold: VERIFY_RESIZE
with the guest shut down on the destination).

It also checks, at the moment of each call, the safety invariants only
nova's side can see (:attr:`SimNova.violations`).
"""

import datetime
import types

from keystoneauth1 import exceptions as ks_exc
from novaclient import exceptions as nova_exc

LIVE = 'live-migration'
COLD = 'migration'
# Statuses of a migration nova still works on.
TERMINAL = frozenset(['completed', 'failed', 'error', 'cancelled',
                      'finished', 'confirmed', 'reverted', 'done'])
LIVE_IN_PROGRESS = ('queued', 'preparing', 'running', 'post-migrating')
RPC_TIMEOUT_TEXT = ('MessagingTimeout: Timed out waiting for a reply to '
                    'message ID 4f1c')
FAIL_TEXT = 'libvirtError: Network filter not found: no-mac-spoofing'
TOKEN_TEXT = 'Unauthorized: The request you have made requires ' \
    'authentication. (HTTP 401)'
ERROR_TEXT = 'InstanceFaultRollback: migration failed'


class VM:

    def __init__(self, server_id, host, status):
        self.id = server_id
        self.name = 'vm-%s' % server_id
        self.host = host
        self.status = status
        self.task_state = None
        self.guest_host = host
        self.guest = 'running' if status == 'ACTIVE' else 'shutdown'
        self.deleted = False
        self.fault = None
        self.metadata = {}
        self.hosts = [host]         # every host nova recorded it on
        self.armed = []             # outcomes of its next migrations
        self.error_at = None        # (time, text): ERROR set later

    @property
    def power_state(self):
        if self.guest_host != self.host:
            return 0
        return 1 if self.guest == 'running' else 4


class Migration:

    def __init__(self, mig_id, vm, kind, dest, created_at, outcome,
                 ticks, total):
        self.id = mig_id
        self.instance_uuid = vm.id
        self.kind = kind
        self.source = vm.host
        self.dest = dest
        self.created_at = created_at
        self.outcome = outcome
        self.status = 'accepted' if kind == LIVE else 'pre-migrating'
        self.ticks = ticks
        self.total = total
        self.done = 0
        self.was = vm.status        # ACTIVE or SHUTOFF before it

    @property
    def in_flight(self):
        return self.status not in TERMINAL

    def record(self):
        return types.SimpleNamespace(
            id=self.id, instance_uuid=self.instance_uuid,
            migration_type=self.kind, status=self.status,
            source_compute=self.source, dest_compute=self.dest,
            created_at=self.created_at.isoformat(),
            memory_processed_bytes=self.done,
            memory_total_bytes=self.total)


class SimNova:
    """The model. :meth:`advance` moves the simulated clock."""

    def __init__(self, now):
        self.now = now
        self.vms = {}
        self.migrations = []
        self.violations = []
        self.disabled = set()
        self.actions = []       # (time, action, server, detail) applied
        self.outcomes = []      # (server, outcome) of migrations begun

    # -- set-up, owners, faults ----------------------------------------------

    def add(self, server_id, host, status='ACTIVE'):
        self.vms[server_id] = VM(server_id, host, status)
        return self.vms[server_id]

    def arm(self, server_id, outcome):
        """The next migration of *server_id* ends with *outcome*."""
        self.vms[server_id].armed.append(outcome)

    def in_flight(self, server_id):
        return [m for m in self.migrations
                if m.instance_uuid == server_id and m.in_flight]

    def delete(self, server_id):
        """Its owner deletes the VM (nova allows it in any state)."""
        vm = self.vms[server_id]
        if vm.deleted:
            return False
        for mig in self.in_flight(server_id):
            mig.status = 'error'
        vm.deleted = True
        vm.guest_host = None
        return True

    def stop(self, server_id):
        """Its owner stops the VM: refused (409) while it has a task."""
        vm = self.vms[server_id]
        if vm.deleted or vm.task_state or vm.status != 'ACTIVE':
            return False
        vm.status = 'SHUTOFF'
        vm.guest = 'shutdown'
        return True

    # -- time ----------------------------------------------------------------

    def advance(self, seconds):
        self.now += datetime.timedelta(seconds=seconds)
        for vm in self.vms.values():
            if vm.error_at and vm.error_at[0] <= self.now and \
                    not vm.deleted and vm.task_state is None:
                vm.status = 'ERROR'
                vm.fault = vm.error_at[1]
                vm.error_at = None
        for mig in list(self.migrations):
            if mig.in_flight and not self.vms[mig.instance_uuid].deleted:
                self._step(mig, self.vms[mig.instance_uuid])

    def _step(self, mig, vm):
        if mig.kind == LIVE:
            self._step_live(mig, vm)
        else:
            self._step_cold(mig, vm)

    def _rollback(self, mig, vm, status, fault=None):
        mig.status = status
        vm.task_state = None
        vm.status = mig.was
        if fault:
            vm.fault = fault

    def _moved(self, vm, dest):
        vm.host = dest
        vm.guest_host = dest
        vm.hosts.append(dest)

    def _step_live(self, mig, vm):
        outcome = mig.outcome
        if mig.status == 'cancelling':
            self._rollback(mig, vm, 'cancelled')
            return
        if mig.status == 'accepted':
            if outcome == 'rpc_timeout':
                self._rollback(mig, vm, 'error', RPC_TIMEOUT_TEXT)
            else:
                mig.status = 'preparing'
            return
        if mig.status == 'preparing':
            mig.status = 'running'
            return
        if mig.status == 'running':
            step = mig.total // mig.ticks
            if outcome == 'hang' and mig.done >= mig.total // 2:
                return          # no progress, ever, until aborted
            if outcome in ('fail', 'fail_late_error') and \
                    mig.done >= mig.total // 2:
                self._rollback(mig, vm, 'failed', FAIL_TEXT)
                if outcome == 'fail_late_error':
                    vm.error_at = (self.now + datetime.timedelta(
                        seconds=10), FAIL_TEXT)
                return
            if outcome == 'error_no_move' and mig.done >= mig.total // 2:
                mig.status = 'error'
                vm.task_state = None
                vm.status = 'ERROR'
                vm.fault = ERROR_TEXT
                return
            mig.done = min(mig.total, mig.done + step)
            if mig.done < mig.total:
                return
            mig.status = 'post-migrating'
            return
        if mig.status == 'post-migrating':
            self._moved(vm, mig.dest)
            if outcome in ('error_after_move', 'token_expiry'):
                mig.status = 'error'
                vm.task_state = None
                vm.status = 'ERROR'
                vm.fault = TOKEN_TEXT if outcome == 'token_expiry' \
                    else ERROR_TEXT
            elif outcome == 'token_expiry_migrating':
                mig.status = 'error'
                vm.fault = TOKEN_TEXT       # left MIGRATING, task set
            else:
                mig.status = 'completed'
                vm.task_state = None
                vm.status = mig.was

    def _step_cold(self, mig, vm):
        outcome = mig.outcome
        if mig.status == 'reverting':
            mig.status = 'reverted'
            vm.host = mig.source
            vm.hosts.append(mig.source)
            vm.guest_host = mig.source
            vm.guest = 'running' if mig.was == 'ACTIVE' else 'shutdown'
            vm.task_state = None
            vm.status = mig.was
            return
        if mig.status == 'pre-migrating':
            if outcome == 'rpc_timeout':
                self._rollback(mig, vm, 'error', RPC_TIMEOUT_TEXT)
                return
            mig.status = 'migrating'
            vm.task_state = 'resize_migrating'
            return
        if mig.status == 'migrating':
            if outcome == 'cold_hang':
                return          # nova-compute never reports back
            mig.done = min(mig.total, mig.done + mig.total // mig.ticks)
            if mig.done < mig.total:
                return
            if outcome in ('fail', 'fail_late_error'):
                self._rollback(mig, vm, 'error', FAIL_TEXT)
                if outcome == 'fail_late_error':
                    vm.error_at = (self.now + datetime.timedelta(
                        seconds=10), FAIL_TEXT)
                return
            if outcome == 'error_no_move':
                mig.status = 'error'
                vm.task_state = None
                vm.status = 'ERROR'
                vm.fault = ERROR_TEXT
                return
            mig.status = 'post-migrating'
            vm.task_state = 'resize_finish'
            return
        if mig.status == 'post-migrating':
            self._moved(vm, mig.dest)
            vm.guest = 'running' if mig.was == 'ACTIVE' else 'shutdown'
            if outcome in ('error_after_move', 'token_expiry',
                           'token_expiry_migrating'):
                mig.status = 'error'
                vm.task_state = None
                vm.status = 'ERROR'
                vm.fault = TOKEN_TEXT if outcome.startswith('token') \
                    else ERROR_TEXT
                return
            if outcome == 'guest_not_started':
                vm.guest = 'shutdown'
            mig.status = 'finished'
            vm.task_state = None
            vm.status = 'VERIFY_RESIZE'

    # -- the API -------------------------------------------------------------

    def _vm(self, server_id):
        vm = self.vms.get(server_id)
        if vm is None or vm.deleted:
            raise nova_exc.NotFound(404, 'Instance %s could not be found.'
                                    % server_id)
        return vm

    def _check_safe(self, action, vm, allowed_migration=None):
        """No repair while nova has a migration of the VM in flight."""
        for mig in self.in_flight(vm.id):
            if mig.id != allowed_migration:
                self.violations.append(
                    'unsafe %s of %s at %s while migration %d is %s'
                    % (action, vm.id, self.now.time(), mig.id, mig.status))

    def _submit_checks(self, vm, dest):
        if self.in_flight(vm.id):
            self.violations.append(
                'double migration: %s asked to move %s while migration '
                '%d is %s' % (self.now.time(), vm.id,
                              self.in_flight(vm.id)[0].id,
                              self.in_flight(vm.id)[0].status))
        if vm.task_state is not None:
            raise nova_exc.Conflict(409, 'Cannot migrate instance %s while '
                                    'it is in task_state %s'
                                    % (vm.id, vm.task_state))
        if vm.host == dest:
            raise nova_exc.BadRequest(400, 'The target host can\'t be the '
                                      'same one.')

    def _new_migration(self, vm, kind, dest, ticks, total):
        outcome = vm.armed.pop(0) if vm.armed else 'ok'
        self.outcomes.append((vm.id, outcome))
        mig = Migration(len(self.migrations) + 1, vm, kind, dest, self.now,
                        outcome, ticks, total)
        self.migrations.append(mig)
        self.actions.append((self.now, kind, vm.id, dest))
        return mig

    def live_migrate(self, server_id, host, ticks=4):
        vm = self._vm(server_id)
        self._submit_checks(vm, host)
        if vm.status != 'ACTIVE':
            raise nova_exc.Conflict(409, 'Cannot live-migrate instance %s '
                                    'while it is in vm_state %s'
                                    % (vm.id, vm.status.lower()))
        self._new_migration(vm, LIVE, host, ticks, 8 * 2 ** 30)
        vm.status = 'MIGRATING'
        vm.task_state = 'migrating'

    def cold_migrate(self, server_id, host, ticks=3):
        vm = self._vm(server_id)
        self._submit_checks(vm, host)
        if vm.status not in ('ACTIVE', 'SHUTOFF'):
            raise nova_exc.Conflict(409, 'Cannot migrate instance %s while '
                                    'it is in vm_state %s'
                                    % (vm.id, vm.status.lower()))
        self._new_migration(vm, COLD, host, ticks, 8 * 2 ** 30)
        vm.status = 'RESIZE'
        vm.task_state = 'resize_prep'

    def _finished_resize(self, server_id, action):
        """The VM and its finished cold migration, for confirm or revert."""
        vm = self._vm(server_id)
        self._check_safe(action, vm)
        if vm.status != 'VERIFY_RESIZE':
            raise nova_exc.Conflict(409, 'Instance %s is %s, not '
                                    'VERIFY_RESIZE' % (vm.id, vm.status))
        return vm, [m for m in self.migrations if m.instance_uuid == vm.id
                    and m.status == 'finished'][-1]

    def copy_verified(self, server_id):
        # The simulated driver verifies every copy it makes.
        self._vm(server_id)
        return True

    def confirm_resize(self, server_id):
        vm, mig = self._finished_resize(server_id, 'confirm-resize')
        mig.status = 'confirmed'
        vm.status = 'ACTIVE' if vm.guest == 'running' else 'SHUTOFF'
        self.actions.append((self.now, 'confirm', vm.id, mig.id))

    def revert_resize(self, server_id):
        vm, mig = self._finished_resize(server_id, 'revert-resize')
        mig.status = 'reverting'
        vm.status = 'REVERT_RESIZE'
        vm.task_state = 'resize_reverting'
        self.actions.append((self.now, 'revert', vm.id, mig.id))

    def reset_state(self, server_id, state='active'):
        vm = self._vm(server_id)
        self._check_safe('reset-state', vm)
        vm.status = 'ACTIVE' if state == 'active' else 'ERROR'
        vm.task_state = None
        self.actions.append((self.now, 'reset-state', vm.id, state))

    def abort_live_migration(self, server_id, migration_id):
        vm = self._vm(server_id)
        mig = [m for m in self.in_flight(vm.id) if m.id == migration_id and
               m.kind == LIVE and m.status in LIVE_IN_PROGRESS]
        self._check_safe('abort', vm, allowed_migration=migration_id)
        if not mig:
            raise nova_exc.NotFound(404, 'Migration %s not in progress'
                                    % migration_id)
        mig[0].status = 'cancelling'
        self.actions.append((self.now, 'abort', vm.id, migration_id))

    def server(self, server_id):
        vm = self._vm(server_id)
        return types.SimpleNamespace(**{
            'id': vm.id, 'name': vm.name, 'status': vm.status,
            'OS-EXT-SRV-ATTR:host': vm.host,
            'OS-EXT-STS:task_state': vm.task_state,
            'OS-EXT-STS:power_state': vm.power_state,
            'fault': {'message': vm.fault} if vm.fault else {},
            'metadata': dict(vm.metadata)})

    def guest_state(self, server_id):
        vm = self._vm(server_id)
        if vm.guest_host != vm.host:
            return None
        return vm.guest

    def migration_records(self, server_id):
        return [m.record() for m in self.migrations
                if m.instance_uuid == server_id]

    def live_progress(self, server_id):
        self._vm(server_id)
        for mig in self.in_flight(server_id):
            if mig.kind == LIVE and mig.status in LIVE_IN_PROGRESS:
                return mig.id, mig.status, mig.done, mig.total
        return None, None, 0, 0


class SimGateway:
    """The engine's nova gateway, on :class:`SimNova`.

    Every call goes through *injector* (``injector(name, server_id,
    apply)``), which may raise instead of applying the call, raise after
    applying it (a lost reply), or run something around it; and is
    recorded in :attr:`calls` as (time, name, server, outcome).
    """

    def __init__(self, nova, injector=None):
        self.nova = nova
        self.injector = injector
        self.calls = []

    def _call(self, name, server_id, apply):
        def run():
            try:
                result = apply()
            except Exception as exc:
                self.calls.append((self.nova.now, name, server_id,
                                   type(exc).__name__))
                raise
            self.calls.append((self.nova.now, name, server_id, 'ok'))
            return result
        if self.injector is None:
            return run()
        return self.injector(name, server_id, run)

    def get_server(self, server_id):
        return self._call('get_server', server_id,
                          lambda: self.nova.server(server_id))

    def live_migrate(self, server_id, host, block_migration='auto'):
        return self._call('live_migrate', server_id,
                          lambda: self.nova.live_migrate(server_id, host))

    def cold_migrate(self, server_id, host):
        return self._call('cold_migrate', server_id,
                          lambda: self.nova.cold_migrate(server_id, host))

    def copy_verified(self, server_id):
        return self._call('copy_verified', server_id,
                          lambda: self.nova.copy_verified(server_id))

    def confirm_resize(self, server_id):
        return self._call('confirm_resize', server_id,
                          lambda: self.nova.confirm_resize(server_id))

    def revert_resize(self, server_id):
        return self._call('revert_resize', server_id,
                          lambda: self.nova.revert_resize(server_id))

    def reset_state(self, server_id, state='active'):
        return self._call('reset_state', server_id,
                          lambda: self.nova.reset_state(server_id, state))

    def abort_live_migration(self, server_id, migration_id):
        return self._call('abort_live_migration', server_id,
                          lambda: self.nova.abort_live_migration(
                              server_id, migration_id))

    def guest_state(self, server_id):
        def apply():
            try:
                return self.nova.guest_state(server_id)
            except nova_exc.ClientException:
                return None
        return self._call('guest_state', server_id, apply)

    def migrations(self, server_id):
        def apply():
            found = self.nova.migration_records(server_id)
            return sorted(found, key=lambda m: (m.created_at, m.id),
                          reverse=True)
        return self._call('migrations', server_id, apply)

    def live_progress(self, server_id):
        return self._call('live_progress', server_id,
                          lambda: self.nova.live_progress(server_id))

    def last_error(self, server_id, since=None):
        return self._call('last_error', server_id,
                          lambda: self.nova._vm(server_id).fault)

    def set_metadata(self, server_id, metadata):
        return self._call('set_metadata', server_id,
                          lambda: self.nova._vm(server_id).metadata.update(
                              metadata))

    def delete_metadata(self, server_id, keys):
        def apply():
            meta = self.nova._vm(server_id).metadata
            for key in keys:
                meta.pop(key, None)
        return self._call('delete_metadata', server_id, apply)

    def disable_host(self, host, reason):
        self.nova.disabled.add(host)

    def enable_host(self, host):
        self.nova.disabled.discard(host)


def api_error(code):
    if code == 409:
        return nova_exc.Conflict(409, 'Cannot do that while the instance '
                                 'is busy')
    if code == 401:
        return nova_exc.Unauthorized(401, 'The request you have made '
                                     'requires authentication.')
    return nova_exc.ClientException(code, 'Service Unavailable' if
                                    code == 503 else 'Internal Server Error')


def timeout_error(applied):
    if applied:
        return ks_exc.UnknownConnectionError(
            'reply lost: connection reset after the request was sent',
            ConnectionResetError(104, 'Connection reset by peer'))
    return ks_exc.ConnectTimeout('Request to nova timed out')
