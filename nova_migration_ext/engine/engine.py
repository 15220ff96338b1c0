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
"""The engine's public operations.

Plan, start, pause, resume, cancel, retry, skip and show; the REST API
(:mod:`nova_migration_ext.api`) and the evacuator service call these.
"""

import collections
import functools
import time

from nova_migration_ext.contract import drains
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import executor as executor_mod
from nova_migration_ext.engine import inventory
from nova_migration_ext.engine import planner as planner_mod
from nova_migration_ext.engine import scheduling


def _fraction_done(task):
    """How much of a task's bytes have moved, from 0.0 to 1.0."""
    if task.state == states.DONE:
        return 1.0
    if not task.bytes_total:
        return 0.0
    return min(task.bytes_done, task.bytes_total) / task.bytes_total


def progress(tasks):
    """Percent of *tasks*' bytes moved, to one decimal.

    Each task has ``state``, ``bytes_total`` and ``bytes_done``.
    """
    total = sum(t.bytes_total for t in tasks) or 1
    done = sum(t.bytes_total * _fraction_done(t) for t in tasks)
    return round(100.0 * done / total, 1)


def remaining_seconds(tasks, policy, plan_summary=None):
    """Seconds the drain of *tasks* is expected to go on.

    The drain model (:mod:`.drain_model`) runs what is left, under the
    executor's scheduler: moves under way first, for the bytes they have
    left and past their setup once they copy; VMs left for the operator
    count no time.
    """
    jobs, under_way = [], []
    for task in tasks:
        if task.state in states.TASK_FINAL or \
                task.state == states.NEEDS_OPERATOR:
            continue
        job = executor_mod.task_job(task, policy)
        job.bytes *= 1.0 - _fraction_done(task)
        if job.memory is not None:      # the memory goes last
            job.memory = min(job.memory, job.bytes)
        jobs.append(job)
        if task.state in states.TASK_ACTIVE:
            if task.bytes_done:
                job.setup = 0.0
            under_way.append(job)
    link, limits = scheduling.for_plan(plan_summary, policy)
    result, _limits = scheduling.estimate(jobs, policy, link, limits,
                                          under_way)
    return result.makespan


def stored_plan(summary):
    """The :class:`~.drains.Plan` of an evacuation's ``plan_summary``.

    The summary also keeps the engine's own ``links`` and ``disks``;
    records of earlier releases counted their moves under ``moves``.
    """
    if not summary:
        return None
    data = {key: value for key, value in summary.items()
            if key not in ('links', 'disks')}
    for key in ('moves', 'unplaceable'):
        if not isinstance(data.get(key), list):
            data.pop(key, None)
    return drains.Plan.from_dict(data, strict=False)


def _earlier_error(task):
    """'; on <target>: <error>' of *task*'s last attempt, or ''."""
    error = task.last_error or task.remedy
    return '; on %s: %s' % (task.target_host, error) if error else ''


def task_resource(task):
    """The :class:`~.drains.Task` of a stored task row."""
    return drains.Task(
        server_id=task.server_id, name=task.server_name,
        source=task.source_host, target=task.target_host,
        method=task.method, state=task.state, phase=task.phase or '',
        progress=round(100.0 * _fraction_done(task), 1),
        attempts=task.attempts, last_error=task.last_error,
        remedy=task.remedy)


def task_counts(tasks):
    """``{state: number of tasks in it}``."""
    return dict(collections.Counter(task.state for task in tasks))


def drain_resource(evacuation, task_rows, **details):
    """The :class:`~.drains.Drain` of a stored evacuation and its tasks.

    The summary (state, times, counts, progress) a list shows; *details*
    add what showing one adds (tasks, ETA, lease, ...). *task_rows* need
    only ``state``, ``bytes_total`` and ``bytes_done``.
    """
    return drains.Drain(
        id=evacuation.id, name=evacuation.name, state=evacuation.state,
        sources=list(evacuation.source_hosts), owner=evacuation.owner,
        created_at=evacuation.created_at,
        started_at=evacuation.started_at,
        finished_at=evacuation.finished_at, counts=task_counts(task_rows),
        vms=len(task_rows), progress=progress(task_rows), **details)


def _lease_text(evacuation, now):
    """Whether an evacuator drives *evacuation*, from its lease.

    Each evacuator renews the lease of what it drives at every pass; one
    whose passes fail (database or RabbitMQ gone) stops renewing it, and
    none takes over while every evacuator fails. *now* is the database's
    clock, the one the leases run on.
    """
    if evacuation.state not in (states.RUNNING, states.PAUSED):
        return ''
    if evacuation.lease_until is None:
        return 'no evacuator has picked it up yet'
    left = (evacuation.lease_until - now).total_seconds()
    if left >= 0:
        return '%s, renewed (%d s left)' % (evacuation.owner, left)
    return ('%s stopped renewing it %d s ago: no evacuator drives it. '
            'Check that nova-migration-evacuator runs and reaches its '
            'database (its log says why its passes fail)'
            % (evacuation.owner, -left))


def _window_text(policy, state):
    """The policy's start window, and whether it holds new moves back."""
    if not policy.window:
        return ''
    text = '%s-%s UTC' % tuple(policy.window)
    if state == states.RUNNING and not policy.in_window(
            executor_mod.utcnow()):
        text += ': outside it, no new migration starts'
    return text


class Engine:
    """Operations on evacuations, over a store and a nova gateway.

    :param facts_max_age: seconds after which the facts a compute published
        (image cache, real free disk) are too old for the planner.
    :param executor_args: passed to each :class:`~.executor.Executor`.
    """

    def __init__(self, store, gateway, owner='evacuator', facts_max_age=900,
                 **executor_args):
        self.store = store
        self.gateway = gateway
        self.owner = owner
        self.facts_max_age = facts_max_age
        self.executor_args = executor_args

    def _busy_hosts(self):
        busy = set()
        for evacuation in self.store.list_evacuations():
            if evacuation.state in (states.RUNNING, states.PAUSED,
                                    states.PLANNED):
                busy.update(evacuation.source_hosts)
        return busy

    def _targets(self, sources, targets, target_aggregate):
        """The allowed targets: the hosts given, or the aggregate's.

        An aggregate's hosts that are also sources are left out (an
        aggregate often spans a whole zone).
        """
        if not target_aggregate:
            return targets
        if targets:
            raise planner_mod.PlanError(
                'Give target hosts or a target aggregate, not both.')
        aggregates = self.gateway.aggregates()
        if target_aggregate not in aggregates:
            raise planner_mod.PlanError(
                'Unknown host aggregate %s. Known aggregates: %s.'
                % (target_aggregate, ', '.join(sorted(aggregates)) or
                   'none'))
        hosts = [h for h in aggregates[target_aggregate]
                 if h not in sources]
        if not hosts:
            raise planner_mod.PlanError(
                'Host aggregate %s has no host besides the sources; add '
                'hosts to it or name target hosts.' % target_aggregate)
        return hosts

    def _check_cap(self, policy):
        """A cap needs the key that lets the driver trust it."""
        if policy.max_bandwidth_mib_per_s and \
                not self.executor_args.get('bandwidth_cap_secret'):
            raise planner_mod.PlanError(
                'A bandwidth cap needs [evacuator] bandwidth_cap_secret '
                '(and the same [migration_ext] bandwidth_cap_secret on the '
                'computes); set it or leave the cap out.')

    def dry_run(self, sources, targets=None, policy=None,
                target_aggregate=None):
        """Plan without storing anything.

        :param targets: allowed target hosts; or
        :param target_aggregate: name of the host aggregate whose hosts
            are the allowed targets. Default: every other enabled host.
        """
        policy = policy or drain_policy.Policy()
        self._check_cap(policy)
        targets = self._targets(sources, targets, target_aggregate)
        facts = self.store.host_facts(self.facts_max_age)
        hosts = inventory.with_facts(self.gateway.hosts(), facts)
        servers = inventory.with_measurements(self.gateway.servers_on(
            [s for s in sources if s in {h.name for h in hosts}]), facts)
        return planner_mod.Planner(hosts, servers, policy).plan(
            sources, targets, busy_hosts=self._busy_hosts())

    def plan(self, sources, targets=None, policy=None, actor='admin',
             name='', target_aggregate=None):
        """Plan and store an evacuation; returns (id, plan)."""
        policy = policy or drain_policy.Policy()
        targets = self._targets(sources, targets, target_aggregate)
        plan = self.dry_run(sources, targets, policy)
        totals = plan.to_resource().to_dict()
        totals['links'] = plan.links
        totals['disks'] = plan.disks
        tasks = [m.task_fields() for m in plan.moves]
        evacuation_id = self.store.create_evacuation(
            source_hosts=sources, target_hosts=targets,
            target_aggregate=target_aggregate, policy=policy.to_dict(),
            tasks=tasks, actor=actor, name=name,
            plan_summary=totals)
        return evacuation_id, plan

    def start(self, evacuation_id, actor='admin'):
        """Disable the sources, then let the executor run."""
        with self.store.session() as session:
            evacuation = self.store.get(session, evacuation_id)
            sources = list(evacuation.source_hosts)
            states.check_transition('evacuation', evacuation.state,
                                    states.RUNNING)
        reason = 'Emptied by evacuation %s' % evacuation_id
        for host in sources:
            self.gateway.disable_host(host, reason)
            self.store.audit(evacuation_id, actor, 'disable-host',
                             '%s disabled: %s' % (host, reason))
        self.store.set_state(evacuation_id, states.RUNNING, actor)

    def pause(self, evacuation_id, actor='admin'):
        self.store.set_state(evacuation_id, states.PAUSED, actor,
                             'no new migrations; running ones finish')

    def resume(self, evacuation_id, actor='admin'):
        self.store.set_state(evacuation_id, states.RUNNING, actor)

    def cancel(self, evacuation_id, actor='admin'):
        """Stop the evacuation, leaving every VM consistent.

        Queued VMs are dropped, live migrations aborted where nova allows;
        cold migrations finish so nothing is half-moved.
        """
        self.store.set_state(evacuation_id, states.CANCELLED, actor)
        tasks = self.store.tasks(evacuation_id)
        for task in tasks:
            if task.state in (states.PENDING, states.RETRY_WAIT):
                self.store.update_task(task.id, actor,
                                       states.TASK_CANCELLED, 'cancelled')
            elif task.state == states.MIGRATING and \
                    task.method in executor_mod.LIVE_METHODS:
                migration_id, _s, _d, _t = self.gateway.live_progress(
                    task.server_id)
                if migration_id is not None:
                    try:
                        self.gateway.abort_live_migration(task.server_id,
                                                          migration_id)
                        self.store.audit(evacuation_id, actor, 'abort',
                                         'live migration of %s aborted'
                                         % task.server_id, task.id)
                    except Exception as exc:
                        self.store.audit(evacuation_id, actor, 'abort',
                                         'could not abort %s: %s'
                                         % (task.server_id, exc), task.id)
        with self.store.session() as session:
            policy = drain_policy.Policy.from_dict(
                self.store.get(session, evacuation_id).policy, strict=False)
        executor_mod.release_bandwidth_caps(self.gateway, tasks, policy)

    def _task(self, evacuation_id, server_id):
        for task in self.store.tasks(evacuation_id):
            if server_id in (task.server_id, task.server_name):
                return task
        raise LookupError('Evacuation %s has no VM %s.'
                          % (evacuation_id, server_id))

    def _check_target(self, evacuation_id, task, target):
        """Raise ValueError unless *target* may receive *task*'s VM."""
        with self.store.session() as session:
            sources = set(self.store.get(session,
                                         evacuation_id).source_hosts)
        if target == task.target_host:
            raise ValueError('%s is already the target of %s; retry '
                             'without a target to try it again.'
                             % (target, task.server_name))
        usable = sorted(host.name for host in self.gateway.hosts()
                        if host.enabled and host.up and
                        host.name not in sources and
                        host.name != task.target_host)
        if target in sources:
            raise ValueError('%s is a source of drain %s: it is being '
                             'emptied. Choose one of %s.'
                             % (target, evacuation_id, ', '.join(usable)))
        if target not in usable:
            raise ValueError('%s is not an enabled, running compute host. '
                             'Choose one of %s.'
                             % (target, ', '.join(usable) or 'none'))

    def retry(self, evacuation_id, server_id, actor='admin',
              allow_downtime=False, target=None):
        """Try one VM again; reopens a completed evacuation.

        Refused while the VM is being submitted or moved. With
        *allow_downtime*, the evacuation's policy lets this VM go cold
        first (the remedy for a VM live migration cannot move), and a VM
        that live migration already failed goes cold at once. With
        *target*, it goes to that host instead of its planned one (the
        remedy for a target that refused it, say too small a disk).

        :raises ValueError: when *target* cannot receive it.
        """
        task = self._task(evacuation_id, server_id)
        fields = {'attempts': 0}
        why = ''
        if target is not None:
            self._check_target(evacuation_id, task, target)
            # The error and remedy on record are the old target's: into
            # the audit entry with its name, not beside the new target.
            fields.update(target_host=target, last_error=None, remedy=None)
            why = ', to %s%s' % (target, _earlier_error(task))
        if allow_downtime:
            with self.store.session() as session:
                policy = drain_policy.Policy.from_dict(
                    self.store.get(session, evacuation_id).policy,
                    strict=False)
            if policy.method == drain_policy.METHOD_LIVE:
                raise states.InvalidTransition(
                    'Evacuation %s moves VMs by live migration only '
                    '(method live): plan another with --method auto to '
                    'let %s go cold.' % (evacuation_id, task.server_name))
            states.check_retry(task.state, server=server_id,
                               evacuation_id=evacuation_id)
            self.store.allow_downtime(evacuation_id, task.server_id, actor)
            if task.live_failures:
                fields['method'] = drain_policy.METHOD_COLD
        self.store.update_task(
            task.id, actor, states.PENDING, 'retry asked by %s%s%s' % (
                actor, ', downtime allowed' if allow_downtime else '', why),
            check=functools.partial(states.check_retry, server=server_id,
                                    evacuation_id=evacuation_id),
            **fields)
        with self.store.session() as session:
            state = self.store.get(session, evacuation_id).state
        if state == states.COMPLETED:
            self.store.set_state(evacuation_id, states.RUNNING, actor,
                                 'reopened to retry %s' % server_id)

    def skip(self, evacuation_id, server_id, actor='admin'):
        task = self._task(evacuation_id, server_id)
        self.store.update_task(task.id, actor, states.SKIPPED,
                               'skipped by %s' % actor)

    def executor(self, evacuation_id):
        return executor_mod.Executor(self.store, self.gateway,
                                     evacuation_id, owner=self.owner,
                                     **self.executor_args)

    def run(self, evacuation_id, poll_interval=2.0, timeout=None,
            on_tick=None):
        """Tick until the evacuation ends (or *timeout* seconds)."""
        executor = self.executor(evacuation_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = executor.tick()
            if on_tick is not None:
                on_tick(self.show(evacuation_id))
            tasks = self.store.tasks(evacuation_id)
            active = any(t.state in states.TASK_ACTIVE for t in tasks)
            if state in states.EVACUATION_FINAL and not active:
                return state
            if deadline is not None and time.monotonic() > deadline:
                return state
            time.sleep(poll_interval)

    def show(self, evacuation_id, with_audit=False):
        """A :class:`~.drains.Drain` with its tasks, progress and ETA.

        With *with_audit*, its audit log too.
        """
        with self.store.session() as session:
            evacuation = self.store.get(session, evacuation_id)
            lease = _lease_text(evacuation, self.store.db_now(session))
            policy = drain_policy.Policy.from_dict(evacuation.policy,
                                                   strict=False)
        tasks = self.store.tasks(evacuation_id)
        drain = drain_resource(
            evacuation, tasks,
            eta_seconds=round(remaining_seconds(
                tasks, policy, evacuation.plan_summary)),
            window=_window_text(policy, evacuation.state), lease=lease,
            policy=policy, plan=stored_plan(evacuation.plan_summary),
            tasks=[task_resource(task) for task in tasks])
        if with_audit:
            drain.audit = [drains.AuditEntry(at=entry.at, actor=entry.actor,
                                             action=entry.action,
                                             detail=entry.detail)
                           for entry in self.store.audit_log(evacuation_id)]
        return drain
