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
"""Nova's own versioned notifications, over RabbitMQ, feed the phases.

The embedded cloud's notifications (captured by nova's test fixture) are
published on the RabbitMQ this machine runs, under a topic of this test's
own; the evacuator's notification listener consumes them there, as it
would consume nova's ``versioned_notifications`` in production.
"""

import collections
import json
import os
import time
import uuid

import fixtures
from oslo_config import cfg
import oslo_messaging as messaging
import testtools.content

from nova_migration_ext.compute import facts
from nova_migration_ext.compute import orphans
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import notifications
from tests.functional import rabbit
from tests.functional import test_evacuation

LIVE_EVENTS = ['instance.live_migration_pre.start',
               'instance.live_migration_pre.end',
               'instance.live_migration_post.start',
               'instance.live_migration_post.end']
COLD_EVENTS = ['instance.resize_prep.start', 'instance.resize.start',
               'instance.resize.end', 'instance.resize_finish.end',
               'instance.resize_confirm.end']


def _subsequence(wanted, seen):
    """Whether *wanted* appears in *seen* in that order."""
    events = iter(seen)
    return all(any(e == w for e in events) for w in wanted)


class RabbitNotificationsTestBase(test_evacuation.EvacuationTestBase):
    """The embedded cloud's notifications reach a listener over RabbitMQ."""

    def setUp(self):
        rabbit.require(self)
        super().setUp()
        self.seen = collections.defaultdict(list)
        record = notifications.MigrationEventEndpoint._record

        def recording(endpoint, event_type, payload):
            self.seen[notifications.server_of(payload)].append(event_type)
            return record(endpoint, event_type, payload)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.engine.notifications.'
            'MigrationEventEndpoint._record', recording))
        pool = 'nova-migration-evacuator-notifications-test-%s' % (
            uuid.uuid4().hex[:8])
        transport = messaging.get_notification_transport(
            cfg.CONF, url=rabbit.URL)
        self.addCleanup(transport.cleanup)
        topics = []
        # Registered before the listener's own cleanups, so it runs after
        # them: the queues go once the listener has stopped.
        self.addCleanup(lambda: rabbit.delete_queues(pool, *[
            '%s.%s' % (topic, priority) for topic in topics
            for priority in ('info', 'warn', 'error')]))
        topics.extend(self.listen_to_notifications(self.store, transport,
                                                   pool))

    def wait_for_event(self, server_id, event_type, timeout=30):
        deadline = time.monotonic() + timeout
        while event_type not in self.seen[server_id]:
            if time.monotonic() > deadline:
                self.fail('no %s for %s; seen: %s'
                          % (event_type, server_id, self.seen[server_id]))
            time.sleep(0.1)


class NotificationPhaseTest(RabbitNotificationsTestBase):

    def test_phases_of_a_live_and_a_cold_migration(self):
        live = self.boot('old1', name='live')
        cold = self.boot('old1', name='cold')
        self.api.post_server_action(cold['id'], {'os-stop': None})
        self._wait_for_state_change(cold, 'SHUTOFF')
        phases_seen = collections.defaultdict(list)

        def on_tick(info):
            for task in info.tasks:
                if task.phase and task.state in states.TASK_ACTIVE \
                        and task.phase not in phases_seen[task.name]:
                    phases_seen[task.name].append(task.phase)
        evacuation_id, _plan = self.engine.plan(
            test_evacuation.OLD, test_evacuation.NEW, drain_policy.Policy())
        self.engine.start(evacuation_id)
        state = self.engine.run(evacuation_id, poll_interval=0.2,
                                timeout=120, on_tick=on_tick)
        self.assertEqual(states.COMPLETED, state)
        self.assert_drained([live, cold])
        self.wait_for_event(live['id'], LIVE_EVENTS[-1])
        self.wait_for_event(cold['id'], COLD_EVENTS[-1])
        self.addDetail('events', testtools.content.text_content(
            '\n'.join('%s: %s' % kv for kv in self.seen.items())))
        self.addDetail('phases-while-active', testtools.content.text_content(
            '\n'.join('%s: %s' % kv for kv in phases_seen.items())))

        # nova's own notifications, in nova's order, reached the listener.
        self.assertTrue(_subsequence(LIVE_EVENTS, self.seen[live['id']]),
                        self.seen[live['id']])
        self.assertTrue(_subsequence(COLD_EVENTS, self.seen[cold['id']]),
                        self.seen[cold['id']])
        info = self.engine.show(evacuation_id)
        methods = {t.name: t.method for t in info.tasks}
        self.assertEqual({'live': 'live', 'cold': 'cold'}, methods)
        # Each task names the last step nova reported for it.
        last = {t.name: t.phase for t in info.tasks}
        self.assertEqual(
            {'live': notifications.EVENTS[
                self.seen[live['id']][-1]][0],
             'cold': notifications.EVENTS[
                self.seen[cold['id']][-1]][0]}, last)
        self.assertEqual(100.0, info.progress)


class HostFactsTest(RabbitNotificationsTestBase):

    def wait_for_facts(self, hosts, predicate=lambda stats: True,
                       timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            facts = self.store.host_facts(max_age=600)
            if all(h in facts and predicate(facts[h]) for h in hosts):
                return facts
            if time.monotonic() > deadline:
                self.fail('no facts for %s; have %s' % (hosts, facts))
            time.sleep(0.1)

    def test_planner_prefers_the_host_that_has_the_base_image(self):
        server = self.boot('old1', name='vm')
        cache_name = orphans.cache_name(server['image']['id'])
        # Every compute publishes its facts at each resource-tracker pass.
        self._run_periodics()
        self.wait_for_facts(test_evacuation.OLD + test_evacuation.NEW)
        [move] = self.engine.dry_run(['old1'], test_evacuation.NEW).moves
        self.assertEqual('new1', move.target)   # all alike: the first

        # The embedded cloud's hosts share one instances path (which holds
        # the VM's base image); give the new hosts image caches of their
        # own, and new2 the VM's base image. Their next resource-tracker
        # pass publishes them.
        for host in test_evacuation.NEW:
            own = facts.LocalStorage(
                self.useFixture(fixtures.TempDir()).path)
            os.makedirs(own.base_dir)
            self.computes[host].driver._storage = own
        with open(self.computes['new2'].driver._storage.base_image_path(
                cache_name), 'wb') as f:
            f.write(b'\0' * 4096)
        self._run_periodics()

        def cached(stats):
            return json.loads(stats['migration_ext_base_images'])
        self.wait_for_facts(['new2'], lambda stats: cache_name in cached(
            stats))
        self.wait_for_facts(['new1', 'new3'], lambda stats: not cached(
            stats))

        [move] = self.engine.dry_run(['old1'], test_evacuation.NEW).moves
        self.assertEqual('new2', move.target)
