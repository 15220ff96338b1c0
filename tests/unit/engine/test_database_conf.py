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
"""The evacuation database configured by oslo.db's ``[database]``.

``[evacuator] connection`` is a deprecated alias, used (with a warning)
while ``[database] connection`` is not set.
"""

import io
import os

import fixtures
from oslo_config import cfg
from oslo_config import generator

from nova_migration_ext.engine import service
from nova_migration_ext.engine import store as store_mod
from tests.unit import utils

# A server nobody listens on: with [database] max_retries = 0 the store
# is built without connecting.
UNREACHABLE = 'mysql+pymysql://evacuator:secret@127.0.0.1:9/evacuator'


class DatabaseConfTest(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.FakeLogger(name='alembic'))
        self.logger = self.useFixture(fixtures.FakeLogger(
            name='nova_migration_ext.engine.service'))
        self.dir = self.useFixture(fixtures.TempDir()).path

    def sqlite(self, name):
        return 'sqlite:///%s' % os.path.join(self.dir, name)

    def service_conf(self, text):
        """The services' configuration, read from a file of *text*."""
        path = os.path.join(self.dir, 'evacuator.conf')
        with open(path, 'w') as f:
            f.write(text)
        conf = cfg.ConfigOpts()
        service.register_opts(conf)
        conf(['--config-file', path], project='nova-migration-ext',
             default_config_files=[])
        return conf

    def test_database_connection(self):
        conf = self.service_conf('[database]\nconnection = %s\n'
                                 % self.sqlite('new.sqlite'))
        self.assertEqual(self.sqlite('new.sqlite'),
                         service.database_url(conf))
        store = service.open_store(conf)
        self.addCleanup(store.engine.dispose)
        self.assertEqual(self.sqlite('new.sqlite'),
                         store.url.render_as_string())
        self.assertEqual('', self.logger.output)

    def test_default_is_the_embedded_sqlite_file(self):
        conf = self.service_conf('')
        self.assertEqual(
            'sqlite:////var/lib/nova-migration-ext/evacuations.sqlite',
            service.database_url(conf))
        self.assertEqual(service.DEFAULT_CONNECTION,
                         conf.database.connection)
        self.assertEqual('', self.logger.output)

    def test_deprecated_evacuator_connection_still_works_and_warns(self):
        conf = self.service_conf('[evacuator]\nconnection = %s\n'
                                 % self.sqlite('old.sqlite'))
        self.assertEqual(self.sqlite('old.sqlite'),
                         service.database_url(conf))
        self.assertIn('[evacuator] connection is deprecated for removal: '
                      'move its value to [database] connection',
                      self.logger.output)
        # The services work on it: db sync, then the schema check.
        service.sync_database(conf)
        store = service.open_store(conf)
        self.addCleanup(store.engine.dispose)
        store.check_schema()
        self.assertTrue(os.path.exists(os.path.join(self.dir, 'old.sqlite')))

    def test_database_connection_wins_when_both_are_set(self):
        conf = self.service_conf(
            '[evacuator]\nconnection = %s\n\n[database]\nconnection = %s\n'
            % (self.sqlite('old.sqlite'), self.sqlite('new.sqlite')))
        self.assertEqual(self.sqlite('new.sqlite'),
                         service.database_url(conf))
        self.assertIn('[database] connection and the deprecated [evacuator] '
                      'connection are both set: [database] connection is '
                      'used', self.logger.output)
        service.sync_database(conf)
        self.assertTrue(os.path.exists(os.path.join(self.dir, 'new.sqlite')))
        self.assertFalse(os.path.exists(os.path.join(self.dir,
                                                     'old.sqlite')))

    def test_database_connection_set_to_the_default_still_wins(self):
        conf = self.service_conf(
            '[evacuator]\nconnection = %s\n\n[database]\nconnection = %s\n'
            % (self.sqlite('old.sqlite'), service.DEFAULT_CONNECTION))
        self.assertEqual(service.DEFAULT_CONNECTION,
                         service.database_url(conf))

    def test_database_options_reach_the_store(self):
        conf = self.service_conf(
            '[evacuator]\ndatabase_timeout = 6\n\n'
            '[database]\nconnection = %s\nmax_retries = 0\n'
            'max_pool_size = 3\nmax_overflow = 4\n'
            'connection_recycle_time = 77\nmysql_sql_mode = ANSI\n'
            'db_max_retries = 5\ndb_retry_interval = 2\n'
            'db_inc_retry_interval = false\ndb_max_retry_interval = 8\n'
            % UNREACHABLE)
        store = service.open_store(conf)
        self.addCleanup(store.engine.dispose)
        pool = store.engine.pool
        self.assertEqual((3, 4, 77), (pool.size(), pool._max_overflow,
                                      pool._recycle))
        # Without [database] pool_timeout, the database's time-out.
        self.assertEqual(6, pool.timeout())
        self.assertEqual({'max_retries': 5, 'retry_interval': 2,
                          'inc_retry_interval': False,
                          'max_retry_interval': 8}, store._retry_args)
        self.assertEqual(6, store.timeout)
        _args, kwargs = store.engine.dialect.create_connect_args(
            store.engine.url)
        self.assertEqual((6, 6, 6), (kwargs['connect_timeout'],
                                     kwargs['read_timeout'],
                                     kwargs['write_timeout']))

    def test_pool_timeout_and_connection_parameters(self):
        conf = self.service_conf(
            '[database]\nconnection = %s\nmax_retries = 0\n'
            'pool_timeout = 9\nconnection_parameters = read_timeout=60\n'
            % UNREACHABLE)
        store = service.open_store(conf)
        self.addCleanup(store.engine.dispose)
        self.assertEqual(9, store.engine.pool.timeout())
        _args, kwargs = store.engine.dialect.create_connect_args(
            store.engine.url)
        self.assertEqual((20, 60), (kwargs['connect_timeout'],
                                    kwargs['read_timeout']))

    def test_every_database_option_the_store_takes_is_registered(self):
        conf = self.service_conf('')
        for name in store_mod.DATABASE_DEFAULTS:
            self.assertIn(name, conf.database)


class SampleConfigTest(utils.TestCase):

    def test_listed_for_the_sample_config(self):
        groups = dict(service.list_opts())
        database = {opt.dest: opt for opt in groups['database']}
        self.assertEqual(service.DEFAULT_CONNECTION,
                         database['connection'].default)
        for name in store_mod.DATABASE_DEFAULTS:
            self.assertIn(name, database)
        evacuator = {opt.dest: opt for opt in groups['evacuator']}
        self.assertTrue(evacuator['connection'].deprecated_for_removal)
        self.assertIsNone(evacuator['connection'].default)
        self.assertFalse(evacuator['database_timeout'].deprecated_for_removal)
        # Only what the services register.
        conf = cfg.ConfigOpts()
        service.register_opts(conf)
        for opt in groups['database']:
            self.assertIn(opt.dest, conf.database)

    def test_oslo_config_generator(self):
        conf = cfg.ConfigOpts()
        generator.register_cli_opts(conf)
        conf(['--namespace', 'nova_migration_ext.evacuator',
              '--wrap-width', '79'])
        out = io.StringIO()
        generator.generate(conf, output_file=out)
        sample = out.getvalue()
        self.assertIn('\n[database]\n', sample)
        self.assertIn('\n#connection = sqlite:////var/lib/nova-migration-ext/'
                      'evacuations.sqlite\n', sample)
        self.assertIn('\n#max_pool_size = 5\n', sample)
        evacuator = sample.split('\n[evacuator]\n')[1].split('\n[')[0]
        self.assertIn('# This option is deprecated for removal.', evacuator)
        self.assertIn('set [database] connection (oslo.db) instead',
                      evacuator)
