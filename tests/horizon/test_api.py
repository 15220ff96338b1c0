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
"""horizon_panel.api.evacuator over a mocked RPC client."""

from unittest import mock

from django.test.utils import override_settings
from openstack_dashboard.test import helpers as test
import oslo_messaging as messaging

from horizon_panel.api import evacuator


class ApiTests(test.TestCase):

    def setUp(self):
        super().setUp()
        self.rpc = mock.Mock()
        patcher = mock.patch.object(evacuator, 'client',
                                    return_value=self.rpc)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_actor_is_the_user_who_clicked(self):
        self.rpc.start.return_value = {'id': 'e1', 'state': 'running'}
        self.assertEqual('running', evacuator.evacuation_start(
            self.request, 'e1')['state'])
        self.rpc.start.assert_called_once_with('e1', actor=self.user.name)
        evacuator.task_retry(self.request, 'e1', 'vm1')
        self.rpc.retry.assert_called_once_with('e1', 'vm1',
                                               actor=self.user.name)
        evacuator.evacuation_plan(self.request, ['h1'], policy={'x': 1},
                                  name='n', dry_run=True)
        self.rpc.plan.assert_called_once_with(
            ['h1'], targets=None, policy={'x': 1}, name='n',
            actor=self.user.name, dry_run=True, target_aggregate=None)

    def test_error_answer_raises_with_the_evacuators_message(self):
        self.rpc.pause.return_value = {'error': 'Start it first.'}
        with self.assertRaises(evacuator.EvacuatorError) as caught:
            evacuator.evacuation_pause(self.request, 'e1')
        error = caught.exception
        self.assertEqual('Start it first.', str(error))

    def test_list_is_not_mistaken_for_an_error(self):
        self.rpc.list.return_value = []
        self.assertEqual([], evacuator.evacuation_list(self.request))

    @override_settings(NOVA_MIGRATION_EXT={'transport_url': 'fake://',
                                           'timeout': 45})
    def test_timeout_says_what_to_check(self):
        self.rpc.cancel.side_effect = messaging.MessagingTimeout('late')
        with self.assertRaises(evacuator.EvacuatorUnavailable) as caught:
            evacuator.evacuation_cancel(self.request, 'e1')
        error = caught.exception
        self.assertEqual(
            "The evacuator service did not answer within 45 s: check that "
            "nova-migration-evacuator is running and that "
            "NOVA_MIGRATION_EXT['transport_url'] points at its RabbitMQ.",
            str(error))
        self.rpc.show.side_effect = messaging.MessagingTimeout('late')
        with self.assertRaises(evacuator.EvacuatorUnavailable) as caught:
            evacuator.evacuation_get(self.request, 'e1')
        error = caught.exception
        self.assertIn('within 20 s', str(error))


class SettingsTests(test.TestCase):

    @override_settings(NOVA_MIGRATION_EXT={})
    def test_missing_transport_url_is_explained(self):
        with self.assertRaises(evacuator.EvacuatorUnavailable) as caught:
            evacuator.evacuation_list(self.request)
        error = caught.exception
        self.assertIn("NOVA_MIGRATION_EXT['transport_url'] is not set",
                      str(error))

    @override_settings(NOVA_MIGRATION_EXT={'transport_url': 'fake://',
                                           'rpc_topic': 'other-topic',
                                           'read_timeout': 5})
    def test_client_is_built_once_per_settings(self):
        client = evacuator.client()
        self.assertIs(client, evacuator.client())
        self.assertEqual('other-topic', client.client.target.topic)
        self.assertEqual((5, 2), (client.read_timeout, client.read_attempts))
