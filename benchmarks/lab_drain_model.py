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
"""Benchmark: the drain model's prediction against a real lab drain.

Usage (as root, the lab up: ``tools/lab.sh up``)::

    PYTHONPATH=. PYTHONWARNINGS=ignore .venv/bin/python \\
        benchmarks/lab_drain_model.py

1. **Calibration**: the evacuator (``tests/lab/drain.py``) moves one
   running VM (block live migration) and then one stopped VM (cold) off
   c1, each alone. From the engine's own records (a task's submit to its
   end) and libvirt's statistics of the block migration on the
   destination (bytes processed, time elapsed) come the model's
   parameters: the link's rate, the dirty rate, and each method's setup
   time (the task's time less its copy).
2. **The drain**: the lab demo's five VMs (three on c1, two on c2; one
   with a volume, one of a deleted image, one stopped) drained onto c3
   with the default policy.
3. **The prediction**: the drain model (``drain_model.simulate``) runs
   the same tasks (bytes, methods) under the executor's scheduler with
   the plan's limits and the calibrated parameters. Three VMs moved at
   once beforehand say how setups contend and what bounds a copy here:
   the host's link, shared (``link``), or each copy's own stream
   (``stream``, the hosts' links and disks as published).

Each step runs ``--repeat`` drains (default 3): the calibration's
medians, the parallelism that fits them best on average, and the
median measured and predicted makespans of the drains (a lone move
here took 4 to 22 s from one run to the next).

The last line: ``lab drain: measured X s, predicted Y s (Z% off)``.
"""

import argparse
import collections
import statistics
import sys
import time

from nova_migration_ext.compute import host_stats
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.engine import drain_model
from nova_migration_ext.engine import executor
from nova_migration_ext.engine import scheduling
from nova_migration_ext.engine import store as store_mod
from tests.lab import config
from tests.lab import drain as lab_drain


def quiet(text=''):
    pass


def drained(kinds, sources, plan_args=('--allow-downtime',)):
    """Run a drain of *kinds*; returns (drain, evacuation, tasks)."""
    drain = lab_drain.Drain(out=quiet, sources=sources, targets=('c3',),
                            kinds=kinds, plan_args=plan_args)
    try:
        drain.seed()
        drain.start_evacuator()
        store = store_mod.Store(config.db_url('evacuator'))
        wait_for_measurements(drain, store)
        evacuation, _elapsed = drain.drain()
        with store.session() as session:
            row = store.get(session, evacuation)
            info = {'policy': row.policy, 'plan': row.plan_summary,
                    'state': row.state}
        tasks = store.tasks(evacuation)
        return drain, info, tasks
    except BaseException:
        drain.cleanup()
        raise


def wait_for_measurements(drain, store, timeout=180):
    """Until the evacuator has its VMs' dirty rates and disk sizes.

    The computes measure them at every resource-tracker update (every
    20 s in the lab) and publish them with their facts; a dirty rate
    needs two updates (one starts the measure, the next reads it).
    """
    deadline = time.monotonic() + timeout
    while True:
        facts = store.host_facts(600)
        missing = []
        for server_id, record in drain.servers.items():
            known = host_stats.from_stats(
                record['source'], facts.get(record['source']))
            if server_id not in (known.instance_disk_bytes or {}) or (
                    record['kind'] != 'stopped' and
                    server_id not in (known.dirty_rates or {})):
                missing.append(record['name'])
        if not missing:
            return
        if time.monotonic() > deadline:
            raise RuntimeError('No measurements of %s after %d s'
                               % (', '.join(missing), timeout))
        time.sleep(5)


def seconds(task):
    return (task.finished_at - task.submitted_at).total_seconds()


CALIBRATION = (('run', 'c1', {}),) * 3 + \
    (('stopped', 'c1', {'stop': True}),) * 2


def calibrate(repeat):
    """Setup per method and link rate, from moves one at a time.

    Three running VMs (block live migration) and two stopped ones (cold)
    off c1 onto c3 with ``--max-total 1``: each alone on the links;
    *repeat* such drains. A method's setup is the median of its tasks'
    times (submit to done, as the engine records them, to the second)
    less their copy: for a block migration the stream's time from
    libvirt's statistics on c3, for a cold one its bytes at the copy
    tool's rate.
    """
    setups = collections.defaultdict(list)
    rates = []
    for _run in range(repeat):
        _calibration_drain(setups, rates)
    setup = {method: statistics.median(values)
             for method, values in setups.items()}
    return setup, statistics.median(rates)


def _calibration_drain(setups, rates):
    drain, info, tasks = drained(CALIBRATION, ('c1',),
                                 ('--allow-downtime', '--max-total', '1'))
    try:
        streams = {}
        for server_id, record in drain.servers.items():
            if record['kind'] == 'run':
                streams[server_id] = drain.guests.job_info(
                    record['server'], 'c3')
    finally:
        drain.cleanup()
    for task in tasks:
        if task.state != 'done':
            raise RuntimeError('calibration move of %s ended %s'
                               % (task.server_name, task.state))
        if task.method == drain_policy.METHOD_COLD:
            copy = task.bytes_total / drain_model.COLD_COPY_BYTES_PER_S
        else:
            job = streams[task.server_id]
            copy = job['Time elapsed'][0] / 1000.0
            moved = sum(_bytes(job.get(key)) for key in (
                'Memory processed', 'File processed'))
            rates.append(moved / copy)
        setups[task.method].append(seconds(task) - copy)
        print('  %-5s alone: %4.1f s from submit to done, copy %4.1f s'
              % (task.method, seconds(task), copy))


UNITS = {'B': 1, 'KiB': 1024, 'MiB': 1024 ** 2, 'GiB': 1024 ** 3}


def _bytes(value):
    if not value:
        return 0.0
    number, unit = value
    return number * UNITS.get(unit.split('/')[0], 1)


# What bounds a copy in the lab, as the model can say it:
# ``link``: the rate one stream reached alone is each host's link, shared
# by the copies on it; ``stream``: it is each copy's own cap (QEMU's
# CPU-bound migration thread under TCG), the hosts' links (veths) and
# disks being what their computes published. The three-at-once drain
# decides which one the lab follows.
PHYSICS = ('link', 'stream')


def predict(info, tasks, setup, rate, parallelism=None, physics='link'):
    """The model's run of *tasks*: (result, limits).

    The scheduler decides with what the executor knew (the plan's links,
    disks and limits); the copies run as *physics* says, at the rate
    measured in the lab.
    """
    policy = drain_policy.Policy.from_dict(info['policy'])
    believed, limits = scheduling.for_plan(info['plan'], policy)
    jobs = []
    for task in tasks:
        job = executor.task_job(task, policy)
        job.setup = setup.get(task.method, setup[drain_policy.METHOD_BLOCK])
        if physics == 'stream' and job.method != drain_model.COLD:
            job.cap = min(job.cap or rate, rate)
        jobs.append(job)
    scheduler = scheduling.Scheduler(policy, jobs, believed, limits)
    links = believed if physics == 'stream' else (lambda host: rate)
    result = drain_model.simulate(jobs, scheduler, links,
                                  setup_parallelism=parallelism)
    return result, scheduler.limits


def makespan(tasks):
    first = min(t.submitted_at for t in tasks)
    last = max(t.finished_at for t in tasks)
    return (last - first).total_seconds(), first


CONTENTION = (('run', 'c1', {}),) * 3


def fit_parallelism(setup, rate, repeat):
    """Setups c3 runs at full speed at once, from three moved together.

    Three running VMs off c1 at once (``--max-per-source 3``), *repeat*
    times; the parallelism whose predictions come closest to their
    measured makespans on average, from 0.5 to 8 in steps of 0.1 (above
    3 it changes nothing).
    """
    runs = []
    for _run in range(repeat):
        drain, info, tasks = drained(CONTENTION, ('c1',), (
            '--allow-downtime', '--max-per-source', '3',
            '--max-per-target', '3'))
        drain.cleanup()
        runs.append((info, tasks, makespan(tasks)[0]))
    measured = statistics.median(run[2] for run in runs)

    def error(parallelism, physics):
        return statistics.mean(
            abs(predict(info, tasks, setup, rate, parallelism, physics)[0]
                .makespan - seconds)
            for info, tasks, seconds in runs)

    def median_prediction(parallelism, physics):
        return statistics.median(
            predict(info, tasks, setup, rate, parallelism, physics)[0]
            .makespan for info, tasks, _seconds in runs)

    fits = []
    for physics in PHYSICS:
        off, parallelism = min((error(p / 10.0, physics), p / 10.0)
                               for p in range(5, 81))
        print('three at once: measured %s s (median %.1f); %s model %.1f s '
              'without setup contention, setup parallelism %.1f fits '
              '(%.1f s)'
              % (', '.join('%.1f' % run[2] for run in runs), measured,
                 physics, median_prediction(None, physics), parallelism,
                 median_prediction(parallelism, physics)))
        fits.append((off, PHYSICS.index(physics), physics, parallelism))
    _error, _index, physics, parallelism = min(fits)
    print('the lab follows the %s model' % physics)
    return physics, parallelism


def one_drain(setup, rate, physics, parallelism):
    """The lab demo's drain, measured and predicted; its three makespans."""
    drain, info, tasks = drained(lab_drain.KINDS, lab_drain.SOURCES)
    drain.cleanup()
    states = collections.Counter(t.state for t in tasks)
    measured, first = makespan(tasks)
    result, limits = predict(info, tasks, setup, rate, parallelism,
                             physics)
    plain, _limits = predict(info, tasks, setup, rate, None, physics)
    for other in PHYSICS:
        if other != physics:
            print('the %s model would say %.1f s' % (other, predict(
                info, tasks, setup, rate, parallelism, other)[0].makespan))
    print('measured dirty rates (MB/s): %s' % ', '.join(
        '%.1f' % ((t.dirty_bytes_per_s or 0) / 1e6) for t in tasks))
    print('drain: %d VMs (%s), %s, limits %s/%s/%s'
          % (len(tasks), ', '.join('%s %d' % kv for kv in sorted(
              collections.Counter(t.method for t in tasks).items())),
             ', '.join('%s %d' % kv for kv in sorted(states.items())),
             limits.per_source, limits.per_target, limits.total or '-'))
    for task in tasks:
        print('  %-28s %-5s %6.0f MB  submitted +%5.1f s  ended +%5.1f s, '
              'model +%5.1f s'
              % (task.server_name, task.method, task.bytes_total / 1e6,
                 (task.submitted_at - first).total_seconds(),
                 (task.finished_at - first).total_seconds(),
                 result.ends[task.id]))
    print('measured %.1f s, predicted %.1f s (%.0f%% off); without setup '
          'contention %.1f s (%.0f%% off)'
          % (measured, result.makespan, off(result.makespan, measured),
             plain.makespan, off(plain.makespan, measured)))
    return measured, result.makespan, plain.makespan


def off(predicted, measured):
    return 100.0 * abs(predicted - measured) / measured


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=3,
                        help='drains of each kind, for medians (default 3)')
    args = parser.parse_args(argv)
    started = time.monotonic()
    setup, rate = calibrate(args.repeat)
    print('parameters: setup %s, link %.0f MB/s'
          % (', '.join('%s %.1f s' % kv for kv in sorted(setup.items())),
             rate / 1e6))
    physics, parallelism = fit_parallelism(setup, rate, args.repeat)
    runs = [one_drain(setup, rate, physics, parallelism)
            for _run in range(args.repeat)]
    measured, predicted, plain = (statistics.median(run[i] for run in runs)
                                  for i in range(3))
    print('without setup contention the model says %.1f s (%.0f%% off)'
          % (plain, off(plain, measured)))
    print('wall time %.0f s' % (time.monotonic() - started))
    print('lab drain: measured %.1f s, predicted %.1f s (%.0f%% off)%s'
          % (measured, predicted, off(predicted, measured),
             ', medians of %d drains' % len(runs) if len(runs) > 1 else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
