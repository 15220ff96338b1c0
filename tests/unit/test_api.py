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
"""The API's routes, schemas and policy, without Keystone.

tests/functional/test_api.py runs the whole API on a real Keystone; here
the resources are called with the headers auth_token would set.
"""

import json
from unittest import mock

from keystoneauth1 import exceptions as ks_exc
from novaclient import exceptions as nova_exc
from oslo_config import cfg
from oslo_config import fixture as config_fixture
import webob

from nova_migration_ext.api import app as api_app
from nova_migration_ext.api import policies
from nova_migration_ext.api import schemas
from nova_migration_ext.contract import hosts
from nova_migration_ext.engine import service
from tests.unit import utils


class FakeEngine:

    def __init__(self):
        self.calls = []

    def pause(self, evacuation_id, actor='admin'):
        self.calls.append(('pause', evacuation_id, actor))

    def retry(self, evacuation_id, server, actor='admin', **kwargs):
        self.calls.append(('retry', evacuation_id, server, kwargs))


class ApiTest(utils.TestCase):

    def setUp(self):
        super().setUp()
        conf = self.useFixture(config_fixture.Config(cfg.ConfigOpts())).conf
        conf([], default_config_files=[])
        self.engine = FakeEngine()
        self.app = api_app.Application(self.engine,
                                       policies.enforcer(conf))

    def call(self, method, path, body=None, roles='admin'):
        request = webob.Request.blank(path, method=method, headers={
            'X-Roles': roles, 'X-User-Id': 'u1', 'X-User-Name': 'alice',
            'X-User-Domain-Name': 'Default', 'X-Project-Id': 'p1',
            'X-Project-Name': 'ops', 'Content-Type': 'application/json'})
        if body is not None:
            request.body = body if isinstance(body, bytes) else \
                json.dumps(body).encode()
        response = request.get_response(self.app)
        return response.status_int, response.json

    def test_every_rule_defaults_to_admin_and_is_documented(self):
        self.assertEqual(
            {'drain:' + a for a in ('list', 'show', 'create', 'start',
                                    'pause', 'resume', 'cancel',
                                    'retry', 'skip', 'hosts')},
            {rule.name for rule in policies.list_rules()})
        for rule in policies.list_rules():
            self.assertEqual('role:admin', rule.check_str)
            self.assertTrue(rule.description and rule.operations)

    def test_unknown_path_and_method(self):
        self.assertEqual(404, self.call('GET', '/v2/drains')[0])
        code, body = self.call('DELETE', '/v1/drains')
        self.assertEqual(405, code)
        self.assertIn('DELETE is not allowed', body['error']['message'])

    def test_policy_refusal_names_rule_and_user(self):
        code, body = self.call('POST', '/v1/drains/e1/action',
                               {'pause': None}, roles='member,reader')
        self.assertEqual(403, code)
        self.assertIn('drain:pause does not allow alice (user u1, '
                      'domain Default, project ops)',
                      body['error']['message'])
        self.assertEqual([], self.engine.calls)

    def test_action_acts_as_the_token_user(self):
        self.app._show = lambda evacuation_id: {'id': evacuation_id}
        code, body = self.call('POST', '/v1/drains/e1/action',
                               {'pause': None})
        self.assertEqual(200, code, body)
        self.assertEqual(
            [('pause', 'e1', 'alice (user u1, domain Default, project ops)')],
            self.engine.calls)

    def test_unknown_action_changes_nothing(self):
        code, body = self.call('POST', '/v1/drains/e1/action',
                               {'explode': None})
        self.assertEqual(400, code)
        self.assertIn("'explode' was unexpected", body['error']['message'])
        self.assertEqual([], self.engine.calls)

    def test_schema_names_the_place_of_the_error(self):
        error = self.assertRaises(
            api_app.ApiError, api_app.validate, schemas.PLAN,
            {'sources': ['h1'], 'policy': {'max_total': 'many'}})
        self.assertEqual(400, error.code)
        self.assertIn('at policy/max_total', error.message)
        self.assertIn('Nothing was changed', error.message)

    def test_retry_with_downtime_allowed(self):
        self.app._show = lambda evacuation_id: {'id': evacuation_id}
        code, body = self.call('POST', '/v1/drains/e1/action',
                               {'retry': {'server': 'vm-1',
                                          'allow_downtime': True}})
        self.assertEqual(200, code, body)
        code, body = self.call('POST', '/v1/drains/e1/action',
                               {'retry': {'server': 'vm-2'}})
        self.assertEqual(200, code, body)
        self.assertEqual([('retry', 'e1', 'vm-1', {'allow_downtime': True}),
                          ('retry', 'e1', 'vm-2', {})], self.engine.calls)
        code, body = self.call('POST', '/v1/drains/e1/action',
                               {'retry': {'server': 'vm-3',
                                          'allow_downtime': 'yes'}})
        self.assertEqual(400, code)
        self.assertIn('allow_downtime', body['error']['message'])
        code, body = self.call('POST', '/v1/drains/e1/action',
                               {'skip': {'server': 'vm-3',
                                         'allow_downtime': True}})
        self.assertEqual(400, code)
        self.assertEqual(2, len(self.engine.calls))

    def test_hosts_as_the_contract_writes_them(self):
        found = [hosts.Host('c1', vms=2, disk_used_bytes=3)]
        with mock.patch.object(service, 'hosts', return_value=found) as call:
            code, body = self.call('GET', '/v1/hosts')
        self.assertEqual(200, code, body)
        self.assertEqual({'hosts': [found[0].to_dict()]}, body)
        call.assert_called_once_with(self.engine)

    def test_refused_by_its_own_rule(self):
        with mock.patch.object(service, 'hosts') as call:
            code, body = self.call('GET', '/v1/hosts', roles='member')
        self.assertEqual(403, code)
        self.assertIn('Policy rule drain:hosts does not allow alice',
                      body['error']['message'])
        call.assert_not_called()

    def test_nova_failing_says_what_to_check(self):
        for error in (ks_exc.ConnectFailure('Unable to establish '
                                            'connection to nova'),
                      nova_exc.ClientException(500, 'Unexpected API Error')):
            with mock.patch.object(service, 'hosts', side_effect=error):
                code, body = self.call('GET', '/v1/hosts')
            self.assertEqual(503, code, body)
            self.assertEqual('Service Unavailable', body['error']['title'])
            message = body['error']['message']
            self.assertIn('Nova did not list the compute hosts', message)
            self.assertIn(str(error), message)
            self.assertIn('[nova] credentials', message)
