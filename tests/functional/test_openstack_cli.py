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
"""``openstack drain …``: the real OpenStackClient, over the REST API.

The ``openstack`` program of this environment (python-openstackclient
with our plugin, found through its entry points) runs as a separate
process, authenticates against a real Keystone, finds the API in the
Keystone catalog under ``host-drain`` and calls it with the user's
token; the API plans on the embedded nova. No RabbitMQ, no database and
no configuration file on the client side: only ``OS_*`` variables.
"""

import json
import os
import sys

from eventlet.green import subprocess

from nova_migration_ext import client
from nova_migration_ext.contract import states
from tests.functional import horizon_stack
from tests.functional import test_api

OPENSTACK = os.path.join(os.path.dirname(sys.executable), 'openstack')
ACTOR = (r'^admin \(user [0-9a-f]{32}, domain Default, project admin\)$')


class OpenStackClientTest(test_api.ApiTestBase):

    def setUp(self):
        super().setUp()
        self.keystone.register_service(client.SERVICE_TYPE, 'host-drain',
                                       self.url)

    def openstack(self, *argv, user=horizon_stack.ADMIN_USER,
                  password=horizon_stack.ADMIN_PASSWORD):
        """Run ``openstack *argv`` as *user*: (exit status, out, err)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env.update(OS_AUTH_URL=self.keystone.url, OS_USERNAME=user,
                   OS_PASSWORD=password, OS_PROJECT_NAME='admin',
                   OS_USER_DOMAIN_ID='default',
                   OS_PROJECT_DOMAIN_ID='default',
                   OS_IDENTITY_API_VERSION='3',
                   OS_REGION_NAME=horizon_stack.REGION,
                   OS_INTERFACE='public', no_proxy='127.0.0.1,localhost',
                   NO_PROXY='127.0.0.1,localhost')
        process = subprocess.Popen([OPENSTACK] + list(argv), env=env,
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        out, err = process.communicate(timeout=120)
        return process.returncode, out.decode(), err.decode()

    def json(self, *argv, **kwargs):
        code, out, err = self.openstack(*(argv + ('-f', 'json')), **kwargs)
        self.assertEqual(0, code, err)
        return json.loads(out)

    def test_admin_plans_starts_and_reads_raw_values(self):
        self.boot('old1', name='vm')
        dry = self.json('drain', 'create', 'old1', '--target', 'new1',
                        '--allow-downtime', '--dry-run')
        self.assertIsNone(dry['id'])
        self.assertEqual(1, dry['plan']['vms'])
        self.assertEqual(['vm'], [m['name'] for m in dry['moves']])
        self.assertNothingPlanned()

        planned = self.json('drain', 'create', 'old1', '--target', 'new1',
                            '--target', 'new2', '--allow-downtime',
                            '--name', 'cli drain')
        self.assertEqual(states.PLANNED, planned['state'])
        # Raw values: numbers, lists and mappings, not bars or text.
        self.assertEqual(['old1'], planned['sources'])
        self.assertEqual(1, planned['vms'])
        self.assertEqual(0.0, planned['progress'])
        self.assertIsInstance(planned['eta_seconds'], (int, float))
        self.assertEqual({states.PENDING: 1}, planned['tasks'])
        drain_id = planned['id']

        self.assertEqual([drain_id], [d['ID'] for d in self.json(
            'drain', 'list')])
        started = self.json('drain', 'start', drain_id)
        self.assertEqual(states.RUNNING, started['state'])
        [task] = self.json('drain', 'server', 'list', drain_id)
        self.assertEqual('vm', task['Server'])
        self.assertIsInstance(task['Progress'], (int, float))
        # The actor is the token's user, not a name the client chose.
        audit = self.json('drain', 'audit', 'list', drain_id)
        actions = [entry['Action'] for entry in audit]
        self.assertEqual('plan', actions[0])
        self.assertIn('running', actions)      # planned -> running
        for entry in audit:
            self.assertRegex(entry['Actor'], ACTOR)

        # The table is for people: the bar and the duration.
        code, out, err = self.openstack('drain', 'show', drain_id)
        self.assertEqual(0, code, err)
        self.assertIn('[....', out)

    def test_host_list(self):
        flavor = self.boot('old1', name='vm')['flavor']
        rows = {row['Host']: row for row in self.json('drain', 'host',
                                                      'list')}
        self.assertEqual(['new1', 'new2', 'new3', 'old1', 'old2'],
                         sorted(rows))
        old1 = rows['old1']
        self.assertEqual(('enabled, up', 1), (old1['State'], old1['VMs']))
        self.assertEqual(flavor['vcpus'], old1['vCPUs'][0])
        self.assertEqual((flavor['disk'] + flavor['ephemeral']) *
                         test_api.GiB + flavor['swap'] * test_api.MiB,
                         old1['VM Disk'])
        self.assertEqual(0, rows['new1']['VMs'])
        # The table is for people: used/total and sizes.
        code, out, err = self.openstack('drain', 'host', 'list')
        self.assertEqual(0, code, err)
        self.assertRegex(out, r'\| old1 +\| enabled, up \| +1 \| %d/\d+ '
                              r'+\| \d+/\d+ +\| [\d.]+ GiB \| [\d.]+ \w?i?B '
                              % flavor['vcpus'])

    def test_member_is_refused_by_policy_and_nothing_changes(self):
        for argv in (('drain', 'list'), ('drain', 'host', 'list'),
                     ('drain', 'create', 'old1', '--allow-downtime')):
            code, out, err = self.openstack(
                *argv, user=test_api.MEMBER, password=test_api.MEMBER_PASSWORD)
            self.assertEqual(1, code, out)
            self.assertIn('does not allow operator-member', err)
            self.assertIn('HTTP 403', err)
        self.assertNothingPlanned()

    def test_bad_input_says_what_to_fix(self):
        code, _out, err = self.openstack('drain', 'create', 'nowhere')
        self.assertEqual(1, code)
        self.assertIn('nowhere', err)
        self.assertIn('HTTP 400', err)
        code, _out, err = self.openstack('drain', 'create', 'old1',
                                         '--max-per-source', '0')
        self.assertEqual(1, code)
        # Checked by the contract's policy before anything is sent.
        self.assertIn('max_per_source must be at least 1 (got 0)', err)
        code, _out, err = self.openstack('drain', 'show', 'no-such-drain')
        self.assertEqual(1, code)
        self.assertIn('HTTP 404', err)
        self.assertNothingPlanned()
