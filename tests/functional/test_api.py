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
"""The evacuations' REST API on a real Keystone and the embedded cloud.

keystonemiddleware checks each request's token against a Keystone
process (tests/functional/horizon_stack.py); the API plans on the
embedded nova through the engine. An admin plans, starts and reads an
evacuation and is named in its audit log; a member of the project is
refused by policy; bad bodies, unknown hosts and wrong states get the
status and message that say what to fix, and change nothing.
"""

import fixtures
from oslo_config import cfg
import requests

from nova_migration_ext.api import app as api_app
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import service
from tests.functional import horizon_stack
from tests.functional import test_evacuation

MEMBER = 'operator-member'
MEMBER_PASSWORD = 'member-secret'
GiB = drain_policy.GiB
MiB = drain_policy.MiB


class ApiTestBase(test_evacuation.EvacuationTestBase):
    """A real Keystone, the embedded cloud and the API served on both."""

    # Keystone's bootstrap and start: about 20 s on two busy cores.
    TIMEOUT_SCALING_FACTOR = 2

    def setUp(self):
        horizon_stack.require(self, browser=False)
        keystone = self.useFixture(horizon_stack.KeystoneServer(
            self.useFixture(fixtures.TempDir()).path))
        super().setUp()
        self.keystone = keystone.finish()
        self.keystone.create_user(MEMBER, MEMBER_PASSWORD, role='member')
        self.url = self.serve(api_app.build(self.api_conf(), self.engine))

    def api_conf(self):
        """The API's configuration, as a deployment writes it."""
        path = self.useFixture(fixtures.TempDir()).path + '/api.conf'
        with open(path, 'w') as f:
            f.write(self.keystone.authtoken_section())
        conf = cfg.ConfigOpts()
        service.register_opts(conf)
        conf(['--config-file', path], project='nova-migration-ext')
        return conf

    def token(self, user, password):
        identity = {'methods': ['password'], 'password': {'user': {
            'name': user, 'domain': {'id': 'default'},
            'password': password}}}
        scope = {'project': {'name': 'admin', 'domain': {'id': 'default'}}}
        headers, _body = self.keystone.request('POST', '/auth/tokens', {
            'auth': {'identity': identity, 'scope': scope}})
        return headers['X-Subject-Token']

    def admin(self):
        return self.token(horizon_stack.ADMIN_USER,
                          horizon_stack.ADMIN_PASSWORD)

    def call(self, method, path, token=None, body=None, data=None):
        headers = {'Content-Type': 'application/json'}
        if token:
            headers['X-Auth-Token'] = token
        response = requests.request(method, self.url + path,
                                    headers=headers, json=body, data=data,
                                    timeout=60)
        return response.status_code, response.json()

    def assertNothingPlanned(self):
        self.assertEqual([], self.store.list_evacuations())


class EvacuationApiTest(ApiTestBase):

    def plan_body(self, **extra):
        body = {'sources': ['old1'], 'targets': ['new1', 'new2'],
                'policy': {'allow_downtime': True}, 'name': 'api drain'}
        body.update(extra)
        return body

    def test_version_document_needs_no_token(self):
        code, body = self.call('GET', '/')
        self.assertEqual(300, code)
        self.assertEqual('v1', body['versions'][0]['id'])

    def test_no_token_or_a_bad_one_is_refused(self):
        self.assertEqual(401, self.call('GET', '/v1/drains')[0])
        self.assertEqual(401, self.call('GET', '/v1/drains',
                                        token='not-a-token')[0])

    def test_admin_plans_starts_and_is_audited(self):
        self.boot('old1', name='vm')
        token = self.admin()
        code, body = self.call('POST', '/v1/drains', token,
                               self.plan_body())
        self.assertEqual(201, code, body)
        evacuation = body['drain']
        self.assertEqual(states.PLANNED, evacuation['state'])
        code, body = self.call(
            'POST', '/v1/drains/%s/action' % evacuation['id'], token,
            {'start': None})
        self.assertEqual(200, code, body)
        self.assertEqual(states.RUNNING, body['drain']['state'])
        code, body = self.call('GET', '/v1/drains', token)
        self.assertEqual([evacuation['id']],
                         [e['id'] for e in body['drains']])
        code, body = self.call('GET', '/v1/drains/%s'
                               % evacuation['id'], token)
        actors = {entry['actor'] for entry in body['drain']['audit']}
        # The token's user, not a name the client chose.
        [actor] = actors
        self.assertRegex(actor, r'^admin \(user [0-9a-f]{32}, domain '
                                r'Default, project admin\)$')

    def test_member_is_refused_by_policy_and_nothing_changes(self):
        token = self.token(MEMBER, MEMBER_PASSWORD)
        code, body = self.call('POST', '/v1/drains', token,
                               self.plan_body())
        self.assertEqual(403, code)
        self.assertIn('drain:create does not allow operator-member',
                      body['error']['message'])
        self.assertEqual(403, self.call('GET', '/v1/drains', token)[0])
        code, body = self.call('GET', '/v1/hosts', token)
        self.assertEqual(403, code)
        self.assertIn('drain:hosts does not allow operator-member',
                      body['error']['message'])
        self.assertNothingPlanned()

    def test_hosts_show_what_the_booted_vms_use(self):
        aggregate = self._create_aggregate('old-racks')
        self.admin_api.add_host_to_aggregate(aggregate, 'old1')
        flavors = [self.boot('old1', name='vm%d' % i)['flavor']
                   for i in range(2)]
        code, body = self.call('GET', '/v1/hosts', self.admin())
        self.assertEqual(200, code, body)
        self.assertEqual(sorted(test_evacuation.OLD + test_evacuation.NEW),
                         [host['name'] for host in body['hosts']])
        hosts = {host['name']: host for host in body['hosts']}
        old1, new1 = hosts['old1'], hosts['new1']
        self.assertEqual((2, 0), (old1['vms'], new1['vms']))
        self.assertEqual(sum(f['vcpus'] for f in flavors),
                         old1['vcpus_used'])
        self.assertEqual(0, new1['vcpus_used'])
        # nova counts its reserved memory as used, on every host.
        self.assertEqual(sum(f['ram'] for f in flavors),
                         old1['memory_mb_used'] - new1['memory_mb_used'])
        self.assertEqual(sum((f['disk'] + f['ephemeral']) * GiB +
                             f['swap'] * MiB for f in flavors),
                         old1['disk_used_bytes'])
        self.assertEqual(0, new1['disk_used_bytes'])
        self.assertEqual((['old-racks'], []),
                         (old1['aggregates'], new1['aggregates']))
        self.assertTrue(old1['enabled'] and old1['up'])
        self.assertLess(0, new1['disk_free_bytes'])
        self.assertLess(0, new1['vcpus'])

    def test_bad_bodies_name_what_to_fix(self):
        token = self.admin()
        cases = [
            (self.plan_body(polcy={}), "'polcy' was unexpected"),
            (self.plan_body(policy={'max_per_source': 0}),
             'at policy/max_per_source'),
            (self.plan_body(policy={'window': ['25:00', '01:00']}),
             'at policy/window'),
            (self.plan_body(sources='old1'), 'at sources'),
            (self.plan_body(sources=['nowhere']), 'nowhere'),
        ]
        for body, expected in cases:
            code, answer = self.call('POST', '/v1/drains', token, body)
            self.assertEqual(400, code, answer)
            self.assertIn(expected, answer['error']['message'])
        code, answer = self.call('POST', '/v1/drains', token,
                                 data='{"sources": [')
        self.assertEqual(400, code)
        self.assertIn('not JSON', answer['error']['message'])
        self.assertNothingPlanned()

    def test_unknown_evacuation_and_wrong_state(self):
        self.boot('old1', name='vm')
        token = self.admin()
        code, _body = self.call('GET', '/v1/drains/nope', token)
        self.assertEqual(404, code)
        _code, body = self.call('POST', '/v1/drains', token,
                                self.plan_body())
        path = '/v1/drains/%s/action' % body['drain']['id']
        code, answer = self.call('POST', path, token, {'pause': None})
        self.assertEqual(409, code, answer)
        code, answer = self.call('POST', path, token,
                                 {'start': None, 'pause': None})
        self.assertEqual(400, code, answer)
        self.assertEqual(states.PLANNED, self.store.list_evacuations()[0]
                         .state)
