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
"""The evacuation engine drains hosts of the embedded cloud through
nova's real API (python-novaclient), with our driver on every compute.
"""

import collections
import os

import fixtures
from nova.tests import fixtures as nova_fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
import testtools.content

from nova_migration_ext.compute import cold_copy
from nova_migration_ext.compute import throttle
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import engine as engine_mod
from nova_migration_ext.engine import planner
from nova_migration_ext.engine import store as store_mod
from tests.functional import cloud

OLD = ['old1', 'old2']
NEW = ['new1', 'new2', 'new3']


class EvacuationTestBase(cloud.EmbeddedCloudTestBase):

    def setUp(self):
        super().setUp()
        self.flags(instances=-1, cores=-1, ram=-1, group='quota')
        self.start_hosts(OLD, NEW)
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'evacuations.sqlite')
        self.store = store_mod.Store('sqlite:///%s' % path)
        self.store.upgrade()
        self.engine = engine_mod.Engine(self.store, self.gateway(),
                                        owner='test-evacuator',
                                        retry_base=0.1, stuck_after=30,
                                        settle_seconds=4)

    def boot_many(self, count, host, **kwargs):
        servers = []
        for i in range(count):
            servers.append(self.boot(host, name='%s-vm%d' % (host, i),
                                     **kwargs))
        return servers

    def migrations_per_server(self, failed_too=False):
        counts = collections.Counter()
        for migration in self.api.get_migrations():
            if failed_too or migration['status'] not in (
                    'error', 'failed', 'cancelled'):
                counts[migration['instance_uuid']] += 1
        return counts

    def assert_drained(self, servers):
        for server in servers:
            server = self.api.get_server(server['id'])
            self.assertIn(server['OS-EXT-SRV-ATTR:host'], NEW,
                          '%s still on %s' % (server['name'],
                                              server['OS-EXT-SRV-ATTR:host']))
            self.assertIn(server['status'], ('ACTIVE', 'SHUTOFF'))
            self.assertIsNone(server['OS-EXT-STS:task_state'])
        for host in OLD:
            service = self.admin_api.get_services(
                host=host, binary='nova-compute')[0]
            self.assertEqual('disabled', service['status'])
            self.assertIn('Emptied by evacuation',
                          service['disabled_reason'])

    def drain(self, policy, timeout=240):
        evacuation_id, plan = self.engine.plan(OLD, NEW, policy)
        self.engine.start(evacuation_id)
        state = self.engine.run(evacuation_id, poll_interval=0.2,
                                timeout=timeout)
        self.addDetail('tasks', testtools.content.text_content('\n'.join(
            '%(name)s %(state)s attempts=%(attempts)s error=%(last_error)s '
            'remedy=%(remedy)s' % t.to_dict()
            for t in self.engine.show(evacuation_id).tasks)))
        self.addDetail('audit', testtools.content.text_content('\n'.join(
            '%s %s %s' % (e.actor, e.action, e.detail)
            for e in self.store.audit_log(evacuation_id))))
        return evacuation_id, plan, state


class DrainTest(EvacuationTestBase):

    def test_full_drain_moves_every_vm_exactly_once(self):
        servers = self.boot_many(6, 'old1') + self.boot_many(6, 'old2')
        for server in servers[::4]:     # a few stopped VMs
            self.api.post_server_action(server['id'], {'os-stop': None})
            self._wait_for_state_change(server, 'SHUTOFF')
        self._attach_volume(servers[1],
                            nova_fixtures.CinderFixture.IMAGE_BACKED_VOL)
        policy = drain_policy.Policy(max_per_source=2, max_per_target=2,
                                     max_total=4, allow_downtime=True)

        evacuation_id, plan, state = self.drain(policy)

        self.assertEqual(states.COMPLETED, state)
        self.assertEqual(12, len(plan.moves))
        self.assertEqual({'cold': 3, 'live': 9},
                         plan.to_resource().by_method)
        self.assert_drained(servers)
        counts = self.migrations_per_server()
        for server in servers:
            self.assertEqual(1, counts[server['id']], server['name'])
            self.assertEqual(1, self.moves[server['id']], server['name'])
        info = self.engine.show(evacuation_id)
        self.assertEqual({'done': 12}, info.counts)
        self.assertEqual(100.0, info.progress)
        actions = [e.action for e in self.store.audit_log(evacuation_id)]
        self.assertEqual(['plan', 'disable-host', 'disable-host',
                          'running'], actions[:4])
        self.assertEqual(3, actions.count('confirm-resize'))
        self.assertEqual('completed', actions[-1])

    def test_flaky_network_filter_is_retried(self):
        servers = self.boot_many(2, 'old1')
        failures = {'left': 1}
        for host in OLD:
            driver = self.computes[host].driver
            original = driver._live_migration_operation

            def flaky(*args, _original=original, **kwargs):
                if failures['left']:
                    failures['left'] -= 1
                    raise fakelibvirt.make_libvirtError(
                        fakelibvirt.libvirtError,
                        "Network filter not found: Could not find filter "
                        "'nova-instance-instance-00000001'",
                        error_code=fakelibvirt.VIR_ERR_NO_NWFILTER)
                return _original(*args, **kwargs)
            driver._live_migration_operation = flaky
        policy = drain_policy.Policy(max_total=1)

        evacuation_id, _plan, state = self.drain(policy)

        self.assertEqual(states.COMPLETED, state)
        self.assert_drained(servers)
        tasks = self.store.tasks(evacuation_id)
        self.assertEqual([1, 2], sorted(t.attempts for t in tasks))
        # nova leaves the VM in ERROR on its source with the guest
        # running; the engine resets it to ACTIVE and tries again.
        log = [(e.action, e.detail) for e in
               self.store.audit_log(evacuation_id)]
        self.assertIn('reset-state', [action for action, _d in log])
        self.assertTrue([d for a, d in log if a == 'task-retry_wait' and
                         'transient error, retry 2 of 3' in d])
        for task in tasks:
            self.assertEqual(1, self.moves[task.server_id])


class PagedInventoryTest(EvacuationTestBase):
    """nova returns lists in pages of ``[api] max_limit`` items."""

    def test_inventory_reads_every_page(self):
        self.flags(max_limit=1, group='api')
        groups = [self.api.post_server_groups(
            {'name': 'group%d' % i, 'policy': policy})
            for i, policy in enumerate(['affinity', 'soft-affinity',
                                        'anti-affinity'])]
        self.use_host_paths('old1')
        body = {'server': self._build_server(name='in-last-group',
                                             host='old1', networks='none'),
                'os:scheduler_hints': {'group': groups[-1]['id']}}
        grouped = self._wait_for_state_change(
            self.api.post_server(body), 'ACTIVE')
        others = self.boot_many(2, 'old1')
        gateway = self.gateway()

        self.assertEqual(sorted(OLD + NEW),
                         sorted(h.name for h in gateway.hosts()))
        servers = {s.id: s for s in gateway.servers_on(['old1'])}
        self.assertEqual(sorted([grouped['id']] + [s['id'] for s in others]),
                         sorted(servers))
        self.assertEqual(((groups[-1]['id'], 'anti-affinity'),),
                         servers[grouped['id']].server_groups)


class BandwidthCapTest(EvacuationTestBase):
    """The policy's cap reaches libvirt on every live migration."""

    def setUp(self):
        super().setUp()
        self.bandwidths = []
        self.flags(bandwidth_cap_secret='operator-secret',
                   group='migration_ext')
        self.engine.executor_args['bandwidth_cap_secret'] = 'operator-secret'

    def _migrate_stub(self, domain, destination, params, flags):
        self.bandwidths.append(params.get('bandwidth'))
        return super()._migrate_stub(domain, destination, params, flags)

    def test_cap_applied_then_removed(self):
        servers = self.boot_many(2, 'old1') + self.boot_many(1, 'old2')
        evacuation_id, plan, state = self.drain(
            drain_policy.Policy(max_bandwidth_mib_per_s=50))
        self.assertEqual(states.COMPLETED, state)
        self.assert_drained(servers)
        self.assertEqual([50, 50, 50], self.bandwidths)
        for move in plan.moves:
            self.assertEqual(
                round(planner.OVERHEAD_SECONDS + move.bytes_total /
                      (50 * drain_policy.MiB), 1), move.expected_seconds)
        # The key was only for the evacuation.
        for server in servers:
            self.assertNotIn(throttle.BANDWIDTH_KEY, self.api.get_server(
                server['id'])['metadata'])


class ColdCopyPolicyTest(EvacuationTestBase):
    """--two-phase-cold reaches the driver; no unverified copy confirmed.

    Each host has its own instances folder here: between hosts sharing
    it, a cold migration copies nothing in two phases.
    """

    shared_instance_path = False

    def setUp(self):
        super().setUp()
        self.flags(bandwidth_cap_secret='operator-secret',
                   group='migration_ext')
        self.engine.executor_args['bandwidth_cap_secret'] = 'operator-secret'
        self.copies = []
        real_copy = cold_copy.copy_disk

        def copy_disk(conf, from_path, to_path, host, *args, **kwargs):
            self.copies.append('precopy' if kwargs.get('precopy')
                               else 'copy')
            return real_copy(conf, from_path, to_path, host, *args,
                             **kwargs)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.compute.cold_copy.copy_disk', copy_disk))

    def drain_old1(self, **policy):
        """Drain old1 onto new1 (the harness copies to one named host)."""
        self.use_host_paths('old1')
        self.folders.alias(self.flags_my_ip(), 'new1')
        evacuation_id, plan = self.engine.plan(
            ['old1'], ['new1'], drain_policy.Policy(
                method='cold', allow_downtime=True, **policy))
        self.engine.start(evacuation_id)
        state = self.engine.run(evacuation_id, poll_interval=0.2,
                                timeout=240)
        return evacuation_id, plan, state

    def assert_on_new1(self, server):
        server = self.api.get_server(server['id'])
        self.assertEqual(('new1', 'ACTIVE'), (
            server['OS-EXT-SRV-ATTR:host'], server['status']))

    def test_two_phase_policy_copies_before_the_power_off(self):
        server = self.boot('old1', name='vm')
        _id, plan, state = self.drain_old1(two_phase_cold=True)
        self.assertEqual(states.COMPLETED, state)
        self.assert_on_new1(server)
        self.assertEqual(['precopy', 'copy'], self.copies)
        [move] = plan.moves
        self.assertLess(move.expected_downtime_seconds,
                        planner.POWER_CYCLE_SECONDS + move.bytes_total /
                        (100 * 1e6))
        self.assertNotIn(throttle.TWO_PHASE_KEY, self.api.get_server(
            server['id'])['metadata'])

    def test_control_without_the_policy_copies_once(self):
        server = self.boot('old1', name='vm')
        _id, _plan, state = self.drain_old1()
        self.assertEqual(states.COMPLETED, state)
        self.assert_on_new1(server)
        self.assertEqual(['copy'], self.copies)

    def test_stock_copy_is_never_confirmed(self):
        # old1 copies with nova's own copy: nothing says it was verified.
        self.flags(cold_copy='stock', group='migration_ext')
        server = self.boot('old1', name='vm')
        evacuation_id, _plan, _state = self.drain_old1()
        [task] = self.store.tasks(evacuation_id)
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertIn('the copy was not verified', task.remedy)
        server = self.api.get_server(server['id'])
        self.assertEqual('VERIFY_RESIZE', server['status'])
        self.assertEqual([], self.copies)


class BadInputTest(EvacuationTestBase):

    def test_bad_inputs_change_nothing(self):
        self.boot_many(1, 'old1')
        cases = [
            (['nope'], NEW, drain_policy.Policy(), 'Unknown host(s) nope'),
            (OLD, ['old1'] + NEW, drain_policy.Policy(),
             'listed as source and as target'),
            (OLD, NEW, drain_policy.Policy(max_total=0),
             'max_total must be at least 1'),
        ]
        for sources, targets, policy, message in cases:
            error = self.assertRaises(planner.PlanError, self.engine.plan,
                                      sources, targets, policy)
            self.assertIn(message, str(error))
        self.assertEqual([], self.store.list_evacuations())
        evacuation_id, _plan = self.engine.plan(OLD, NEW)
        error = self.assertRaises(planner.PlanError, self.engine.plan,
                                  ['old1'], NEW)
        self.assertIn('already being emptied', str(error))
        for host in OLD:
            service = self.admin_api.get_services(
                host=host, binary='nova-compute')[0]
            self.assertEqual('enabled', service['status'])
        self.assertEqual(states.PLANNED, self.engine.show(
            evacuation_id).state)

    def test_bad_target_aggregates_change_nothing(self):
        self.boot_many(1, 'old1')
        self.admin_api.add_host_to_aggregate(
            self._create_aggregate('old-racks'), 'old1')
        cases = [
            ({'target_aggregate': 'nope'},
             'Unknown host aggregate nope. Known aggregates: old-racks.'),
            ({'target_aggregate': 'old-racks'},
             'Host aggregate old-racks has no host besides the sources; '
             'add hosts to it or name target hosts.'),
            ({'target_aggregate': 'old-racks', 'targets': NEW},
             'Give target hosts or a target aggregate, not both.'),
        ]
        for kwargs, message in cases:
            error = self.assertRaises(planner.PlanError, self.engine.plan,
                                      ['old1'], **kwargs)
            self.assertEqual(message, str(error))
        self.assertEqual([], self.store.list_evacuations())


class AggregateTargetTest(EvacuationTestBase):

    def test_targets_are_the_aggregate_hosts(self):
        servers = self.boot_many(4, 'old1')
        aggregate = self._create_aggregate('c7-racks')
        for host in ('new2', 'new3', 'old1'):   # old1 is left out
            self.admin_api.add_host_to_aggregate(aggregate, host)
        evacuation_id, plan = self.engine.plan(
            ['old1'], target_aggregate='c7-racks')
        self.assertEqual({'new2', 'new3'}, {m.target for m in plan.moves})
        with self.store.session() as session:
            stored = self.store.get(session, evacuation_id)
            self.assertEqual(('c7-racks', ['new2', 'new3']),
                             (stored.target_aggregate,
                              sorted(stored.target_hosts)))
        self.engine.start(evacuation_id)
        self.assertEqual(states.COMPLETED, self.engine.run(
            evacuation_id, poll_interval=0.2, timeout=120))
        for server in servers:
            self.assertIn(self.api.get_server(server['id'])[
                'OS-EXT-SRV-ATTR:host'], ('new2', 'new3'))
            self.assertEqual(1, self.moves[server['id']])


class RecoveryTest(EvacuationTestBase):
    """Each stuck state of the operators' report, injected and repaired."""

    def setUp(self):
        super().setUp()
        self.faults = cloud.Faults(self)

    def drain_one(self, status='ACTIVE', **policy):
        server = self.boot('old1', name='vm')
        if status == 'SHUTOFF':
            self.api.post_server_action(server['id'], {'os-stop': None})
            self._wait_for_state_change(server, 'SHUTOFF')
        policy.setdefault('allow_downtime', True)
        evacuation_id, _plan, state = self.drain(
            drain_policy.Policy(**policy))
        self.assertEqual(states.COMPLETED, state)
        self.assert_drained([server])
        [task] = self.store.tasks(evacuation_id)
        # Moved exactly once; every other attempt left it where it was.
        self.assertEqual(1, self.moves[server['id']])
        self.assertEqual(states.DONE, task.state)
        log = self.store.audit_log(evacuation_id)
        return task, [(e.action, e.detail) for e in log]

    @staticmethod
    def retry_reasons(log):
        """Why each task went to retry_wait, from (action, detail)."""
        return [d.split(' -> retry_wait: ')[-1] for _a, d in log]

    def test_rpc_timeout_is_retried(self):
        # The conductor logs the MessagingTimeout; nova's API only says
        # that no host passed the checks. The VM stays where it was and
        # the engine tries again.
        for host in NEW:
            self.faults.rpc_timeout(host)
        task, log = self.drain_one()
        self.assertEqual(1, sum(self.faults.fired.values()))
        self.assertEqual(2, task.attempts)
        self.assertIn('No valid host was found', task.last_error)

    def test_refused_live_migration_falls_back_to_cold(self):
        # A refusal would meet the next live attempt again: go cold now.
        self.faults.live_precheck_refused('old1')
        task, log = self.drain_one()
        self.assertEqual(1, self.faults.fired['live migration refused'])
        self.assertEqual((drain_policy.METHOD_COLD, 1, 1),
                         (task.method, task.live_failures, task.attempts))
        self.assertIn('live migration failed 1 time(s) with an error a '
                      'retry would meet again: falling back to cold '
                      'migration', self.retry_reasons(log))

    def test_repeated_live_failures_fall_back_to_cold(self):
        self.faults.network_filter_not_found('old1')
        self.faults.network_filter_not_found('old1')
        task, log = self.drain_one(live_failures_before_cold=2)
        self.assertEqual(2, self.faults.fired['network filter not found'])
        self.assertEqual((drain_policy.METHOD_COLD, 2),
                         (task.method, task.live_failures))
        self.assertIn('live migration failed 2 time(s): falling back to '
                      'cold migration', self.retry_reasons(log))

    def test_refused_live_migration_without_downtime_waits(self):
        server = self.boot('old1', name='vm')
        self.faults.live_precheck_refused('old1')
        evacuation_id, _plan, state = self.drain(
            drain_policy.Policy(allow_downtime=False))
        self.assertEqual(states.COMPLETED, state)
        [task] = self.store.tasks(evacuation_id)
        self.assertEqual(states.NEEDS_OPERATOR, task.state)
        self.assertIn('left on old1', task.remedy)
        self.assertIn('MigrationPreCheckError', task.last_error)
        server = self.api.get_server(server['id'])
        self.assertEqual(('old1', 'ACTIVE'), (
            server['OS-EXT-SRV-ATTR:host'], server['status']))
        self.assertEqual(0, self.moves[server['id']])

    def test_error_after_successful_move_is_reset(self):
        for host in NEW:
            self.faults.token_expired_after_move(host)
        task, log = self.drain_one()
        self.assertEqual(1, sum(self.faults.fired.values()))
        self.assertEqual(1, task.attempts)
        self.assertIn('ERROR after a migration that worked', task.remedy)
        server = self.api.get_server(task.server_id)
        self.assertEqual('ACTIVE', server['status'])

    def test_error_while_verify_resize_leaks_no_allocation(self):
        # nova cannot confirm a resize in ERROR: the engine resets the VM
        # and releases what the confirm would have released in Placement.
        self.engine.gateway.placement = self.placement_adapter()
        self.faults.error_while_verify_resize(self.engine.gateway)
        task, log = self.drain_one(method='cold')
        self.assertEqual(1, self.faults.fired['ERROR while VERIFY_RESIZE'])
        self.assertIn('ERROR after a migration that worked', task.remedy)
        self.assertIn('released in Placement (1 provider(s))', task.remedy)
        self.assertIn('release-allocation', [a for a, _d in log])
        usages = self.placement.get(
            '/resource_providers/%s/usages'
            % self.compute_rp_uuids['old1']).body['usages']
        self.assertEqual({}, {rc: n for rc, n in usages.items() if n})

    def test_stuck_migration_is_aborted_and_retried(self):
        self.engine.executor_args['stuck_after'] = 2
        # Leave nova time to finish rolling the aborted attempt back.
        self.engine.executor_args['retry_base'] = 3
        self.faults.migration_hangs()
        task, log = self.drain_one()
        self.assertEqual(1, self.faults.fired['migration hangs'])
        self.assertGreaterEqual(task.attempts, 2)
        self.assertIn('aborted, will retry', task.remedy)

    def test_verify_resize_without_guest_is_reverted(self):
        for host in NEW:
            self.faults.guest_not_started_on_destination(
                host, self.engine.gateway)
        task, log = self.drain_one(method='cold')
        self.assertEqual(1, sum(self.faults.fired.values()))
        self.assertEqual(2, task.attempts)
        self.assertIn('resize reverted, will retry', task.remedy)
        self.assertIn('confirm-resize', [a for a, _d in log])
