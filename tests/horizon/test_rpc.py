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
"""horizon_panel.api.evacuator against a real oslo.messaging RPC server.

No Django test case, no mocks: a small endpoint serves the evacuator's
topic on the fake:// transport and, when this machine runs RabbitMQ, on
RabbitMQ under a topic of its own (queues deleted afterwards).
"""

import importlib
import os
import uuid

import django
from django import conf as django_conf
from django.test import utils as django_test_utils
import fixtures
import oslo_messaging as messaging
import testtools

from nova_migration_ext.evacuation import rpcapi
from tests.functional import rabbit


evacuator = None  # horizon_panel.api.evacuator, imported by the tests


class RecordingEndpoint:
    """Answers like the evacuator and remembers what it was asked."""

    target = messaging.Target(version=rpcapi.VERSION)

    def __init__(self):
        self.calls = []

    def list(self, ctxt):
        self.calls.append(('list', {}))
        return [{'id': 'e1', 'name': 'n', 'state': 'planned',
                 'sources': ['h1'], 'owner': None, 'created_at': 'now'}]

    def plan(self, ctxt, **kwargs):
        self.calls.append(('plan', kwargs))
        return {'id': 'e1', 'state': 'planned'}

    def start(self, ctxt, evacuation_id, actor):
        self.calls.append(('start', {'evacuation_id': evacuation_id,
                                     'actor': actor}))
        return {'error': 'Evacuation %s is running already.'
                % evacuation_id}

    def skip(self, ctxt, evacuation_id, server, actor):
        self.calls.append(('skip', {'evacuation_id': evacuation_id,
                                    'server': server, 'actor': actor}))
        return {'id': evacuation_id, 'state': 'running'}


class FakeUser:
    username = 'carol'


class FakeRequest:
    user = FakeUser()


def _configure_django():
    """The panel's test settings when run outside Django's test runner."""
    if not django_conf.settings.configured:
        os.environ.setdefault('DJANGO_SETTINGS_MODULE',
                              'tests.horizon.settings')
        django.setup()


class SettingsFixture(fixtures.Fixture):
    """NOVA_MIGRATION_EXT for one test, with or without Django's runner."""

    def __init__(self, **options):
        self.options = options

    def _setUp(self):
        _configure_django()
        override = django_test_utils.override_settings(
            NOVA_MIGRATION_EXT=self.options)
        override.enable()
        self.addCleanup(override.disable)


class EvacuatorClientRPCTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        _configure_django()
        # Imported once settings exist: Horizon reads them on import.
        global evacuator
        evacuator = importlib.import_module('horizon_panel.api.evacuator')

    def _serve(self, url, topic):
        self.useFixture(SettingsFixture(transport_url=url, rpc_topic=topic,
                                        timeout=5))
        client = evacuator.client()
        self.addCleanup(evacuator._clients.clear)
        self.addCleanup(client.transport.cleanup)
        self.endpoint = RecordingEndpoint()
        server = messaging.get_rpc_server(
            client.transport, messaging.Target(topic=topic, server='t'),
            [self.endpoint], executor='threading')
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)

    def _exercise(self):
        request = FakeRequest()
        self.assertEqual(['e1'], [e['id'] for e in
                                  evacuator.evacuation_list(request)])
        evacuator.evacuation_plan(request, ['h1'], policy={'max_total': 2},
                                  name='n', target_aggregate='agg')
        evacuator.task_skip(request, 'e1', 'vm-1')
        error = self.assertRaises(evacuator.EvacuatorError,
                                  evacuator.evacuation_start, request, 'e1')
        self.assertEqual('Evacuation e1 is running already.', str(error))
        self.assertEqual(['list', 'plan', 'skip', 'start'],
                         [name for name, _kwargs in self.endpoint.calls])
        plan = self.endpoint.calls[1][1]
        self.assertEqual(
            {'sources': ['h1'], 'targets': None,
             'policy': {'max_total': 2}, 'name': 'n', 'actor': 'carol',
             'dry_run': False, 'target_aggregate': 'agg'}, plan)
        self.assertEqual({'evacuation_id': 'e1', 'server': 'vm-1',
                          'actor': 'carol'}, self.endpoint.calls[2][1])
        self.assertEqual('carol', self.endpoint.calls[3][1]['actor'])

    def test_fake_transport(self):
        self._serve('fake://', 'nme-horizon-%s' % uuid.uuid4().hex[:8])
        self._exercise()

    def test_rabbitmq(self):
        rabbit.require(self)
        topic = 'nme-horizon-%s' % uuid.uuid4().hex[:8]
        self.addCleanup(rabbit.delete_queues, topic, topic + '.t')
        self._serve(rabbit.URL, topic)
        self._exercise()

    def test_no_evacuator_gives_the_timeout_message(self):
        self.useFixture(SettingsFixture(
            transport_url='fake://', timeout=1,
            rpc_topic='nme-horizon-nobody-%s' % uuid.uuid4().hex[:8]))
        self.addCleanup(evacuator._clients.clear)
        error = self.assertRaises(evacuator.EvacuatorUnavailable,
                                  evacuator.evacuation_start,
                                  FakeRequest(), 'e1')
        self.assertIn('did not answer within 1 s: check that '
                      'nova-migration-evacuator is running', str(error))
