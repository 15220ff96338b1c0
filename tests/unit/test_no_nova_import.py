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
"""The plugin API and the options must not need nova nor Django."""

import json
import os
import subprocess
import sys

import nova_migration_ext
from tests.unit import utils

MODULES = (
    'nova_migration_ext.conf',
    'nova_migration_ext.compute.diskcopy.protocol',
    'nova_migration_ext.compute.diskcopy.receiver',
    'nova_migration_ext.compute.diskcopy.sender',
    'nova_migration_ext.compute.diskcopy.ssh',
    'nova_migration_ext.compute.host_stats',
    'nova_migration_ext.compute.throttle',
    'nova_migration_ext.prechecks',
    'nova_migration_ext.prechecks.base',
    'nova_migration_ext.prechecks.disk_fit',
    'nova_migration_ext.prechecks.hypervisor_version',
    'nova_migration_ext.prechecks.orphaned_base_image',
    'nova_migration_ext.prechecks.runner',
    'nova_migration_ext.prechecks.shared_volumes',
    'nova_migration_ext.prechecks.token_lifetime',
)
SCRIPT = '''
import importlib
import json
import sys

for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps({
    'file': sys.modules['nova_migration_ext'].__file__,
    'heavy': sorted(name for name in sys.modules
                    if name.split('.')[0] in ('nova', 'django')),
    'engine': sorted(name for name in sys.modules
                     if name.startswith('nova_migration_ext.engine') or
                     name.split('.')[0] in ('sqlalchemy', 'novaclient')),
    'rpc': sorted(name for name in sys.modules
                  if name.split('.')[0] == 'oslo_messaging'),
}))
'''
REPO = os.path.dirname(os.path.dirname(
    os.path.abspath(nova_migration_ext.__file__)))


class TestNoNovaImport(utils.TestCase):

    def _imports(self, *modules):
        env = dict(os.environ, PYTHONPATH=REPO)
        output = subprocess.check_output(
            [sys.executable, '-c', SCRIPT] + list(modules),
            cwd=REPO, env=env, timeout=120)
        return json.loads(output)

    def test_plugin_api_imports_neither_nova_nor_django(self):
        result = self._imports(*MODULES)
        self.assertEqual(
            os.path.join(REPO, 'nova_migration_ext', '__init__.py'),
            result['file'])
        self.assertEqual([], result['heavy'])

    def test_clients_need_neither_nova_nor_the_engine(self):
        # What Horizon and the CLI import: the REST client, and the policy
        # model (inventory, standard library only) to check their input.
        for module in ('nova_migration_ext.contract.display',
                       'nova_migration_ext.contract.drains',
                       'nova_migration_ext.contract.policy',
                       'nova_migration_ext.contract.states',
                       'nova_migration_ext.cli.osc_plugin',
                       'nova_migration_ext.cli.commands',
                       'nova_migration_ext.client.v1'):
            result = self._imports(module)
            self.assertEqual([], result['heavy'], module)
            self.assertEqual([], result['engine'], module)

    def test_openstack_client_plugin_needs_no_rpc(self):
        # ``openstack drain …`` speaks REST with the user's token: the
        # plugin, its commands and the client load no RPC library.
        result = self._imports('nova_migration_ext.cli.osc_plugin',
                               'nova_migration_ext.cli.commands',
                               'nova_migration_ext.client.v1')
        self.assertEqual([], result['rpc'])
        # The contract only, nothing of the engine.
        self.assertEqual([], result['engine'])

    def test_each_module_alone(self):
        for module in MODULES:
            self.assertEqual([], self._imports(module)['heavy'], module)
