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
"""horizon_panel.api.evacuator over a mocked API client.

tests/horizon/test_rest.py runs the same module over real HTTP.
"""

from unittest import mock

from django.test.utils import override_settings
from openstack_dashboard.test import helpers as test

from horizon_panel.api import evacuator
from nova_migration_ext.client import v1 as client_v1


class ApiTests(test.TestCase):

    def setUp(self):
        super().setUp()
        self.api = mock.Mock()
        patcher = mock.patch.object(evacuator, 'client',
                                    return_value=self.api)
        self.client = patcher.start()
        self.addCleanup(patcher.stop)

    def test_calls_go_as_the_user_without_an_actor(self):
        # The API names the token's user; the panel sends no name.
        self.api.start.return_value = {'id': 'e1', 'state': 'running'}
        self.assertEqual('running', evacuator.evacuation_start(
            self.request, 'e1')['state'])
        self.api.start.assert_called_once_with('e1')
        self.client.assert_called_with(self.request, 7)   # the settings'
        evacuator.task_retry(self.request, 'e1', 'vm1')
        self.api.retry.assert_called_once_with('e1', 'vm1',
                                               allow_downtime=False,
                                               target=None)
        evacuator.evacuation_plan(self.request, ['h1'], policy={'x': 1},
                                  name='n', dry_run=True)
        self.api.plan.assert_called_once_with(
            ['h1'], targets=None, policy={'x': 1}, name='n',
            dry_run=True, target_aggregate=None)

    @override_settings(NOVA_MIGRATION_EXT={'timeout': 45,
                                           'read_timeout': 7})
    def test_timeouts_come_from_the_settings(self):
        evacuator.evacuation_cancel(self.request, 'e1')
        self.client.assert_called_with(self.request, 45)
        evacuator.evacuation_list(self.request)
        self.client.assert_called_with(self.request, 7)

    def test_a_refusal_raises_with_the_apis_message(self):
        self.api.pause.side_effect = client_v1.ApiError(409,
                                                        'Start it first.')
        with self.assertRaises(evacuator.EvacuatorError) as caught:
            evacuator.evacuation_pause(self.request, 'e1')
        self.assertEqual('Start it first.', str(caught.exception))

    def test_list_is_not_mistaken_for_an_error(self):
        self.api.list.return_value = []
        self.assertEqual([], evacuator.evacuation_list(self.request))


class ClientTests(test.TestCase):

    def test_client_uses_the_catalog_and_the_users_token(self):
        with mock.patch('openstack_dashboard.api.base.url_for',
                        return_value='http://drain.example.org:9779'):
            client = evacuator.client(self.request, 30)
        self.assertEqual('http://drain.example.org:9779',
                         client.http.endpoint_override)
        auth = client.http.session.auth
        self.assertEqual(self.request.user.token.id, auth.token)
        self.assertEqual(30, client.timeout)
