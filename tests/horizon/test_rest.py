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
"""horizon_panel.api.evacuator over real HTTP, with the real client.

No Django test case, no mocks of the client: a small HTTP server on
127.0.0.1 answers as the API does (its JSON, its error bodies) and
remembers each request, its token header included. The browser tests
(tests/functional/test_horizon_panel.py) run the real API.
"""

import http.server
import importlib
import json
import os
import socket
import threading

import django
from django import conf as django_conf
from django.test import utils as django_test_utils
import fixtures
import testtools

from nova_migration_ext.contract import policy as drain_policy

evacuator = None  # horizon_panel.api.evacuator, imported by the tests
TOKEN = 'gAAAA-user-token'
DRAIN = {'id': 'e1', 'state': 'planned', 'sources': ['h1'],
         'created_at': '2026-12-06T17:00:00'}


class RecordingApi(http.server.BaseHTTPRequestHandler):
    """Answers like the API and remembers what it was asked."""

    calls = []

    def _answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.calls.append((self.command, self.path,
                           self.headers.get('X-Auth-Token'), body))
        return body

    def do_GET(self):
        self._record()
        if self.path == '/v1/drains':
            return self._answer(200, {'drains': [{
                'id': 'e1', 'name': 'n', 'state': 'planned',
                'sources': ['h1'], 'owner': None,
                'created_at': '2026-12-06T17:00:00'}]})
        if self.path == '/v1/drains/expired':
            return self._answer(401, {'error': {
                'code': 401, 'message': 'The token expired.'}})
        return self._answer(200, {'drain': dict(DRAIN, audit=[])})

    def do_POST(self):
        body = self._record()
        if self.path == '/v1/drains':
            return self._answer(201, {'drain': DRAIN})
        if 'start' in body:
            return self._answer(409, {'error': {
                'code': 409, 'title': 'Conflict',
                'message': 'Evacuation e1 is running already.'}})
        if 'pause' in body:
            return self._answer(403, {'error': {
                'code': 403, 'title': 'Forbidden',
                'message': 'Policy rule drain:pause does not allow '
                           'carol to do that.'}})
        return self._answer(200, {'drain': dict(DRAIN, state='running')})

    def log_message(self, *args):
        pass


class FakeToken:
    id = TOKEN


class FakeUser:
    username = 'carol'
    token = FakeToken()


class FakeRequest:
    user = FakeUser()


def _configure_django():
    """The panel's test settings when run outside Django's test runner."""
    if not django_conf.settings.configured:
        os.environ.setdefault('DJANGO_SETTINGS_MODULE',
                              'tests.horizon.settings')
        django.setup()


class EvacuatorClientRestTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        _configure_django()
        override = django_test_utils.override_settings(
            NOVA_MIGRATION_EXT={'timeout': 5, 'read_timeout': 2})
        override.enable()
        self.addCleanup(override.disable)
        # Imported once settings exist: Horizon reads them on import.
        global evacuator
        evacuator = importlib.import_module('horizon_panel.api.evacuator')
        RecordingApi.calls = []

    def serve(self):
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                 RecordingApi)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return 'http://127.0.0.1:%d' % server.server_address[1]

    def catalog(self, url):
        """The user's catalog gives *url* for host-drain."""
        self.useFixture(fixtures.MockPatch(
            'openstack_dashboard.api.base.url_for',
            side_effect=lambda request, service_type: {
                'host-drain': url}[service_type]))

    def test_calls_carry_the_users_token_and_no_actor(self):
        self.catalog(self.serve())
        request = FakeRequest()
        self.assertEqual(['e1'], [e.id for e in
                                  evacuator.evacuation_list(request)])
        policy = drain_policy.Policy(max_total=2)
        evacuator.evacuation_plan(request, ['h1'], policy=policy, name='n',
                                  target_aggregate='agg')
        evacuator.task_skip(request, 'e1', 'vm-1')
        evacuator.task_retry(request, 'e1', 'vm-2', allow_downtime=True)
        self.assertEqual(
            [('GET', '/v1/drains', TOKEN, None),
             ('POST', '/v1/drains', TOKEN, {
                 'sources': ['h1'], 'name': 'n',
                 'policy': policy.to_dict(), 'dry_run': False,
                 'target_aggregate': 'agg'}),
             ('POST', '/v1/drains/e1/action', TOKEN,
              {'skip': {'server': 'vm-1'}}),
             ('POST', '/v1/drains/e1/action', TOKEN,
              {'retry': {'server': 'vm-2', 'allow_downtime': True}})],
            RecordingApi.calls)

    def test_refusals_carry_the_apis_message(self):
        self.catalog(self.serve())
        error = self.assertRaises(evacuator.EvacuatorError,
                                  evacuator.evacuation_start,
                                  FakeRequest(), 'e1')
        self.assertEqual('Evacuation e1 is running already.', str(error))
        error = self.assertRaises(evacuator.EvacuatorError,
                                  evacuator.evacuation_pause,
                                  FakeRequest(), 'e1')
        self.assertIn('drain:pause does not allow carol', str(error))

    def test_an_expired_token_sends_back_to_the_login(self):
        from horizon import exceptions as horizon_exceptions
        self.catalog(self.serve())
        self.assertRaises(horizon_exceptions.NotAuthenticated,
                          evacuator.evacuation_get, FakeRequest(),
                          'expired')

    def test_no_api_listening_says_what_to_check(self):
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            url = 'http://127.0.0.1:%d' % sock.getsockname()[1]
        self.catalog(url)
        error = self.assertRaises(evacuator.EvacuatorUnavailable,
                                  evacuator.evacuation_start,
                                  FakeRequest(), 'e1')
        self.assertIn('did not answer within 5 s: check that '
                      'nova-migration-ext-api is running', str(error))
        self.assertEqual([], RecordingApi.calls)

    def test_no_catalog_entry_says_how_to_register(self):
        from horizon import exceptions as horizon_exceptions
        self.useFixture(fixtures.MockPatch(
            'openstack_dashboard.api.base.url_for',
            side_effect=horizon_exceptions.ServiceCatalogException(
                'host-drain')))
        error = self.assertRaises(evacuator.EvacuatorUnavailable,
                                  evacuator.evacuation_list, FakeRequest())
        self.assertIn("no 'host-drain' endpoint", str(error))
