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
"""Every request the evacuator makes to nova has a time-out."""

import os

import fixtures
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
import requests_mock

from nova_migration_ext.engine import service
from tests.unit import utils

NOVA = 'http://nova.test/v2.1'


class TestNovaTimeout(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.FakeLogger(name='alembic'))
        self.conf = cfg.ConfigOpts()
        service.register_opts(self.conf)
        self.conf([], project='nova-migration-ext', default_config_files=[])
        path = self.useFixture(fixtures.TempDir()).path
        self.conf.set_override(
            'connection', 'sqlite:///' + os.path.join(path, 'ev.sqlite'),
            group='database')
        self.conf.set_override('endpoint_override', NOVA, group='evacuator')
        self.conf.set_override('auth_type', 'none', group='nova')
        service.sync_database(self.conf)

    def get_server(self):
        engine = service.build_engine(self.conf)
        self.addCleanup(engine.store.engine.dispose)
        with requests_mock.Mocker() as mock:
            mock.get(NOVA + '/servers/srv-a',
                     json={'server': {'id': 'srv-a', 'status': 'ACTIVE'}})
            engine.gateway.get_server('srv-a')
            return mock.last_request

    def test_default_timeout_reaches_the_request(self):
        self.assertEqual(60.0, self.conf.nova.timeout)
        self.assertEqual(60.0, self.get_server().timeout)

    def test_configured_timeout_reaches_the_request(self):
        self.conf.set_override('timeout', 7.5, group='nova')
        self.assertEqual(7.5, self.get_server().timeout)

    def test_timeout_listed_for_the_sample_config(self):
        [opt] = [o for group, opts in service.list_opts()
                 if group == 'nova' for o in opts if o.dest == 'timeout']
        self.assertEqual(60.0, opt.default)

    def test_sample_config_lists_nova_credentials_and_endpoint(self):
        listed = {o.dest for group, opts in service.list_opts()
                  if group == 'nova' for o in opts}
        for dest in ('auth_type', 'auth_url', 'username', 'password',
                     'user_domain_name', 'project_name', 'cafile',
                     'region_name', 'valid_interfaces'):
            self.assertIn(dest, listed)
        # Only what the service registers: the sample config names no
        # option the service would reject.
        self.conf.register_opts(
            ks_loading.get_auth_plugin_conf_options('password'),
            group='nova')
        for dest in listed:
            self.assertIn(dest, self.conf.nova)

    def test_default_lease_outlasts_two_slow_calls(self):
        logger = self.useFixture(fixtures.FakeLogger(
            name='nova_migration_ext.engine.service'))
        self.assertEqual(120, self.conf.evacuator.lease_seconds)
        self.assertTrue(service.check_lease(self.conf))
        self.assertEqual('', logger.output)

    def test_short_lease_is_named_with_its_fix(self):
        logger = self.useFixture(fixtures.FakeLogger(
            name='nova_migration_ext.engine.service'))
        self.conf.set_override('lease_seconds', 30, group='evacuator')
        self.assertFalse(service.check_lease(self.conf))
        self.assertIn('Raise lease_seconds to 120 or more', logger.output)

    def test_database_timeout_reaches_the_store(self):
        self.conf.set_override('database_timeout', 3, group='evacuator')
        engine = service.build_engine(self.conf)
        self.addCleanup(engine.store.engine.dispose)
        self.assertEqual(3, engine.store.timeout)
