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
"""Tests of the planner on small, hand-built inventories."""

import collections
import datetime
import json

from nova_migration_ext.compute import host_stats
from nova_migration_ext.compute import orphans
from nova_migration_ext.contract import drains
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.engine import inventory
from nova_migration_ext.engine import models
from nova_migration_ext.engine import planner
from nova_migration_ext.engine import scheduling
from nova_migration_ext.prechecks import base
from tests.unit.engine import fakes
from tests.unit import utils

GiB = fakes.GiB
IMG_1 = frozenset([orphans.cache_name('img-1')])   # its file in _base
MiB = fakes.MiB
host = fakes.host
server = fakes.server
NO_DOWNTIME = 'the policy is cold only but allows no downtime for it'
TUNNELLED = ('its volumes need a cold migration (a tunnelled block '
             'migration cannot skip them) and the policy allows no downtime '
             'for it')


def no_target(vcpus=2, memory_mb=4096, disk='20.0 GiB', best='t1',
              best_ram=65536):
    return ('no target has %d vCPU, %d MiB RAM and %s disk free within the '
            'server-group and hypervisor-version rules (most free RAM: %s '
            'with %d MiB); add targets or free capacity'
            % (vcpus, memory_mb, disk, best, best_ram))


def busy_host(name, **kwargs):
    """A host with 40,000 of its 65,536 MiB of RAM used."""
    return host(name, memory_mb_used=40000, **kwargs)


class PlannerTestCase(utils.TestCase):

    def plan(self, hosts, servers, policy=None, sources=('src',),
             targets=None, busy_hosts=()):
        self.policy = policy or drain_policy.Policy()
        self.planner = planner.Planner(hosts, servers, self.policy)
        return self.planner.plan(list(sources), targets, busy_hosts)

    @staticmethod
    def targets(plan):
        return {m.server_id: m.target for m in plan.moves}

    @staticmethod
    def methods(plan):
        return {m.server_id: m.method for m in plan.moves}

    @staticmethod
    def reasons(plan):
        return {u.server_id: u.reason for u in plan.unplaceable}

    def assertPlaced(self, expected, plan):
        self.assertEqual(expected, self.targets(plan))
        self.assertEqual([], plan.unplaceable)


class TestMethod(PlannerTestCase):

    def test_shutoff_is_cold(self):
        plan = self.plan([host('src'), host('t1')],
                         [server('a', status='SHUTOFF')])
        move, = plan.moves
        self.assertEqual(('cold', 't1', 'SHUTOFF'),
                         (move.method, move.target, move.status))
        self.assertEqual(20 * GiB, move.bytes_total)
        # Alone on a 1 GB/s link, bound by the copy tool's 500 MB/s.
        self.assertEqual(round(15 + 20 * GiB / 500e6, 1),
                         move.expected_seconds)

    def test_active_on_shared_storage_is_live(self):
        plan = self.plan([host('src', shared_storage='ceph'),
                          host('t1', shared_storage='ceph')], [server('a')])
        move, = plan.moves
        self.assertEqual('live', move.method)
        self.assertEqual(4096 * MiB, move.bytes_total)
        self.assertEqual(round(15 + 4096 * MiB / 1e9, 1),
                         move.expected_seconds)

    def test_a_guest_faster_than_its_link_is_not_moved_live(self):
        busy = server('a', dirty_bytes_per_s=600e6)    # link: 1 GB/s
        plan = self.plan([host('src'), host('t1')], [busy])
        self.assertEqual([], plan.moves)
        self.assertEqual(
            ['its guest dirties 600 MB/s of memory, more than half of the '
             '1000 MB/s its migration can get: a live migration would '
             'never end, and the policy allows no downtime for it. Allow '
             'downtime for it (a cold migration) or quiet its workload '
             'first'], [u.reason for u in plan.unplaceable])
        plan = self.plan([host('src'), host('t1')], [busy],
                         drain_policy.Policy(allow_downtime=True))
        self.assertEqual(['cold'], [m.method for m in plan.moves])
        # Below half the link it converges: block.
        plan = self.plan([host('src'), host('t1')],
                         [server('a', dirty_bytes_per_s=400e6)])
        self.assertEqual(['block'], [m.method for m in plan.moves])

    def test_active_on_local_disks_is_block(self):
        plan = self.plan([host('src'), host('t1')], [server('a')],
                         drain_policy.Policy(bandwidth_mb_per_s=200))
        move, = plan.moves
        self.assertEqual('block', move.method)
        self.assertEqual(4096 * MiB + 20 * GiB, move.bytes_total)
        self.assertEqual(143.8, move.expected_seconds)

    def test_other_storage_is_block(self):
        plan = self.plan([host('src', shared_storage='ceph-a'),
                          host('t1', shared_storage='ceph-b'),
                          busy_host('t2')],
                         [server('a')])
        self.assertEqual({'a': 'block'}, self.methods(plan))
        plan = self.plan([host('src', shared_storage='ceph-a'),
                          host('t1')], [server('a')])
        self.assertEqual({'a': 'block'}, self.methods(plan))

    def test_cold_policy_without_downtime(self):
        plan = self.plan([host('src'), host('t1')],
                         [server('a'), server('b', status='SHUTOFF')],
                         drain_policy.Policy(method='cold'))
        self.assertEqual({'b': 'cold'}, self.methods(plan))
        self.assertEqual({'a': NO_DOWNTIME}, self.reasons(plan))

    def test_cold_policy_with_downtime(self):
        plan = self.plan([host('src', shared_storage='ceph'),
                          host('t1', shared_storage='ceph')],
                         [server('a'), server('b', status='SHUTOFF')],
                         drain_policy.Policy(method='cold',
                                             allow_downtime=True))
        self.assertEqual({'a': 'cold', 'b': 'cold'}, self.methods(plan))
        self.assertEqual(20 * GiB, plan.moves[0].bytes_total)

    def test_cold_policy_per_project(self):
        servers = [server('a', project_id='p1'),
                   server('b', project_id='p2')]
        hosts = [host('src'), host('t1')]
        plan = self.plan(hosts, servers, drain_policy.Policy(
            method='cold', downtime_projects={'p2': True}))
        self.assertEqual({'b': 'cold'}, self.methods(plan))
        self.assertEqual({'a': NO_DOWNTIME}, self.reasons(plan))
        plan = self.plan(hosts, servers, drain_policy.Policy(
            method='cold', allow_downtime=True,
            downtime_projects={'p2': False}))
        self.assertEqual({'a': 'cold'}, self.methods(plan))
        self.assertEqual({'b': NO_DOWNTIME}, self.reasons(plan))

    def test_cold_policy_per_server(self):
        servers = [server('a'), server('b')]
        hosts = [host('src'), host('t1')]
        plan = self.plan(hosts, servers, drain_policy.Policy(
            method='cold', downtime_projects={'p1': False},
            downtime_servers={'a': True}))
        self.assertEqual({'a': 'cold'}, self.methods(plan))
        self.assertEqual({'b': NO_DOWNTIME}, self.reasons(plan))
        plan = self.plan(hosts, servers, drain_policy.Policy(
            method='cold', allow_downtime=True,
            downtime_projects={'p1': True}, downtime_servers={'a': False}))
        self.assertEqual({'b': 'cold'}, self.methods(plan))
        self.assertEqual({'a': NO_DOWNTIME}, self.reasons(plan))

    def test_downtime_allowed_precedence(self):
        policy = drain_policy.Policy(allow_downtime=True,
                                     downtime_projects={'p1': False},
                                     downtime_servers={'a': 1})
        self.assertTrue(policy.downtime_allowed(server('a')))
        self.assertFalse(policy.downtime_allowed(server('b')))
        self.assertTrue(policy.downtime_allowed(server('c',
                                                       project_id='p2')))

    def test_live_policy_refuses_shutoff(self):
        plan = self.plan([host('src'), host('t1')],
                         [server('a', status='SHUTOFF'), server('b')],
                         drain_policy.Policy(method='live',
                                             allow_downtime=True))
        self.assertEqual({'b': 'block'}, self.methods(plan))
        self.assertEqual(
            {'a': 'stopped, so only a cold migration can move it, and the '
                  'policy is live only'}, self.reasons(plan))
        self.assertEqual(('a', 'vm-a', 'src', 'SHUTOFF'),
                         (plan.unplaceable[0].server_id,
                          plan.unplaceable[0].server_name,
                          plan.unplaceable[0].source,
                          plan.unplaceable[0].status))

    def test_tunnelled_volumes_with_downtime_go_cold(self):
        plan = self.plan([host('src'), host('t1')],
                         [server('a', volumes=('vol-1',)), server('b')],
                         drain_policy.Policy(tunnelled=True,
                                             allow_downtime=True))
        self.assertEqual({'a': 'cold', 'b': 'block'}, self.methods(plan))

    def test_tunnelled_volumes_without_downtime(self):
        plan = self.plan([host('src'), host('t1')],
                         [server('a', volumes=('vol-1',)),
                          server('b', volumes=('vol-2',),
                                 project_id='p2')],
                         drain_policy.Policy(tunnelled=True,
                                             downtime_projects={'p2': True}))
        self.assertEqual({'b': 'cold'}, self.methods(plan))
        self.assertEqual({'a': TUNNELLED}, self.reasons(plan))

    def test_tunnelled_volumes_on_shared_storage_stay_live(self):
        plan = self.plan([host('src', shared_storage='ceph'),
                          host('t1', shared_storage='ceph')],
                         [server('a', volumes=('vol-1',))],
                         drain_policy.Policy(tunnelled=True))
        self.assertEqual({'a': 'live'}, self.methods(plan))

    def test_tunnelled_volumes_live_policy(self):
        plan = self.plan([host('src'), host('t1')],
                         [server('a', volumes=('vol-1',))],
                         drain_policy.Policy(method='live', tunnelled=True,
                                             allow_downtime=True))
        self.assertEqual([], plan.moves)
        reason = self.reasons(plan)['a']
        self.assertIn('tunnelled block migration cannot skip them', reason)
        # Downtime is allowed here: the live-only policy is what forbids
        # the cold migration, and the reason must say so.
        self.assertIn('the policy is live only', reason)
        self.assertNotIn('allows no downtime', reason)

    def test_volumes_without_tunnelling_are_block(self):
        plan = self.plan([host('src'), host('t1')],
                         [server('a', volumes=('vol-1',))])
        move, = plan.moves
        self.assertEqual('block', move.method)
        self.assertIn(['shared_volumes', 'pass',
                       'volumes vdb will be excluded from the copy; the '
                       'disk list is verified before libvirt is called.'],
                      move.verdicts)

    def test_unmovable_status(self):
        plan = self.plan([host('src'), host('t1')],
                         [server('a', status='ERROR'),
                          server('b', status='PAUSED'),
                          server('c', task_state='migrating')])
        self.assertEqual([], plan.moves)
        self.assertEqual(
            {'a': 'status ERROR: bring it to ACTIVE or SHUTOFF first '
                  '("openstack drain remedy list" proposes how)',
             'b': 'status PAUSED: bring it to ACTIVE or SHUTOFF first '
                  '("openstack drain remedy list" proposes how)',
             'c': 'task migrating in progress'}, self.reasons(plan))

    def test_only_servers_on_sources_move(self):
        plan = self.plan([host('src'), host('t1'), host('other')],
                         [server('a'), server('b', host='other'),
                          server('c', host='t1')],
                         targets=['t1'])
        self.assertPlaced({'a': 't1'}, plan)

    def test_several_sources(self):
        plan = self.plan([host('s1'), host('s2'), host('t1')],
                         [server('a', host='s1'), server('b', host='s2')],
                         sources=['s1', 's2'])
        self.assertPlaced({'a': 't1', 'b': 't1'}, plan)
        self.assertEqual(['s1', 's2'], sorted(m.source for m in plan.moves))


class TestCapacity(PlannerTestCase):

    def test_vcpus_with_allocation_ratio(self):
        plan = self.plan([host('src'),
                          host('t1', vcpus=4, vcpus_used=5,
                               cpu_allocation_ratio=2.0)],
                         [server('a', vcpus=3), server('b', vcpus=1)])
        self.assertEqual({'a': 't1'}, self.targets(plan))
        self.assertEqual({'b': no_target(vcpus=1, best_ram=61440)},
                         self.reasons(plan))

    def test_ram_with_allocation_ratio(self):
        plan = self.plan([host('src'),
                          host('t1', memory_mb=8192, memory_mb_used=4096,
                               ram_allocation_ratio=1.5)],
                         [server('a'), server('b'), server('c')])
        self.assertEqual({'a': 't1', 'b': 't1'}, self.targets(plan))
        self.assertEqual({'c': no_target(best_ram=0)}, self.reasons(plan))

    def test_disk(self):
        plan = self.plan([host('src'), host('t1', disk_free_bytes=50 * GiB)],
                         [server('a'), server('b'), server('c')])
        self.assertEqual({'a': 't1', 'b': 't1'}, self.targets(plan))
        self.assertEqual({'c': no_target(best_ram=65536 - 8192)},
                         self.reasons(plan))

    def test_too_big(self):
        plan = self.plan([host('src'), host('t1'), busy_host('t2')],
                         [server('a', vcpus=8, memory_mb=100000,
                                 disk_bytes=int(1.5 * GiB))])
        self.assertEqual([], plan.moves)
        self.assertEqual({'a': no_target(8, 100000, '1.5 GiB')},
                         self.reasons(plan))

    def test_small_disk_in_mib(self):
        plan = self.plan([host('src'), host('t1', vcpus=1)],
                         [server('a', vcpus=2, disk_bytes=512 * MiB)])
        self.assertEqual({'a': no_target(disk='512.0 MiB')},
                         self.reasons(plan))

    def test_capacity_never_exceeded(self):
        hosts = [host('src', vcpus=64, memory_mb=262144)]
        hosts += [host('t%d' % i, vcpus=8, vcpus_used=i,
                       memory_mb=16384 + 4096 * i, memory_mb_used=2048,
                       disk_free_bytes=(60 + 20 * i) * GiB,
                       cpu_allocation_ratio=1.5)
                  for i in range(1, 5)]
        servers = [server('vm%02d' % i, vcpus=1 + i % 3,
                          memory_mb=1024 * (1 + i % 5),
                          disk_bytes=(5 + 7 * (i % 4)) * GiB)
                   for i in range(30)]
        plan = self.plan(hosts, servers)
        self.assertEqual(30, len(plan.moves) + len(plan.unplaceable))
        self.assertNotEqual([], plan.unplaceable)
        by_id = {s.id: s for s in servers}
        used = collections.defaultdict(lambda: [0, 0, 0])
        for move in plan.moves:
            vm = by_id[move.server_id]
            used[move.target][0] += vm.vcpus
            used[move.target][1] += vm.memory_mb
            used[move.target][2] += vm.disk_bytes
        for target in hosts[1:]:
            vcpus, ram, disk = used[target.name]
            self.assertLessEqual(vcpus, 8 * 1.5 - target.vcpus_used)
            self.assertLessEqual(ram, target.memory_mb - 2048)
            self.assertLessEqual(disk, target.disk_free_bytes)

    def test_no_enabled_target(self):
        plan = self.plan([host('src'), host('t1', enabled=False),
                          host('t2', up=False)], [server('a')])
        self.assertEqual({'a': 'no enabled target host'}, self.reasons(plan))

    def test_default_targets_skip_disabled_and_down_hosts(self):
        plan = self.plan([host('src'), host('t1', enabled=False),
                          host('t2', up=False), busy_host('t3')],
                         [server('a'), server('b')])
        self.assertPlaced({'a': 't3', 'b': 't3'}, plan)

    def test_explicit_targets(self):
        plan = self.plan([host('src'), host('t1'), busy_host('t2')],
                         [server('a'), server('b')], targets=['t2'])
        self.assertPlaced({'a': 't2', 'b': 't2'}, plan)

    def test_live_on_shared_storage_needs_no_target_disk(self):
        plan = self.plan([host('src', shared_storage='ceph'),
                          host('t1', shared_storage='ceph',
                               disk_free_bytes=GiB)], [server('a')])
        # A live migration on shared storage copies no disk (bytes_total
        # is the RAM alone), so the target's free disk does not matter.
        self.assertEqual({'a': 'live'}, self.methods(plan))


class TestServerGroups(PlannerTestCase):

    AA = (('g', 'anti-affinity'),)
    AFF = (('g', 'affinity'),)

    def hosts(self):
        """t1 empty, t2 and t3 busy: t1 takes all unless a rule says no."""
        return [host('src'), host('t1'), busy_host('t2'), busy_host('t3')]

    def test_without_group_the_emptiest_host_takes_all(self):
        plan = self.plan(self.hosts(), [server(n) for n in 'abc'])
        self.assertPlaced({'a': 't1', 'b': 't1', 'c': 't1'}, plan)

    def test_anti_affinity_members_apart(self):
        plan = self.plan(self.hosts(),
                         [server(n, server_groups=self.AA) for n in 'abc'] +
                         [server('d')])
        targets = self.targets(plan)
        self.assertEqual(4, len(targets))
        self.assertEqual(3, len({targets[n] for n in 'abc'}))

    def test_anti_affinity_with_member_staying(self):
        plan = self.plan(self.hosts(),
                         [server('a', server_groups=self.AA),
                          server('b', server_groups=self.AA),
                          server('z', host='t1', server_groups=self.AA)])
        targets = self.targets(plan)
        self.assertEqual({'t2', 't3'}, set(targets.values()))

    def test_anti_affinity_not_enough_targets(self):
        plan = self.plan([host('src'), host('t1'), host('t2')],
                         [server(n, server_groups=self.AA) for n in 'abc'])
        self.assertEqual(2, len(set(self.targets(plan).values())))
        self.assertEqual({'c': no_target(best_ram=65536 - 4096)},
                         self.reasons(plan))

    def test_anti_affinity_other_group_ignored(self):
        plan = self.plan(self.hosts(),
                         [server('a', server_groups=self.AA),
                          server('z', host='t1',
                                 server_groups=(('h', 'anti-affinity'),))])
        self.assertPlaced({'a': 't1'}, plan)

    def test_affinity_members_together(self):
        hosts = [host('src'), host('t1'), host('t2')]
        plan = self.plan(hosts, [server(n) for n in 'abcd'])
        self.assertEqual(2, len(set(self.targets(plan).values())))
        plan = self.plan(hosts, [server(n, server_groups=self.AFF)
                                 for n in 'abcd'])
        self.assertEqual(1, len(set(self.targets(plan).values())))
        self.assertEqual([], plan.unplaceable)

    def test_affinity_follows_member_staying(self):
        plan = self.plan(self.hosts(),
                         [server('a', server_groups=self.AFF),
                          server('b', server_groups=self.AFF),
                          server('c'),
                          server('z', host='t3', server_groups=self.AFF)])
        self.assertPlaced({'a': 't3', 'b': 't3', 'c': 't1'}, plan)

    def test_affinity_member_on_a_host_that_is_no_target(self):
        plan = self.plan(self.hosts(),
                         [server('a', server_groups=self.AFF),
                          server('b', server_groups=self.AFF),
                          server('z', host='t3', server_groups=self.AFF)],
                         targets=['t1', 't2'])
        self.assertEqual([], plan.moves)
        self.assertEqual(['a', 'b'], sorted(self.reasons(plan)))

    def test_affinity_host_full(self):
        plan = self.plan([host('src'), host('t1'),
                          host('t2', memory_mb=8192, memory_mb_used=2048)],
                         [server('a', server_groups=self.AFF),
                          server('b', server_groups=self.AFF),
                          server('z', host='t2', server_groups=self.AFF)])
        self.assertEqual({'a': 't2'}, self.targets(plan))
        self.assertEqual(['b'], list(self.reasons(plan)))


class TestHypervisorVersion(PlannerTestCase):

    def source(self):
        return host('src', libvirt_version=fakes.LIBVIRT,
                    qemu_version=fakes.QEMU)

    def test_never_an_older_target(self):
        hosts = [self.source(),
                 host('old-libvirt', libvirt_version=fakes.LIBVIRT - 1,
                      qemu_version=fakes.QEMU + 1000),
                 host('old-qemu', libvirt_version=fakes.LIBVIRT + 1000,
                      qemu_version=fakes.QEMU - 1000),
                 busy_host('same', libvirt_version=fakes.LIBVIRT,
                           qemu_version=fakes.QEMU),
                 busy_host('newer', libvirt_version=fakes.LIBVIRT + 1000,
                           qemu_version=fakes.QEMU + 1000)]
        plan = self.plan(hosts, [server(n) for n in 'abcdef'])
        self.assertEqual(6, len(plan.moves))
        self.assertEqual({'same', 'newer'},
                         {m.target for m in plan.moves})
        for move in plan.moves:
            self.assertIn(['hypervisor_version', 'pass',
                           'destination is not older.'], move.verdicts)

    def test_only_older_targets(self):
        plan = self.plan([self.source(),
                          host('t1', libvirt_version=7000000,
                               qemu_version=fakes.QEMU)], [server('a')])
        self.assertEqual({'a': no_target()}, self.reasons(plan))

    def test_unknown_versions_are_allowed(self):
        plan = self.plan([self.source(), host('t1')], [server('a')])
        self.assertPlaced({'a': 't1'}, plan)
        plan = self.plan([host('src'), host('t1', libvirt_version=1)],
                         [server('a')])
        self.assertPlaced({'a': 't1'}, plan)


class TestChoice(PlannerTestCase):

    def test_prefers_target_with_base_image(self):
        hosts = [host('src'), host('t1'), host('t2')]
        plan = self.plan(hosts, [server('a', image_id='img-1')])
        self.assertPlaced({'a': 't1'}, plan)
        hosts[2].base_images = frozenset([orphans.cache_name('img-0'),
                                          orphans.cache_name('img-1')])
        plan = self.plan(hosts, [server('a', image_id='img-1')])
        self.assertPlaced({'a': 't2'}, plan)

    def test_base_image_among_fitting_targets_only(self):
        plan = self.plan([host('src'), host('t1'),
                          host('t2', memory_mb=2048,
                               base_images=IMG_1)],
                         [server('a', image_id='img-1')])
        self.assertPlaced({'a': 't1'}, plan)
        plan = self.plan([host('src', libvirt_version=fakes.LIBVIRT),
                          host('t1'),
                          host('t2', libvirt_version=fakes.LIBVIRT - 1,
                               base_images=IMG_1)],
                         [server('a', image_id='img-1')])
        self.assertPlaced({'a': 't1'}, plan)

    def test_base_image_beats_a_busier_host(self):
        plan = self.plan([host('src'), host('t1'),
                          busy_host('t2', base_images=IMG_1)],
                         [server('a', image_id='img-1'), server('b')])
        self.assertPlaced({'a': 't2', 'b': 't1'}, plan)

    def test_balance_over_equal_targets(self):
        plan = self.plan([host('src'), host('t1'), host('t2'), host('t3')],
                         [server('vm%d' % i) for i in range(6)])
        self.assertEqual({'t1': 2, 't2': 2, 't3': 2},
                         collections.Counter(self.targets(plan).values()))

    def test_balance_fills_the_emptiest_first(self):
        # RAM is the scarcest resource: t2 takes VMs until it has as
        # little free as t1, then they alternate.
        plan = self.plan([host('src'),
                          host('t1', vcpus=64, memory_mb_used=8192),
                          host('t2', vcpus=64)],
                         [server('vm%d' % i) for i in range(6)])
        self.assertEqual({'t1': 2, 't2': 4},
                         collections.Counter(self.targets(plan).values()))

    def test_biggest_first(self):
        plan = self.plan([host('src'), host('t1', memory_mb=8192)],
                         [server('small', memory_mb=2048),
                          server('big', memory_mb=8192)])
        self.assertEqual({'big': 't1'}, self.targets(plan))
        self.assertEqual(['small'], list(self.reasons(plan)))


class TestValidation(PlannerTestCase):

    HOSTS = [host('src'), host('t1'), host('t2')]

    def assertPlanError(self, message, sources=('src',), targets=None,
                        busy_hosts=(), hosts=None, **policy):
        exc = self.assertRaises(
            planner.PlanError, self.plan, hosts or self.HOSTS,
            [server('a')], drain_policy.Policy(**policy), sources=sources,
            targets=targets, busy_hosts=busy_hosts)
        self.assertEqual(message, str(exc))
        self.assertIsInstance(exc, ValueError)

    def test_unknown_hosts(self):
        self.assertPlanError(
            'Unknown host(s) x, y. Known compute hosts: src, t1, t2.',
            sources=['src', 'y'], targets=['t1', 'x'])

    def test_unknown_hosts_many_known(self):
        hosts = [host('cmp-%02d' % i) for i in range(25)]
        self.assertPlanError(
            'Unknown host(s) nope. Known compute hosts: %s ….'
            % ', '.join('cmp-%02d' % i for i in range(20)),
            sources=['nope'], hosts=hosts)

    def test_source_is_target(self):
        self.assertPlanError(
            'Host(s) src are listed as source and as target; a host being '
            'emptied cannot receive VMs.', targets=['t1', 'src'])

    def test_busy_source(self):
        self.assertPlanError(
            'Host(s) src are already being emptied by another '
            'evacuation; finish or cancel it first, or leave them out.',
            busy_hosts=['t2', 'src'])

    def test_busy_host_is_no_default_target(self):
        plan = self.plan([host('src'), busy_host('t1'), host('t2')],
                         [server('a')], busy_hosts=['t2'])
        # t2 is being emptied by another evacuation: never a target.
        self.assertPlaced({'a': 't1'}, plan)

    def test_limits(self):
        for name, value in (('max_per_source', 0), ('max_per_target', -1),
                            ('max_total', 0)):
            self.assertPlanError(
                '%s must be at least 1 (got %s): a limit of 0 would never '
                'move anything; leave it out to let the drain derive it.'
                % (name, value), **{name: value})

    def test_other_policy_errors(self):
        self.assertPlanError("method must be one of auto, live, cold, not "
                             "'fast'.", method='fast')
        self.assertPlanError('bandwidth_mb_per_s must be positive.',
                             bandwidth_mb_per_s=0)
        self.assertPlanError('max_attempts must be at least 1.',
                             max_attempts=0)

    def test_bandwidth_cap_errors(self):
        for bad in (0, -5, 2.5):
            self.assertPlanError(
                'max_bandwidth_mib_per_s must be a whole number of MiB/s '
                'above 0 (got %s); leave it out for no cap.' % bad,
                max_bandwidth_mib_per_s=bad)

    def test_bandwidth_cap_slows_live_estimates_only(self):
        policy = drain_policy.Policy(bandwidth_mb_per_s=100,
                                     max_bandwidth_mib_per_s=10)
        self.assertEqual(10 * MiB, policy.copy_rate(drain_policy.METHOD_BLOCK))
        self.assertEqual(10 * MiB, policy.copy_rate(drain_policy.METHOD_LIVE))
        self.assertEqual(100e6, policy.copy_rate(drain_policy.METHOD_COLD))
        self.assertEqual(1e9, drain_policy.Policy().copy_rate(
            drain_policy.METHOD_BLOCK))

    def test_window_errors(self):
        example = 'for example 22:00 and 06:00 for nights'
        for bad in ('9:00', '24:00', '22:60', '22h00', '', None):
            self.assertPlanError(
                'window times are UTC HH:MM from 00:00 to 23:59 (%s); %r '
                'is not one.' % (example, bad), window=('06:00', bad))
        self.assertPlanError(
            "window takes a start and an end time (%s), not ('22:00',)."
            % example, window=('22:00',))
        self.assertPlanError(
            'window 22:00-22:00 is empty: nothing would ever start. Leave '
            'the window out to allow any time.', window=('22:00', '22:00'))

    def test_no_source(self):
        self.assertPlanError('Name at least one source host.', sources=[])

    def test_validate_alone(self):
        checker = planner.Planner(self.HOSTS, [], drain_policy.Policy())
        self.assertIsNone(checker.validate(['src'], ['t1']))
        self.assertRaises(planner.PlanError, checker.validate, ['src'],
                          ['src'])


class TestPlan(PlannerTestCase):

    def plan_three(self):
        return self.plan([host('src'), host('t1')],
                         [server('a', status='SHUTOFF'), server('b'),
                          server('c', status='ERROR')])

    def test_totals(self):
        plan = self.plan_three()
        summary = plan.to_resource().to_dict()
        self.assertEqual(['c'], [u['server_id']
                                 for u in summary.pop('unplaceable')])
        self.assertEqual(
            {'vms': 3, 'moves': None,
             'by_method': {'cold': 1, 'block': 1},
             'bytes': 20 * GiB + 4096 * MiB + 20 * GiB,
             'estimated_seconds': round(plan.makespan_seconds),
             # A cold copy (500 MB/s) fills half of src's 1 GB/s link:
             # two at once fill it, a third overlaps their setups.
             'limits': {'per_source': 3, 'per_target': 3, 'total': None,
                        'derived': ['per_source', 'per_target']}},
            summary)
        self.assertEqual(plan.to_resource(), drains.Plan.from_dict(
            json.loads(json.dumps(plan.to_resource().to_dict()))))

    def test_empty_plan(self):
        plan = self.plan([host('src'), host('t1')], [])
        self.assertEqual({'vms': 0, 'moves': None, 'unplaceable': [],
                          'by_method': {}, 'bytes': 0,
                          'estimated_seconds': 0,
                          'limits': {'per_source': 2, 'per_target': 2,
                                     'total': None,
                                     'derived': ['per_source',
                                                 'per_target']}},
                         plan.to_resource().to_dict())

    def test_makespan(self):
        plan = self.plan_three()
        self.assertEqual(planner.estimate_makespan(plan.moves, self.policy),
                         plan.makespan_seconds)
        # Both share the link of src and of t1: longer than either alone.
        self.assertGreater(plan.makespan_seconds,
                           max(m.expected_seconds for m in plan.moves))

    def test_task_fields(self):
        plan = self.plan_three()
        move = {m.server_id: m for m in plan.moves}['b']
        fields = move.task_fields()
        self.assertEqual(
            {'server_id': 'b', 'server_name': 'vm-b', 'project_id': 'p1',
             'source_host': 'src', 'original_status': 'ACTIVE',
             'method': 'block', 'target_host': 't1',
             'bytes_total': move.bytes_total,
             'expected_seconds': move.expected_seconds,
             'dirty_bytes_per_s': 10e6, 'memory_bytes': 4096 * MiB,
             'verdicts': move.verdicts}, fields)
        columns = set(models.Task.__table__.columns.keys())
        self.assertTrue(set(fields).issubset(columns),
                        set(fields) - columns)
        models.Task(**fields)

    def test_verdicts_per_move(self):
        hosts = [host('src', shared_storage='ceph'),
                 host('src2'), host('t1', shared_storage='ceph')]
        plan = self.plan(hosts, [server('cold', status='SHUTOFF'),
                                 server('live'),
                                 server('block', host='src2')],
                         sources=['src', 'src2'])
        self.assertEqual({'cold': 'cold', 'live': 'live', 'block': 'block'},
                         self.methods(plan))
        expected = {'cold': ['disk_fit', 'hypervisor_version'],
                    'live': ['hypervisor_version'],
                    'block': ['disk_fit', 'hypervisor_version',
                              'shared_volumes']}
        for move in plan.moves:
            self.assertEqual(expected[move.method],
                             [v[0] for v in move.verdicts])
            for verdict in move.verdicts:
                self.assertIsInstance(verdict, list)
                self.assertEqual(3, len(verdict))
                self.assertIn(verdict[1], ('pass', 'warn', 'fail', 'skip'))
                self.assertIsInstance(verdict[2], str)
            self.assertEqual(move.verdicts,
                             json.loads(json.dumps(move.verdicts)))

    def test_failing_verdict_is_reported(self):
        plan = self.plan([host('src'), host('t1', disk_free_bytes=20 * GiB)],
                         [server('a')])
        move, = plan.moves
        self.assertEqual('fail', dict(
            (v[0], v[1]) for v in move.verdicts)['disk_fit'])


class TestDowntimeOverrides(utils.TestCase):

    def test_allowed_and_refused(self):
        self.assertEqual({'a': True, 'b': False},
                         drain_policy.downtime_overrides(['a'], ['b']))
        self.assertEqual({}, drain_policy.downtime_overrides([], []))

    def test_both_is_refused(self):
        error = self.assertRaises(ValueError, drain_policy.downtime_overrides,
                                  ['a', 'b'], ['b'])
        self.assertEqual('Downtime both allowed and refused for b; say one '
                         'or the other.', str(error))


class TestWindow(utils.TestCase):

    def test_parse_window(self):
        self.assertEqual(('22:00', '06:00'),
                         drain_policy.parse_window(' 22:00 - 06:00 '))
        self.assertIsNone(drain_policy.parse_window(''))
        self.assertIsNone(drain_policy.parse_window(None))
        for text, words in (('22:00', 'Give the window as HH:MM-HH:MM'),
                            ('22:00-', 'Give the window as HH:MM-HH:MM'),
                            ('2:00-06:00', "'2:00' is not one"),
                            ('06:00-06:00', 'is empty')):
            error = self.assertRaises(ValueError, drain_policy.parse_window,
                                      text)
            self.assertIn(words, str(error))

    def at(self, hhmm):
        hours, minutes = map(int, hhmm.split(':'))
        return datetime.datetime(2026, 11, 26, hours, minutes, 30)

    def assertOpen(self, window, open_at, closed_at):
        policy = drain_policy.Policy(window=window)
        policy.validate()
        for hhmm in open_at:
            self.assertTrue(policy.in_window(self.at(hhmm)), hhmm)
        for hhmm in closed_at:
            self.assertFalse(policy.in_window(self.at(hhmm)), hhmm)

    def test_no_window_is_always_open(self):
        self.assertOpen(None, ['00:00', '12:00', '23:59'], [])

    def test_day_window(self):
        # The start is in the window, the end is not.
        self.assertOpen(('09:00', '17:30'), ['09:00', '12:00', '17:29'],
                        ['08:59', '17:30', '23:00', '00:00'])

    def test_window_across_midnight(self):
        self.assertOpen(('22:00', '06:00'), ['22:00', '23:59', '00:00',
                                             '05:59'],
                        ['06:00', '12:00', '21:59'])

    def test_window_survives_the_database(self):
        policy = drain_policy.Policy.from_dict(json.loads(json.dumps(
            drain_policy.Policy(window=('22:00', '06:00')).to_dict())))
        self.assertEqual(('22:00', '06:00'), policy.window)
        self.assertTrue(policy.in_window(self.at('23:00')))


class TestWithFacts(utils.TestCase):

    def stats(self, free, reserved=0, bases=(), libvirt=None):
        return host_stats.to_stats(base.HostFacts(
            host='x', instances_path='/var/lib/nova/instances',
            free_bytes=free, reserved_bytes=reserved,
            base_images={name: GiB for name in bases},
            libvirt_version=libvirt))

    def test_facts_complete_nova_figures(self):
        hosts = [host('t1', disk_free_bytes=500 * GiB),
                 host('t2', disk_free_bytes=500 * GiB), host('t3')]
        completed = inventory.with_facts(hosts, {
            't1': self.stats(120 * GiB, reserved=20 * GiB,
                             bases=[orphans.cache_name('img-1')],
                             libvirt=fakes.LIBVIRT + 1),
            't2': self.stats(900 * GiB)})
        t1, t2, t3 = completed
        # Real free space, minus the reserved part, when it is smaller.
        self.assertEqual(100 * GiB, t1.disk_free_bytes)
        self.assertEqual(500 * GiB, t2.disk_free_bytes)
        self.assertEqual(IMG_1, t1.base_images)
        self.assertEqual(frozenset(), t2.base_images)
        self.assertEqual(fakes.LIBVIRT + 1, t1.libvirt_version)
        self.assertEqual(hosts[2], t3)      # no facts: nova's figures
        self.assertEqual(500 * GiB, hosts[0].disk_free_bytes)  # untouched

    def test_planner_uses_published_base_images(self):
        hosts = inventory.with_facts(
            [host('src'), host('t1'), host('t2')],
            {'t2': self.stats(900 * GiB,
                              bases=[orphans.cache_name('img-1')])})
        plan = planner.Planner(hosts, [server('a', image_id='img-1')],
                               drain_policy.Policy()).plan(['src'])
        self.assertEqual({'vm-a': 't2'},
                         {m.server_name: m.target for m in plan.moves})

    def test_link_speeds_and_dirty_rates_reach_the_plan(self):
        src = host_stats.to_stats(base.HostFacts(
            host='src', link_bytes_per_s=125e6,
            dirty_rates={'a': 40e6, 'gone': 1e6},
            instance_disk_bytes={'a': 3 * GiB}))
        facts = {'src': src, 't1': host_stats.to_stats(base.HostFacts(
            host='t1', link_bytes_per_s=1.25e9))}
        hosts = inventory.with_facts([host('src'), host('t1')], facts)
        servers = inventory.with_measurements([server('a'), server('b')],
                                              facts)
        self.assertEqual([(40e6, 3 * GiB), (None, None)],
                         [(s.dirty_bytes_per_s, s.disk_allocated_bytes)
                          for s in servers])
        plan = planner.Planner(hosts, servers, drain_policy.Policy()).plan(
            ['src'])
        moves = {m.server_id: m for m in plan.moves}
        self.assertEqual(40e6, moves['a'].dirty_bytes_per_s)
        # Unmeasured: the default assumption.
        self.assertEqual(10e6, moves['b'].dirty_bytes_per_s)
        self.assertEqual({'src': 125e6, 't1': 1.25e9}, plan.links)
        # a's disks take 3 GiB of its 20: the copy moves those; b's are
        # unmeasured: their size.
        self.assertEqual(4096 * MiB + 3 * GiB, moves['a'].bytes_total)
        self.assertEqual(4096 * MiB + 20 * GiB, moves['b'].bytes_total)
        # The slower link, src's 1 Gbit/s, bounds each move alone.
        self.assertEqual(round(15 + moves['a'].bytes_total / 125e6, 1),
                         moves['a'].expected_seconds)

    def test_disk_speeds_reach_the_plan_by_role(self):
        # src reads at 2 GB/s but writes slowly; t1 writes at 200 MB/s:
        # a source is budgeted by its reads, a target by its writes.
        facts = {
            'src': host_stats.to_stats(base.HostFacts(
                host='src', link_bytes_per_s=1.25e9,
                disk_read_bytes_per_s=2e9, disk_write_bytes_per_s=50e6)),
            't1': host_stats.to_stats(base.HostFacts(
                host='t1', link_bytes_per_s=1.25e9,
                disk_read_bytes_per_s=50e6, disk_write_bytes_per_s=200e6))}
        hosts = inventory.with_facts([host('src'), host('t1')], facts)
        policy = drain_policy.Policy()
        plan = planner.Planner(hosts, [server('a')], policy).plan(['src'])
        self.assertEqual({'src': 2e9, 't1': 200e6}, plan.disks)
        move, = plan.moves
        # t1's disk, not the links, bounds the copy.
        self.assertEqual(round(15 + move.bytes_total / 200e6, 1),
                         move.expected_seconds)
        budget = scheduling.link_lookup(plan.links, policy, plan.disks)
        self.assertEqual((1.25e9, 200e6), (budget('src'), budget('t1')))
        # The ETA is the one with the disks: slower than the links alone.
        self.assertGreater(
            plan.makespan_seconds,
            planner.estimate_makespan(plan.moves, policy, plan.links))
        self.assertEqual(plan.makespan_seconds, planner.estimate_makespan(
            plan.moves, policy, plan.links, plan.disks))

    def test_facts_round_trip(self):
        facts = base.HostFacts(host='h', instances_path='/i', free_bytes=5,
                               base_images={},
                               link_bytes_per_s=1.25e9,
                               disk_read_bytes_per_s=9e8,
                               disk_write_bytes_per_s=4e8,
                               dirty_rates={'u1': 3e6},
                               instance_disk_bytes={'u1': 7 * GiB})
        self.assertEqual(facts, host_stats.from_stats(
            'h', host_stats.to_stats(facts)))


class TestSharedStorageGroups(utils.TestCase):
    """The operator says which hosts share instances storage."""

    def dry_run(self, targets, groups):
        hosts = inventory.with_shared_storage(
            [host('src'), host('t1', disk_free_bytes=GiB), host('t2')],
            groups)
        plan = planner.Planner(hosts, [server('a')],
                               drain_policy.Policy()).plan(
            ['src'], targets)
        return {m.server_id: m.method for m in plan.moves}, plan

    def test_hosts_of_a_group_live_migrate(self):
        # t1's own disk is nearly full: on shared storage nothing is
        # copied there.
        methods, _plan = self.dry_run(['t1'], {'ceph': ['src', 't1']})
        self.assertEqual({'a': 'live'}, methods)

    def test_hosts_outside_the_group_block_migrate(self):
        methods, _plan = self.dry_run(['t2'], {'ceph': ['src', 't1']})
        self.assertEqual({'a': 'block'}, methods)

    def test_without_groups_storage_is_local(self):
        methods, plan = self.dry_run(['t1', 't2'], {})
        self.assertEqual({'a': 'block'}, methods)
        self.assertEqual('t2', plan.moves[0].target)

    def test_parse_option(self):
        self.assertEqual(
            {'ceph': ['c1', 'c2'], 'nfs': ['c3']},
            inventory.parse_storage_groups({'ceph': 'c1;c2', 'nfs': ' c3 '}))
        self.assertRaises(ValueError, inventory.parse_storage_groups,
                          {'ceph': 'c1;c2', 'nfs': 'c2'})


class TestExpectedDowntime(PlannerTestCase):
    """The plan shows how long each guest is expected to be down."""

    def downtime(self, status='ACTIVE', **policy):
        plan = self.plan([host('src'), host('t1')],
                         [server('a', status=status)],
                         drain_policy.Policy(**policy))
        move, = plan.moves
        return move.method, move.expected_downtime_seconds

    def test_live_and_stopped(self):
        self.assertEqual(('block', 1.0), self.downtime())
        self.assertEqual(('cold', 0.0), self.downtime(status='SHUTOFF'))

    def test_cold_copy_while_down(self):
        self.assertEqual(
            ('cold', round(10 + 20 * GiB / 100e6, 1)),
            self.downtime(method='cold', allow_downtime=True,
                          bandwidth_mb_per_s=100))

    def test_two_phase_sends_what_changed_and_verifies(self):
        method, down = self.downtime(method='cold', allow_downtime=True,
                                     two_phase_cold=True,
                                     bandwidth_mb_per_s=100)
        self.assertEqual(round(10 + 0.02 * 20 * GiB / 100e6 +
                               20 * GiB / 1e9, 1), down)
        self.assertLess(down, 0.25 * self.downtime(
            method='cold', allow_downtime=True, bandwidth_mb_per_s=100)[1])
