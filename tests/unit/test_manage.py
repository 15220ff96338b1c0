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
"""``nova-migration-ext-manage db sync|version``, and services that check
the schema at start instead of migrating it.
"""

import os
import subprocess
import sys

import fixtures
from oslo_config import cfg

from nova_migration_ext.engine import service
from nova_migration_ext.engine import store as store_mod
from tests.unit import utils

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class ManageTest(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.database = os.path.join(self.dir, 'evacuations.sqlite')
        self.config = os.path.join(self.dir, 'evacuator.conf')
        with open(self.config, 'w') as f:
            f.write('[database]\nconnection = sqlite:///%s\n\n'
                    '[nova]\nauth_type = none\n' % self.database)

    def manage(self, *argv):
        """(exit status, output) of nova-migration-ext-manage *argv."""
        result = subprocess.run(
            [sys.executable, '-m', 'nova_migration_ext.cmd.manage',
             '--config-file', self.config] + list(argv),
            capture_output=True, text=True, timeout=120, cwd=REPO,
            env=dict(os.environ, PYTHONPATH=REPO, PYTHONWARNINGS='ignore'))
        return result.returncode, result.stdout + result.stderr

    def service_conf(self):
        conf = cfg.ConfigOpts()
        service.register_opts(conf)
        conf(['--config-file', self.config], project='nova-migration-ext',
             default_config_files=[])
        return conf

    def test_service_refuses_an_empty_database_and_says_what_to_run(self):
        exc = self.assertRaises(store_mod.SchemaOutOfDate,
                                service.build_engine, self.service_conf())
        self.assertIn('is at schema revision none (empty)', str(exc))
        self.assertIn('Run "nova-migration-ext-manage --config-file '
                      '<evacuator.conf> db sync"', str(exc))
        # Nothing was created: the check only reads.
        store = service.open_store(self.service_conf())
        self.addCleanup(store.engine.dispose)
        self.assertIsNone(store.revisions()[0])

    def test_version_then_sync_then_the_service_starts(self):
        code, out = self.manage('db', 'version')
        self.assertEqual(3, code, out)
        self.assertIn('database: none (empty), code: ', out)
        self.assertIn('Run "nova-migration-ext-manage db sync"', out)

        code, out = self.manage('db', 'sync')
        self.assertEqual(0, code, out)
        self.assertIn('Evacuation database at schema revision', out)

        code, out = self.manage('db', 'version')
        self.assertEqual(0, code, out)
        store = service.open_store(self.service_conf())
        self.addCleanup(store.engine.dispose)
        current, head = store.revisions()
        self.assertEqual(head, current)
        self.assertIn('database: %s, code: %s' % (head, head), out)
        engine = service.build_engine(self.service_conf())
        self.addCleanup(engine.store.engine.dispose)
        self.assertEqual([], engine.store.list_evacuations())

    def test_sync_twice_changes_nothing(self):
        for _ in range(2):
            code, out = self.manage('db', 'sync')
            self.assertEqual(0, code, out)

    def test_no_command_says_which_exist(self):
        code, out = self.manage()
        self.assertEqual(2, code, out)
        self.assertIn('{db}', out)
