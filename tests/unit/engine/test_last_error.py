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
"""nova's error of an attempt is that attempt's, never an older one's.

A VM refused by new3, then retried on new1 where libvirt failed (nova
records no failed event for that: the migration runs after the API's
action ended), showed "To new1" beside new3's refusal: the newest failed
event of *any* action was taken.
"""

import datetime
import types
from unittest import mock

import testtools

from nova_migration_ext.engine import nova_gateway

SERVER = 'srv-a'
NEW3_REFUSAL = ('Migration pre-check error: disk_fit: new3 has 2.0 GiB '
                'free, the disk of vm-1 needs 9.0 GiB.')
SUBMITTED = datetime.datetime(2026, 3, 1, 11, 10, 0, 400000)


def action(request_id, start_time, *events):
    return types.SimpleNamespace(request_id=request_id,
                                 start_time=start_time,
                                 events=list(events))


class LastErrorTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.gateway = nova_gateway.NovaGateway.__new__(
            nova_gateway.NovaGateway)
        self.gateway.nova = mock.Mock()
        # Newest first, as nova lists them: the retry on new1 (no failed
        # event), then the first attempt, refused by new3.
        self.actions = [
            action('req-2', '2026-03-01T11:10:00.000000',
                   {'event': 'compute_live_migration', 'result': 'Success',
                    'details': None}),
            action('req-1', '2026-03-01T11:05:00.000000',
                   {'event': 'conductor_live_migrate_instance',
                    'result': 'Error', 'details': NEW3_REFUSAL})]
        by_id = {a.request_id: a for a in self.actions}
        self.gateway.nova.instance_action.list.return_value = self.actions
        self.gateway.nova.instance_action.get.side_effect = (
            lambda server, request_id: by_id[request_id])
        self.fault = {'message': NEW3_REFUSAL,
                      'created': '2026-03-01T11:05:01Z'}
        self.gateway.get_server = lambda server_id: types.SimpleNamespace(
            fault=self.fault)

    def test_an_older_attempt_s_error_is_not_this_one_s(self):
        self.assertIsNone(self.gateway.last_error(SERVER, since=SUBMITTED))

    def test_without_since_any_error_counts(self):
        self.assertEqual(NEW3_REFUSAL, self.gateway.last_error(SERVER))

    def test_this_attempt_s_failed_event(self):
        self.actions[0].events.append({
            'event': 'compute_pre_live_migration', 'result': 'Error',
            'details': 'disk_fit: new1 has 1.0 GiB free'})
        self.assertEqual('disk_fit: new1 has 1.0 GiB free',
                         self.gateway.last_error(SERVER, since=SUBMITTED))

    def test_this_attempt_s_fault(self):
        self.fault = {'message': 'Network filter not found',
                      'created': '2026-03-01T11:10:03Z'}
        self.assertEqual('Network filter not found',
                         self.gateway.last_error(SERVER, since=SUBMITTED))
