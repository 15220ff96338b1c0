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
"""The evacuator talks to nova with its own credentials and renews them.

The embedded cloud's API is served on a local port behind a middleware
that plays keystonemiddleware: it accepts only the tokens a (tiny)
Keystone issued and still holds valid. The evacuator is built from its
configuration file as in production (``[nova] auth_type = password``),
so keystoneauth gets its token, and gets a new one by itself when
Keystone stops honouring the old one in the middle of a drain.
"""

import json
import os

import fixtures
from oslo_config import cfg

from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import service
from tests.functional import fake_keystone
from tests.functional import test_evacuation
from tests.functional import test_evacuator_service


class KeystoneMiddleware(test_evacuator_service.HeaderAuthMiddleware):
    """Admin headers for a valid token, 401 for any other."""

    def __init__(self, app, keystone, project_id):
        super().__init__(app, project_id)
        self.keystone = keystone
        self.rejected = 0

    def __call__(self, environ, start_response):
        if not self.keystone.is_valid(environ.get('HTTP_X_AUTH_TOKEN')):
            self.rejected += 1
            start_response('401 Unauthorized',
                           [('Content-Type', 'application/json')])
            return [json.dumps({'error': {
                'code': 401, 'message': 'The request you have made '
                'requires authentication.'}}).encode()]
        return super().__call__(environ, start_response)


class EvacuatorCredentialsTest(test_evacuation.EvacuationTestBase):

    def setUp(self):
        super().setUp()
        self.keystone = self.useFixture(fake_keystone.FakeKeystone(
            username='evacuator', password='secret',
            project_name='service'))
        self.middleware = None

        def wrap(app):
            self.middleware = KeystoneMiddleware(app, self.keystone,
                                                 self.api.project_id)
            return self.middleware
        endpoint = self.serve_api(wrap)
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'evacuator.conf')
        with open(path, 'w') as f:
            f.write('[database]\nconnection = %s\n\n'
                    '[evacuator]\nname = ev-auth\n'
                    'endpoint_override = %s\nretry_base = 0.1\n'
                    'settle_time = 4\nshared_storage_groups = embedded:%s\n\n'
                    '[nova]\nauth_type = password\nauth_url = %s\n'
                    'username = evacuator\npassword = secret\n'
                    'project_name = service\nuser_domain_name = Default\n'
                    'project_domain_name = Default\n'
                    % (self.store.url.render_as_string(
                        hide_password=False), endpoint,
                       ';'.join(sorted(self.computes)), self.keystone.url))
        conf = cfg.ConfigOpts()
        service.register_opts(conf)
        conf(['--config-file', path])
        self.engine = service.build_engine(conf)

    def test_drain_survives_a_token_keystone_stopped_honouring(self):
        servers = self.boot_many(4, 'old1')
        evacuation_id, _plan = self.engine.plan(
            test_evacuation.OLD, test_evacuation.NEW,
            drain_policy.Policy(max_total=1))
        self.assertEqual(1, len(self.keystone.issued))
        self.engine.start(evacuation_id)
        expired = []

        def expire_mid_drain(info):
            if not expired and info.counts.get(states.DONE) == 2:
                # Keystone's clock jumps past the evacuator's token: the
                # next call gets 401, and keystoneauth must log in again.
                self.keystone.expire_all()
                expired.append(self.middleware.rejected)
        state = self.engine.run(evacuation_id, poll_interval=0.2,
                                timeout=120, on_tick=expire_mid_drain)

        self.assertEqual(states.COMPLETED, state)
        self.assert_drained(servers)
        for server in servers:
            self.assertEqual(1, self.moves[server['id']])
        self.assertEqual([0], expired)
        # One 401, then a new token from the evacuator's own credentials.
        self.assertEqual(1, self.middleware.rejected)
        self.assertEqual(1, len(self.keystone.issued_after_jump()))
