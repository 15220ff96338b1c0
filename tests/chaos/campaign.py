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
"""The randomized fault campaign: one seed, one schedule, one drain.

:func:`draw` turns a seed into a drain (VMs, sources, allowed targets) and
a schedule of faults at random points of it; :func:`run` drives the real
engine (:class:`~nova_migration_ext.engine.engine.Engine` and its
:class:`~nova_migration_ext.engine.executor.Executor`, store on a
SQLite file) against :mod:`tests.chaos.simnova`, the simulated nova that
stands in for the embedded cloud, and checks the invariants after every
step and at the end. ``python -m tests.chaos.campaign --schedules N
[--seed S]`` (``tools/chaos.sh``) runs many. See doc/chaos.md.
"""

import argparse
import datetime
import logging
import os
import random
import shutil
import sys
import tempfile
import time

import sqlalchemy as sa

from nova_migration_ext.contract import states
from nova_migration_ext.engine import engine as engine_mod
from nova_migration_ext.engine import models
from nova_migration_ext.engine import store as store_mod
from tests.chaos import simnova

SOURCES = ['old1', 'old2']
TARGETS = ['new1', 'new2', 'new3']
STEP_SECONDS = 5
MAX_STEPS = 1500
START = datetime.datetime(2026, 1, 1, 8, 0, 0)
OWNERS = ('evacuator-1', 'evacuator-2')
EXECUTOR_ARGS = dict(stuck_after=60, retry_base=5.0, settle_seconds=10.0,
                     unanswered_timeout=300, lease_seconds=3600)

# Gateway calls an API fault may hit, weighted towards the ones that act.
API_CALLS = ['live_migrate'] * 4 + ['cold_migrate'] * 3 + [
    'get_server', 'get_server', 'migrations', 'migrations', 'live_progress',
    'reset_state', 'confirm_resize', 'revert_resize',
    'abort_live_migration', 'guest_state', None]
LIVE_OUTCOMES = ['rpc_timeout', 'fail', 'fail_late_error', 'hang',
                 'error_after_move', 'error_no_move', 'token_expiry',
                 'token_expiry_migrating']
COLD_OUTCOMES = ['rpc_timeout', 'fail', 'fail_late_error',
                 'error_after_move', 'error_no_move', 'token_expiry',
                 'guest_not_started']
# Faults the engine is known not to handle yet (doc/chaos.md): drawn
# only with --all-faults.
OPEN_OUTCOMES = ['cold_hang']
FAULT_KINDS = ['api', 'api', 'api', 'migration', 'migration', 'migration',
               'owner_delete', 'owner_stop', 'crash', 'takeover',
               'db_outage']
ACTIONS = {'live_migrate': 'submit', 'cold_migrate': 'submit',
           'reset_state': 'reset', 'abort_live_migration': 'abort',
           'confirm_resize': 'confirm', 'revert_resize': 'revert'}


class Crash(BaseException):
    """The evacuator process dies here (SIGKILL): nothing more runs."""


class ChaosStore(store_mod.Store):
    """The engine's store; its database can be made to go away."""

    down_until = None
    clock = None

    def session(self):
        if self.down_until is not None and self.clock() < self.down_until:
            raise sa.exc.OperationalError(
                'SELECT 1', {}, Exception('(2013) Lost connection to '
                                          'MySQL server during query'))
        return super().session()


# -- drawing ------------------------------------------------------------------

def draw(seed, all_faults=False):
    """The drain and the fault schedule of *seed*."""
    rng = random.Random(seed)
    vms = []
    for i in range(rng.randint(3, 8)):
        status = 'SHUTOFF' if rng.random() < 0.25 else 'ACTIVE'
        if status == 'SHUTOFF':
            method = 'cold'
        else:
            method = rng.choice(['live', 'block', 'block', 'cold'])
        vms.append({'id': 'vm%02d' % i, 'source': rng.choice(SOURCES),
                    'status': status, 'method': method,
                    'target': rng.choice(TARGETS),
                    'downtime': rng.random() < 0.6,
                    'ticks': rng.randint(2, 8)})
    faults = []
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(FAULT_KINDS)
        vm = rng.choice(vms)['id']
        at = rng.randint(0, 60)       # gateway call number / step
        if kind == 'api':
            code = rng.choice([500, 503, 409, 401, 'timeout', 'timeout'])
            faults.append({'kind': 'api', 'call': rng.choice(API_CALLS),
                           'error': code, 'at': at,
                           'applied': rng.random() < 0.5,
                           'count': rng.choice([1, 1, 2, 5, 40])})
        elif kind == 'migration':
            outcomes = LIVE_OUTCOMES + COLD_OUTCOMES
            if all_faults:
                outcomes = outcomes + OPEN_OUTCOMES
            faults.append({'kind': 'migration', 'vm': vm,
                           'outcome': rng.choice(outcomes),
                           'nth': rng.choice([0, 0, 1])})
        elif kind in ('owner_delete', 'owner_stop'):
            faults.append({'kind': kind, 'vm': vm,
                           'step': rng.randint(0, 40)})
        elif kind == 'crash':
            faults.append({'kind': 'crash', 'at': at,
                           'applied': rng.random() < 0.5})
        elif kind == 'takeover':
            faults.append({'kind': 'takeover', 'at': at,
                           'applied': rng.random() < 0.5})
        else:
            faults.append({'kind': 'db_outage', 'at': at,
                           'seconds': rng.choice([5, 20, 60, 400]),
                           'applied': rng.random() < 0.5})
    return {'seed': seed, 'vms': vms,
            'policy': {'method': 'auto', 'allow_downtime': False,
                       'downtime_servers': {
                           v['id']: True for v in vms if v['downtime']},
                       'max_per_source': rng.choice([1, 2, 3]),
                       'max_per_target': 2, 'max_total': 4,
                       'max_attempts': rng.choice([2, 3]),
                       'live_failures_before_cold': 2},
            'faults': faults}


def describe(schedule):
    lines = ['seed %d: %d VM(s)' % (schedule['seed'], len(schedule['vms']))]
    for vm in schedule['vms']:
        lines.append('  %(id)s %(status)s on %(source)s -> %(target)s '
                     '%(method)s downtime=%(downtime)s' % vm)
    for fault in schedule['faults']:
        lines.append('  fault %s' % ', '.join(
            '%s=%s' % item for item in sorted(fault.items())))
    return '\n'.join(lines)


# -- running ------------------------------------------------------------------

class Run:
    """One drain of one schedule, faults injected, invariants checked."""

    def __init__(self, schedule, workdir):
        self.schedule = schedule
        self.nova = simnova.SimNova(START)
        for vm in schedule['vms']:
            self.nova.add(vm['id'], vm['source'], vm['status'])
        self.fired = []
        self.violations = []
        self.armed_api = []
        self.pending = [dict(f) for f in schedule['faults']]
        self.calls = 0
        self.step = 0
        self.depth = 0
        self.ticking = None
        self.raised = {}    # exception name -> passes it ended
        self.moved_twice = set()
        self.store = ChaosStore('sqlite:///%s' % os.path.join(
            workdir, 'evacuator.sqlite'))
        self.store.clock = lambda: self.nova.now
        self.store.upgrade()
        self.gateway = simnova.SimGateway(self.nova, self.inject)
        self.ticks = {}     # calls by migration id, to tick its length
        for fault in self.pending:
            if fault['kind'] == 'migration':
                outcome = fault['outcome']
                vm = self.nova.vms[fault['vm']]
                vm.armed.extend(['ok'] * fault['nth'] + [outcome])
        self.pending = [f for f in self.pending if f['kind'] != 'migration']
        tasks = [{'server_id': vm['id'], 'server_name': 'vm-' + vm['id'],
                  'project_id': 'p1', 'source_host': vm['source'],
                  'original_status': vm['status'], 'method': vm['method'],
                  'target_host': vm['target'], 'bytes_total': 8 * 2 ** 30,
                  'expected_seconds': 60.0, 'verdicts': []}
                 for vm in schedule['vms']]
        self.evacuation_id = self.store.create_evacuation(
            source_hosts=sorted({v['source'] for v in schedule['vms']}),
            target_hosts=TARGETS, policy=schedule['policy'], tasks=tasks,
            actor='chaos')
        self.engines = {owner: engine_mod.Engine(
            self.store, self.gateway, owner=owner,
            clock=lambda: self.nova.now, **EXECUTOR_ARGS)
            for owner in OWNERS}
        self.engines[OWNERS[0]].start(self.evacuation_id, actor='chaos')
        self.executors = {OWNERS[0]: self.new_executor(OWNERS[0])}

    def new_executor(self, owner):
        """A fresh process: nothing of its predecessor's memory."""
        return self.engines[owner].executor(self.evacuation_id)

    # -- fault injection (every gateway call passes here) --------------------

    def inject(self, name, server_id, run):
        self.calls += 1
        for fault in list(self.pending):
            if fault['kind'] in ('crash', 'takeover', 'db_outage') and \
                    self.calls >= fault['at'] and \
                    not (fault['kind'] == 'takeover' and self.depth):
                self.pending.remove(fault)
                self.fired.append(fault)
                return self.around(fault, run)
            if fault['kind'] == 'api' and self.calls >= fault['at']:
                self.pending.remove(fault)
                self.armed_api.append(dict(fault))
        for fault in self.armed_api:
            if fault['call'] in (None, name):
                fault['count'] -= 1
                if fault['count'] <= 0:
                    self.armed_api.remove(fault)
                if fault not in self.fired:
                    self.fired.append(fault)
                return self.api_fault(fault, name, run)
        return run()

    def api_fault(self, fault, name, run):
        error = fault['error']
        applied = fault['applied'] and error in (500, 503, 'timeout')
        if applied:
            try:
                run()
            except Exception:
                pass
        if error == 'timeout':
            raise simnova.timeout_error(applied)
        raise simnova.api_error(error)

    def around(self, fault, run):
        """Crash, take-over or outage, before or after the call applies."""
        result = None
        if fault['applied']:
            result = run()
        if fault['kind'] == 'crash':
            raise Crash()
        if fault['kind'] == 'db_outage':
            self.store.down_until = self.nova.now + datetime.timedelta(
                seconds=fault['seconds'])
        if fault['kind'] == 'takeover':
            self.take_over()
        if not fault['applied']:
            result = run()
        return result

    def take_over(self):
        """The caller stalled past its lease; the other evacuator takes it.

        The database's clock decides leases, so the stall is made by
        moving the lease's end into the past. The new owner runs a whole
        pass inside the old owner's call; the old owner's pass resumes
        after it, stale.
        """
        other = [o for o in OWNERS if o != self.ticking][0]
        with self.store.engine.begin() as conn:
            conn.execute(sa.update(models.Evacuation.__table__).where(
                models.Evacuation.__table__.c.id == self.evacuation_id
            ).values(lease_until=datetime.datetime(2000, 1, 1)))
        if other not in self.executors:
            self.executors[other] = self.new_executor(other)
        ticking = self.ticking
        self.depth += 1
        try:
            self.tick(other)
        finally:
            self.depth -= 1
            self.ticking = ticking

    # -- the loop ----------------------------------------------------------

    def tick(self, owner):
        self.ticking = owner
        try:
            self.executors[owner].tick()
        except Crash:
            self.executors[owner] = self.new_executor(owner)
        except Exception as exc:
            # The service's drive loop logs it (a database outage too),
            # backs off and ticks again; a pass that raises is not a
            # safety violation by itself.
            name = type(exc).__name__
            self.raised[name] = self.raised.get(name, 0) + 1
            logging.getLogger(__name__).debug('pass raised: %r', exc)

    def owner_faults(self):
        for fault in list(self.pending):
            if fault['kind'] in ('owner_delete', 'owner_stop') and \
                    self.step >= fault['step']:
                self.pending.remove(fault)
                if fault['kind'] == 'owner_delete':
                    done = self.nova.delete(fault['vm'])
                else:
                    done = self.nova.stop(fault['vm'])
                if done:
                    self.fired.append(fault)

    def finished(self):
        with self.store.session() as session:
            state = self.store.get(session, self.evacuation_id).state
        tasks = self.store.tasks(self.evacuation_id)
        return state in states.EVACUATION_FINAL and not any(
            t.state in states.TASK_ACTIVE for t in tasks)

    def drive(self):
        while self.step < MAX_STEPS:
            self.step += 1
            self.nova.advance(STEP_SECONDS)
            self.owner_faults()
            for owner in list(self.executors):
                self.tick(owner)
            self.check_step()
            if self.violations:
                break
            if self.store.down_until and \
                    self.nova.now >= self.store.down_until:
                self.store.down_until = None
            if self.store.down_until is None and self.finished() and \
                    not self.nova_busy():
                break
        return self.check_end()

    def nova_busy(self):
        return any(m.in_flight for m in self.nova.migrations
                   if not self.nova.vms[m.instance_uuid].deleted)

    # -- invariants ----------------------------------------------------------

    def check_step(self):
        self.violations.extend('step %d: %s' % (self.step, v)
                               for v in self.nova.violations)
        self.nova.violations = []
        if self.store.down_until is not None:
            return
        for task in self.store.tasks(self.evacuation_id):
            vm = self.nova.vms[task.server_id]
            if task.state == states.DONE and not vm.deleted and \
                    vm.host != task.target_host:
                self.violations.append(
                    'step %d: %s done but nova has it on %s (hosts %s)'
                    % (self.step, vm.id, vm.host, vm.hosts))
        for mig in self.nova.migrations:
            if mig.source in TARGETS and mig.id not in self.moved_twice:
                # It had arrived; a new migration moves it a second time.
                self.moved_twice.add(mig.id)
                self.violations.append(
                    'step %d: %s moved again, %s -> %s (migration %d)'
                    % (self.step, mig.instance_uuid, mig.source, mig.dest,
                       mig.id))

    def check_end(self):
        """Counts and end invariants; returns a result dict."""
        self.store.down_until = None
        # A migration fault counts once a migration met it.
        self.fired.extend({'kind': 'migration', 'vm': vm, 'outcome': o}
                          for vm, o in self.nova.outcomes if o != 'ok')
        result = {'seed': self.schedule['seed'], 'faults': len(self.fired),
                  'moved': 0, 'flagged': 0, 'gone': 0, 'lost': 0,
                  'steps': self.step, 'violations': list(self.violations),
                  'lost_vms': []}
        with self.store.session() as session:
            state = self.store.get(session, self.evacuation_id).state
        if state != states.COMPLETED:
            result['violations'].append('evacuation ends %s after %d steps'
                                        % (state, self.step))
        if self.nova_busy():
            result['violations'].append('nova still migrating at the end')
        for task in self.store.tasks(self.evacuation_id):
            vm = self.nova.vms[task.server_id]
            if task.state in states.TASK_ACTIVE or task.state in (
                    states.PENDING, states.RETRY_WAIT):
                result['violations'].append(
                    '%s left %s' % (vm.id, task.state))
            if task.state == states.NEEDS_OPERATOR:
                result['flagged'] += 1
                if not (task.remedy or '').strip():
                    result['violations'].append(
                        '%s needs the operator, no reason' % vm.id)
                continue
            if vm.deleted:
                if task.state == states.GONE or task.state == states.DONE:
                    result['gone'] += 1
                else:
                    result['lost'] += 1
                    result['lost_vms'].append('%s deleted, task %s'
                                              % (vm.id, task.state))
                continue
            if task.state == states.GONE:
                result['lost'] += 1
                result['lost_vms'].append('%s marked gone but exists on %s'
                                          % (vm.id, vm.host))
                continue
            # (moved exactly once: no migration started from a target,
            # checked at every step)
            if task.state == states.DONE and vm.host == task.target_host \
                    and vm.host in TARGETS and \
                    vm.status in ('ACTIVE', 'SHUTOFF') and \
                    vm.task_state is None and vm.guest_host == vm.host:
                result['moved'] += 1
                continue
            result['lost'] += 1
            result['lost_vms'].append(
                '%s task %s, nova: %s %s on %s (hosts %s), guest on %s'
                % (vm.id, task.state, vm.status, vm.task_state, vm.host,
                   vm.hosts, vm.guest_host))
        result['violations'].extend(self.check_audit())
        return result

    def check_audit(self):
        """Every action the engine asked of nova is in the audit log."""
        log = self.store.audit_log(self.evacuation_id)
        found = []
        asked = {}
        for _when, name, server_id, outcome in self.gateway.calls:
            if name in ACTIONS and outcome == 'ok':
                key = (server_id, ACTIONS[name])
                asked[key] = asked.get(key, 0) + 1
        words = {'submit': ('task-submitting',), 'reset': ('reset',),
                 'abort': ('abort',), 'confirm': ('confirm',),
                 'revert': ('revert',)}
        for (server_id, action), count in sorted(asked.items()):
            entries = [e for e in log if server_id in (e.detail or '') and
                       any(w in e.action or w in (e.detail or '').lower()
                           for w in words[action])]
            if len(entries) < count:
                found.append('audit: %d %s(s) of %s asked of nova, %d '
                             'audit entr(ies) say so'
                             % (count, action, server_id, len(entries)))
        return found


def run_seed(seed, all_faults=False, keep=None):
    """Draw and run *seed*; returns the result dict (with the schedule)."""
    schedule = draw(seed, all_faults)
    workdir = tempfile.mkdtemp(prefix='chaos-%d-' % seed)
    try:
        run = Run(schedule, workdir)
        try:
            result = run.drive()
        finally:
            run.store.engine.dispose()
        result['schedule'] = schedule
        result['calls'] = len(run.gateway.calls)
        result['raised'] = dict(run.raised)
        result['fired'] = [f['kind'] for f in run.fired]
        if keep is not None:
            keep['run'] = run
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Randomized fault campaign (simulated nova stand-in).')
    parser.add_argument('--schedules', type=int, default=100)
    parser.add_argument('--seed', type=int, default=1,
                        help='first seed; schedule i uses seed S+i')
    parser.add_argument('--all-faults', action='store_true',
                        help='also draw faults the engine is known not to '
                        'handle yet (cold migration hangs)')
    parser.add_argument('-v', '--verbose', action='store_true')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    totals = dict.fromkeys(['faults', 'moved', 'flagged', 'lost'], 0)
    violations = 0
    failing = []
    began = time.monotonic()
    for seed in range(args.seed, args.seed + args.schedules):
        result = run_seed(seed, args.all_faults)
        for key in totals:
            totals[key] += result[key]
        violations += len(result['violations'])
        if result['violations'] or result['lost']:
            failing.append(seed)
            print('FAILING SEED %d (replay: tools/chaos.sh --seed %d '
                  '--schedules 1%s)' % (seed, seed, ' --all-faults'
                                        if args.all_faults else ''))
            print(describe(result['schedule']))
            for text in result['violations'] + result['lost_vms']:
                print('  !! %s' % text)
        elif args.verbose:
            print('seed %d ok: %d fault(s) %s, %d steps, %d calls, passes '
                  'that raised: %s' % (seed, result['faults'],
                                       ','.join(result['fired']),
                                       result['steps'], result['calls'],
                                       result['raised'] or 'none'))
        sys.stdout.flush()
    elapsed = time.monotonic() - began
    print('%.3f s per schedule (simulated nova), failing seeds: %s'
          % (elapsed / max(args.schedules, 1),
             ' '.join(map(str, failing)) or 'none'))
    print('schedules: %d, faults: %d, moved: %d, flagged: %d, lost: %d, '
          'violations: %d' % (args.schedules, totals['faults'],
                              totals['moved'], totals['flagged'],
                              totals['lost'], violations))
    return 1 if totals['lost'] or violations else 0


if __name__ == '__main__':
    sys.exit(main())
