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
"""A tiny Keystone v3 identity endpoint for functional tests.

It answers only its own URL, through ``requests_mock`` with ``real_http``,
so every other HTTP call of the test (placement through wsgi-intercept)
goes on untouched. keystoneauth's real plugins talk to it: version
discovery, then ``POST /v3/auth/tokens``, which gives the service user a
token valid for ``lifetime`` seconds. :meth:`FakeKeystone.user_token`
stands for the tokens API users bring; ``catalog`` gives the endpoints
the tokens carry. :meth:`FakeKeystone.expire_all`
jumps the server's clock past every token known so far; clients keep
the expiry they were told, as with a token that runs out while a long
migration is in flight.
"""

import datetime
import uuid

import fixtures
from keystoneauth1 import fixture as ks_fixture
import requests_mock

URL = 'http://keystone.test/identity/v3'


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


class FakeKeystone(fixtures.Fixture):
    """Issues and validates tokens for one service user."""

    def __init__(self, username='nova', password='secret',
                 project_name='service', lifetime=3600, catalog=None):
        super().__init__()
        self.url = URL
        # Service type: public URL; filled in later by some tests.
        self.catalog = {} if catalog is None else catalog
        self.username = username
        self.password = password
        self.project_name = project_name
        self.lifetime = lifetime

    def _setUp(self):
        self.tokens = {}          # token id: expiry
        self.user_tokens = {}     # user id: token id
        self.issued = []          # (service token id, clock jumps so far)
        self.clock_jumps = 0
        mocker = requests_mock.Mocker(real_http=True)
        mocker.get(self.url, json={'version': ks_fixture.V3Discovery(
            self.url)})
        mocker.post(self.url + '/auth/tokens', json=self._issue)
        mocker.start()
        self.addCleanup(mocker.stop)

    def _issue(self, request, context):
        """``POST /v3/auth/tokens`` for the password method."""
        body = request.json()['auth']
        user = body['identity'].get('password', {}).get('user', {})
        if (user.get('name') != self.username or
                user.get('password') != self.password):
            context.status_code = 401
            return {'error': {'code': 401, 'title': 'Unauthorized',
                              'message': 'The request you have made '
                                         'requires authentication.'}}
        token_id = uuid.uuid4().hex
        expires = _now() + datetime.timedelta(seconds=self.lifetime)
        token = ks_fixture.V3Token(
            expires=expires, user_name=self.username,
            user_domain_name='Default', project_name=self.project_name,
            project_domain_name='Default', methods=['password'])
        token.add_role(name='service')
        for service_type, url in self.catalog.items():
            token.add_service(service_type).add_standard_endpoints(
                public=url, region='RegionOne')
        self.tokens[token_id] = expires
        self.issued.append((token_id, self.clock_jumps))
        context.status_code = 201
        context.headers['X-Subject-Token'] = token_id
        return token

    def user_token(self, user_id, lifetime=3600):
        """The token a user's client holds, re-issued once it expired.

        Plays keystonemiddleware in front of nova-api: requests made with
        it become contexts that carry it to every service.
        """
        token_id = self.user_tokens.get(user_id)
        if not self.is_valid(token_id):
            token_id = uuid.uuid4().hex
            self.tokens[token_id] = _now() + datetime.timedelta(
                seconds=lifetime)
            self.user_tokens[user_id] = token_id
        return token_id

    def is_valid(self, token_id):
        """What keystonemiddleware would decide for *token_id*."""
        expires = self.tokens.get(token_id)
        return expires is not None and expires > _now()

    def expire_all(self):
        """Jump the server's clock past every token known so far."""
        past = _now() - datetime.timedelta(seconds=1)
        for token_id in self.tokens:
            self.tokens[token_id] = past
        self.clock_jumps += 1

    def issued_after_jump(self):
        """Service user tokens issued after the last :meth:`expire_all`."""
        return [token_id for token_id, jumps in self.issued
                if jumps == self.clock_jumps and self.clock_jumps]
