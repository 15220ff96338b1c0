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
"""The embedded demo: drain four old hosts of a small cloud, with faults.

Starts nova's real API, conductor, scheduler, placement and seven compute
services (our driver on nova's fake libvirt, SQLite, in-process
messaging), seeded with the operators' situation: four old hosts with 40
VMs (some with volumes, some booted from images deleted since, some
stopped, some larger) and three new hosts with uneven free disk. Faults
are injected once each: an RPC time-out, a "Network filter not found", a
post-migration call failing with 401 (token expired after the move), a
migration that hangs and a guest that does not start after a cold
migration. The engine drains the old hosts through nova's API; the plan, a
live progress line and a final report are printed.

Exits non-zero if any VM was lost or left in a transitional state.
Run it with tools/demo.sh.
"""

import collections
import os
import sys
import time

import fixtures
from nova.tests import fixtures as nova_fixtures
from oslo_config import cfg
import oslo_messaging
import testtools

from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import engine as engine_mod
from nova_migration_ext.engine import store as store_mod
from tests.functional import cloud

OLD = ['c6-01', 'c6-02', 'c6-03', 'c6-04']
NEW = ['c7-01', 'c7-02', 'c7-03']
NEW_FREE_DISK_GB = {'c7-01': 400, 'c7-02': 120, 'c7-03': 60}
TRANSITIONAL = ('MIGRATING', 'RESIZE', 'VERIFY_RESIZE', 'REVERT_RESIZE',
                'BUILD', 'REBUILD')


def say(text=''):
    sys.__stdout__.write(text + '\n')
    sys.__stdout__.flush()


class Demo(cloud.EmbeddedCloudTestBase):
    """One run of the demo, as a test of nova's harness."""

    verdict = None     # 'passed' once every check of the drain held
    # The drain takes 80-100 s here; a machine twice as slow (or busy)
    # must still finish: up to DRAIN_DEADLINE s, within the test timeout.
    DRAIN_DEADLINE = 300
    TIMEOUT_SCALING_FACTOR = 3

    def setUp(self):
        super().setUp()
        self.flags(instances=-1, cores=-1, ram=-1, group='quota')
        self.start_hosts(OLD, NEW)
        for host, free in NEW_FREE_DISK_GB.items():
            self.computes[host].driver._get_local_gb_info = (
                lambda free=free: {'total': 500, 'used': 500 - free,
                                   'free': free})
        self._run_periodics()
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'evacuations.sqlite')
        self.store = store_mod.Store('sqlite:///%s' % path)
        self.store.upgrade()
        self.engine = engine_mod.Engine(
            self.store, self.gateway(), owner='demo-evacuator',
            retry_base=1.0, stuck_after=8,
            settle_seconds=3)
        # The evacuator's notification listener, on an in-process
        # transport (RabbitMQ in production): the phase of each move.
        transport = oslo_messaging.get_notification_transport(
            cfg.CONF, url='fake:/')
        self.addCleanup(transport.cleanup)
        self.listen_to_notifications(self.store, transport, 'demo')

    def seed(self):
        """40 VMs on the old hosts, as in the operators' report."""
        deleted_image = dict(self.glance.show(None,
                                              self.glance.image1['id']))
        deleted_image.pop('id')
        deleted_image['name'] = 'centos6-golden (deleted since)'
        deleted_id = self.glance.create(None, deleted_image)['id']
        small = [f for f in self.api.get_flavors()
                 if f['name'] == 'm1.small'][0]['id']
        servers = []
        volumes = [nova_fixtures.CinderFixture.IMAGE_BACKED_VOL,
                   nova_fixtures.CinderFixture.SWAP_OLD_VOL]
        for n in range(40):
            host = OLD[n % len(OLD)]
            kwargs = {}
            if n % 9 == 4:
                kwargs['image_uuid'] = deleted_id
            if n % 10 == 7:
                kwargs['flavor_id'] = small
            servers.append(self._boot_seeded(host, 'vm-%02d' % n, **kwargs))
        for server in servers[3::8]:
            self.api.post_server_action(server['id'], {'os-stop': None})
        for server in servers[3::8]:
            self._wait_for_state_change(server, 'SHUTOFF')
        for server, volume in zip(servers[1::20], volumes):
            self._attach_volume(server, volume)
        self.glance.delete(None, deleted_id)
        return servers

    def _boot_seeded(self, host, name, **kwargs):
        """Boot one VM of the seed; once more if nova's build failed.

        Seeding is not what the demo shows: a build that nova's in-process
        harness fails (seen once on CI: oslo.db's "Can't upgrade a READER
        transaction to a WRITER" in the claim) is said, deleted and
        booted again, once.
        """
        try:
            return self.boot(host, name=name, **kwargs)
        except AssertionError as exc:
            failed = [s for s in self.api.get_servers()
                      if s['name'] == name and s['status'] == 'ERROR']
            if not failed:
                raise
            say('  %s failed to build on %s (%s); booting it again.'
                % (name, host, failed[0].get('fault', {}).get(
                    'message', str(exc).splitlines()[0][:120])))
            for server in failed:
                self._delete_server(server)
            return self.boot(host, name=name, **kwargs)

    def inject_faults(self):
        faults = cloud.Faults(self)
        faults.rpc_timeout('c7-02')
        faults.network_filter_not_found('c6-01')
        faults.token_expired_after_move('c7-01')
        faults.migration_hangs()
        faults.guest_not_started_on_destination('c7-03',
                                                self.engine.gateway)
        return faults

    def test_drain(self):
        started = time.monotonic()
        say('Seeding the embedded cloud: %d old hosts, %d new hosts...'
            % (len(OLD), len(NEW)))
        servers = self.seed()
        say('  %d VMs booted in %.0f s.'
            % (len(servers), time.monotonic() - started))
        faults = self.inject_faults()
        policy = drain_policy.Policy(max_per_source=2, max_per_target=3,
                                     max_total=6, allow_downtime=True,
                                     bandwidth_mb_per_s=250.0)
        evacuation_id, plan = self.engine.plan(OLD, NEW, policy,
                                               actor='operator',
                                               name='CentOS 6 to 7')
        print_plan(plan)
        self.engine.start(evacuation_id, actor='operator')
        drain_started = time.monotonic()
        progress = ProgressLine()
        state = self.engine.run(evacuation_id, poll_interval=0.3,
                                timeout=self.DRAIN_DEADLINE,
                                on_tick=progress)
        progress.done()
        report = self.report(evacuation_id, servers, faults,
                             time.monotonic() - drain_started,
                             time.monotonic() - started)
        self.assertEqual(states.COMPLETED, state)
        self.assertEqual([], report['lost'])
        self.assertEqual([], report['transitional'])
        for server_id, count in self.moves.items():
            self.assertLessEqual(count, 1, 'VM %s moved twice' % server_id)
        Demo.verdict = 'passed'

    def report(self, evacuation_id, servers, faults, drain_s, total_s):
        info = self.engine.show(evacuation_id)
        tasks = self.store.tasks(evacuation_id)
        by_method = collections.Counter(
            t.method for t in tasks if t.state == states.DONE)
        retries = sum(max(t.attempts - 1, 0) for t in tasks)
        remedies = [e for e in self.store.audit_log(evacuation_id)
                    if e.action in ('reset-state', 'confirm-resize',
                                    'revert-resize', 'abort')
                    or (e.action.startswith('task-') and 'reset' in
                        e.detail)]
        left = [t for t in tasks if t.state != states.DONE]
        lost, transitional, where = [], [], collections.Counter()
        for server in servers:
            try:
                current = self.api.get_server(server['id'])
            except Exception:
                lost.append(server['name'])
                continue
            where[current['OS-EXT-SRV-ATTR:host']] += 1
            if current['status'] in TRANSITIONAL or \
                    current['OS-EXT-STS:task_state']:
                transitional.append('%s %s' % (current['name'],
                                               current['status']))
        say('')
        say('=== Report: evacuation %s is %s'
            % (evacuation_id, info.state))
        say('moved: %d of %d VMs  (%s)' % (
            sum(by_method.values()), len(tasks),
            ', '.join('%s %d' % kv for kv in sorted(by_method.items()))))
        say('faults injected: %s' % ', '.join(
            '%s x%d' % kv for kv in sorted(faults.fired.items())))
        say('retries: %d' % retries)
        say('retried or repaired:')
        for task in tasks:
            if task.attempts > 1 or task.remedy:
                say('  - %s: %d attempt(s); %s' % (
                    task.server_name, task.attempts,
                    task.remedy or 'first error: %s'
                    % (task.last_error or 'none shown by nova')))
        for entry in remedies:
            if entry.action in ('reset-state', 'revert-resize', 'abort'):
                say('  - %s: %s' % (entry.action, entry.detail))
        say('cold migrations confirmed after checking the guest on the '
            'destination: %d' % sum(1 for e in remedies
                                    if e.action == 'confirm-resize'))
        say('left for the operator: %d' % len(left))
        for task in left:
            say('  - %s (%s): %s' % (task.server_name, task.state,
                                     task.remedy or task.last_error))
        say('VMs per host now: %s' % ', '.join(
            '%s %d' % kv for kv in sorted(where.items())))
        say('lost VMs: %d, VMs in a transitional state: %d'
            % (len(lost), len(transitional)))
        say('elapsed: drain %.0f s, whole demo %.0f s' % (drain_s, total_s))
        return {'lost': lost, 'transitional': transitional}


def print_plan(plan):
    totals = plan.to_resource()
    say('')
    say('=== Plan (dry run is the plan itself)')
    say('%-8s %-6s %-7s %-6s %9s %7s  %s' % (
        'VM', 'from', 'method', 'to', 'bytes', 'est.s', 'prechecks'))
    for move in sorted(plan.moves, key=lambda m: m.server_name):
        verdicts = ' '.join('%s:%s' % (v[0], v[1]) for v in move.verdicts)
        say('%-8s %-6s %-7s %-6s %8.1fG %7.0f  %s' % (
            move.server_name, move.source, move.method, move.target,
            move.bytes_total / 2 ** 30, move.expected_seconds, verdicts))
    for item in plan.unplaceable:
        say('%-8s %-6s UNPLACEABLE: %s' % (item.server_name, item.source,
                                           item.reason))
    say('total: %d VMs, %d to move (%s), %.1f GiB, estimated %d s with the '
        'concurrency limits' % (
            totals.vms, totals.move_count,
            ', '.join('%s %d' % kv for kv in sorted(
                totals.by_method.items())),
            totals.bytes / 2 ** 30, totals.estimated_seconds))
    say('')


class ProgressLine:
    """Prints a progress line whenever something changes."""

    def __init__(self):
        self.last = None
        self.started = time.monotonic()

    def __call__(self, info):
        counts = info.counts
        line = ('[%5.1fs] %-9s %5.1f%% done  ETA %4ds  %s' % (
            time.monotonic() - self.started, info.state,
            info.progress, info.eta_seconds,
            ' '.join('%s=%d' % kv for kv in sorted(counts.items()))))
        # Where the moves under way are, from nova's notifications.
        phases = collections.Counter(
            t.phase for t in info.tasks
            if t.state in states.TASK_ACTIVE and t.phase)
        if phases:
            line += '  | ' + ', '.join('%s: %d' % kv
                                       for kv in sorted(phases.items()))
        key = (info.state, tuple(sorted(counts.items())))
        if key != self.last:
            self.last = key
            say(line)

    def done(self):
        say('[%5.1fs] drain finished' % (time.monotonic() - self.started))


def main():
    result = testtools.TextTestResult(sys.__stdout__)
    result.startTestRun()
    Demo('test_drain').run(result)
    result.stopTestRun()
    ok = Demo.verdict == 'passed'
    if ok and not result.wasSuccessful():
        # Every check of the drain held; what failed is the harness'
        # teardown (nova's in-process services), reported above.
        say('note: the embedded cloud did not shut down cleanly; the '
            'drain itself passed every check')
    say('DEMO %s' % ('PASSED' if ok else 'FAILED'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
