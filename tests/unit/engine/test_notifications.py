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
"""Tests of the endpoint that follows moves through nova's notifications."""

import time

from oslo_config import cfg
import oslo_messaging as messaging

from nova_migration_ext.compute import host_stats
from nova_migration_ext.contract import states
from nova_migration_ext.engine import notifications
from tests.unit.engine import fakes
from tests.unit.engine import test_store
from tests.unit import utils

GiB = 1024 ** 3


def payload(server_id, host='cmp-1'):
    """The part of nova's InstanceActionPayload the endpoint reads."""
    return {'nova_object.name': 'InstanceActionPayload',
            'nova_object.namespace': 'nova',
            'nova_object.version': '1.8',
            'nova_object.data': {'uuid': server_id, 'host': host,
                                 'state': 'active',
                                 'task_state': 'migrating'}}


class TestMigrationEventEndpoint(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.store = fakes.sqlite_store(self)
        self.evacuation_id = self.store.create_evacuation(
            source_hosts=['cmp-1'], policy=test_store.POLICY, actor='alice',
            tasks=[test_store.task('live-vm'),
                   test_store.task('cold-vm', method='cold')])
        self.endpoint = notifications.MigrationEventEndpoint(self.store)
        for task in self.store.tasks(self.evacuation_id):
            self.store.update_task(task.id, 'ev', states.SUBMITTING)
            self.store.update_task(task.id, 'ev', states.MIGRATING)

    def send(self, event_type, server_id, priority='info'):
        return getattr(self.endpoint, priority)(
            {}, 'nova-compute:cmp-1', event_type, payload(server_id), {})

    def task(self, server_id):
        [task] = [t for t in self.store.tasks(self.evacuation_id)
                  if t.server_id == server_id]
        return task

    def assertTask(self, server_id, phase, bytes_done):
        task = self.task(server_id)
        self.assertEqual((phase, bytes_done), (task.phase, task.bytes_done))

    def test_live_migration_phases(self):
        self.send('instance.live_migration_pre.start', 'live-vm')
        self.assertTask('live-vm', 'preparing the destination', 0)
        self.send('instance.live_migration_pre.end', 'live-vm')
        self.assertTask('live-vm', 'copying memory and disks', 0)
        self.send('instance.live_migration_post.start', 'live-vm')
        self.assertTask('live-vm', 'switching over', 5 * GiB)
        self.send('instance.live_migration_post.end', 'live-vm')
        self.assertTask('live-vm', 'source cleaned up', 5 * GiB)

    def test_rollback_resets_the_copied_bytes(self):
        self.store.update_task(self.task('live-vm').id, 'ev',
                               bytes_done=GiB)
        self.send('instance.live_migration_abort.start', 'live-vm')
        self.assertTask('live-vm', 'aborting', GiB)
        self.send('instance.live_migration_rollback.end', 'live-vm')
        self.assertTask('live-vm', 'rolled back', 0)

    def test_cold_migration_counts_its_copy(self):
        self.send('instance.resize.start', 'cold-vm')
        self.assertTask('cold-vm', 'powered off, copying disks', 0)
        self.send('instance.resize.end', 'cold-vm')
        self.assertTask('cold-vm', 'disks copied', 5 * GiB)
        self.send('instance.resize.error', 'cold-vm', priority='error')
        self.assertTask('cold-vm', 'copy failed', 0)

    def test_a_late_event_names_the_phase_only(self):
        task = self.task('cold-vm')
        self.store.update_task(task.id, 'ev', states.DONE)
        self.send('instance.resize_revert.end', 'cold-vm')
        # The phase says what nova did last; the done task keeps its bytes.
        self.assertTask('cold-vm', 'reverted', 0)
        self.assertEqual(states.DONE, self.task('cold-vm').state)

    def test_the_newest_task_of_a_server_gets_the_event(self):
        newer = self.store.create_evacuation(
            source_hosts=['cmp-1'], policy=test_store.POLICY, actor='bob',
            tasks=[test_store.task('live-vm')])
        self.send('instance.live_migration_pre.start', 'live-vm')
        [task] = self.store.tasks(newer)
        self.assertEqual('preparing the destination', task.phase)
        self.assertIsNone(self.task('live-vm').phase)

    def test_other_events_and_servers_change_nothing(self):
        before = [(t.phase, t.bytes_done, t.updated_at)
                  for t in self.store.tasks(self.evacuation_id)]
        self.assertIsNone(self.send('instance.live_migration_pre.start',
                                    'not-ours'))
        self.assertIsNone(self.send('instance.power_off.start', 'live-vm'))
        self.assertIsNone(self.endpoint.info(
            {}, 'nova-compute:cmp-1', 'instance.resize.end', {}, {}))
        self.assertEqual(before, [(t.phase, t.bytes_done, t.updated_at)
                                  for t in self.store.tasks(
                                      self.evacuation_id)])

    def test_filter_lets_migration_events_only(self):
        rule = notifications.MigrationEventEndpoint.filter_rule
        for event_type in notifications.EVENTS:
            self.assertTrue(rule.match({}, 'nova-compute:h', event_type,
                                       {}, {}), event_type)
        for event_type in ('instance.update', 'instance.power_off.end',
                           'compute.exception'):
            self.assertFalse(rule.match({}, 'nova-compute:h', event_type,
                                        {}, {}), event_type)

    def test_listener_over_the_fake_transport(self):
        """Notifications published by oslo.messaging reach the store."""
        conf = cfg.ConfigOpts()
        conf([])
        transport = messaging.get_notification_transport(conf, url='fake:/')
        listener = notifications.get_listener(
            conf, self.store, ['versioned_notifications'], 'evacuator',
            exchange=conf.control_exchange, transport=transport)
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)
        notifier = messaging.Notifier(
            transport, 'nova-compute:cmp-1', driver='messagingv2',
            topics=['versioned_notifications'])
        notifier.info({}, 'instance.live_migration_pre.end',
                      payload('live-vm'))
        for _attempt in range(200):
            if self.task('live-vm').phase:
                break
            time.sleep(0.05)
        self.assertTask('live-vm', 'copying memory and disks', 0)


class TestHostFactsEndpoint(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.store = fakes.sqlite_store(self)
        self.endpoint = notifications.HostFactsEndpoint(self.store)

    def test_facts_are_kept(self):
        stats = {'migration_ext_free_bytes': '1000',
                 'migration_ext_base_images': '{"abc": 10}'}
        self.assertEqual(messaging.NotificationResult.HANDLED,
                         self.endpoint.info({}, 'migration_ext.cmp-1',
                                            host_stats.FACTS_EVENT,
                                            {'host': 'cmp-1',
                                             'stats': stats}, {}))
        self.assertEqual({'cmp-1': stats}, self.store.host_facts(60))

    def test_malformed_facts_are_ignored(self):
        for payload in ({}, {'host': 'cmp-1'}, {'stats': {}},
                        {'host': 'cmp-1', 'stats': 'x'}, None):
            self.assertIsNone(self.endpoint.info(
                {}, 'migration_ext.cmp-1', host_stats.FACTS_EVENT, payload,
                {}))
        self.assertEqual({}, self.store.host_facts(60))

    def test_filter(self):
        rule = self.endpoint.filter_rule
        self.assertTrue(rule.match({}, 'p', 'migration_ext.host.facts', {},
                                   {}))
        for event_type in ('migration_ext.host.factsX',
                           'migration_ext.precheck.warn', 'instance.update'):
            self.assertFalse(rule.match({}, 'p', event_type, {}, {}))
