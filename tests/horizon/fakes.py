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
"""What the evacuator answers, in the shapes of its RPC API."""

import copy

PLANNED_ID = 'e1000000-0000-4000-8000-000000000001'
RUNNING_ID = 'e2000000-0000-4000-8000-000000000002'
PAUSED_ID = 'e3000000-0000-4000-8000-000000000003'
DONE_ID = 'e4000000-0000-4000-8000-000000000004'

LIST = [
    {'id': PLANNED_ID, 'name': 'rack-a', 'state': 'planned',
     'sources': ['old1', 'old2'], 'owner': None,
     'created_at': '2026-03-01T10:00:00'},
    {'id': RUNNING_ID, 'name': 'rack-b', 'state': 'running',
     'sources': ['old3'], 'owner': 'evacuator-1',
     'created_at': '2026-03-01T11:00:00', 'progress': 47.5},
    {'id': PAUSED_ID, 'name': 'rack-c', 'state': 'paused',
     'sources': ['old4'], 'owner': 'evacuator-1',
     'created_at': '2026-03-01T12:00:00'},
    {'id': DONE_ID, 'name': 'rack-d', 'state': 'completed',
     'sources': ['old5'], 'owner': None,
     'created_at': '2026-02-01T12:00:00', 'needs_operator': 2},
]

TASK_DONE = 'a0000000-0000-4000-8000-00000000000a'
TASK_MIGRATING = 'b0000000-0000-4000-8000-00000000000b'
TASK_STUCK = 'c0000000-0000-4000-8000-00000000000c'

SHOW = {
    'id': RUNNING_ID, 'name': 'rack-b', 'state': 'running',
    'sources': ['old3'], 'owner': 'evacuator-1',
    'plan': {'vms': 4, 'moves': 3, 'unplaceable': [
        {'server_id': 'd0', 'name': 'big-db', 'source': 'old3',
         'status': 'ACTIVE',
         'reason': 'No target has 64 GiB of RAM free.'}],
        'by_method': {'live': 2, 'cold': 1}, 'bytes': 3 * 1024 ** 3,
        'estimated_seconds': 600},
    'counts': {'done': 1, 'migrating': 1, 'needs_operator': 1},
    'created_at': '2026-03-01T11:00:00', 'started_at': '2026-03-01T11:05:00',
    'finished_at': None,
    'vms': 3, 'window': '22:00-06:00 UTC', 'progress': 47.5,
    'eta_seconds': 3725,
    'tasks': [
        {'server_id': TASK_DONE, 'name': 'web-1', 'source': 'old3',
         'target': 'new1', 'method': 'live', 'state': 'done', 'phase': '',
         'progress': 100.0, 'attempts': 1, 'last_error': None,
         'remedy': None},
        {'server_id': TASK_MIGRATING, 'name': 'web-2', 'source': 'old3',
         'target': 'new2', 'method': 'block', 'state': 'migrating',
         'phase': 'live_migration_pre', 'progress': 42.0, 'attempts': 1,
         'last_error': None, 'remedy': None},
        {'server_id': TASK_STUCK, 'name': 'db-1', 'source': 'old3',
         'target': 'new1', 'method': 'cold', 'state': 'needs_operator',
         'phase': '', 'progress': 0.0, 'attempts': 3,
         'last_error': 'Network filter not found',
         'remedy': 'Restart nova-compute on new1, then retry.'},
    ],
}

AUDIT = [
    {'at': '2026-03-01T11:00:00', 'actor': 'alice', 'action': 'plan',
     'detail': 'planned 3 VMs'},
    {'at': '2026-03-01T11:05:00', 'actor': 'bob', 'action': 'start',
     'detail': 'planned -> running'},
    {'at': '2026-03-01T11:05:07', 'actor': 'evacuator-1',
     'action': 'confirm-resize',
     'detail': '%s verified running on new1' % TASK_DONE},
]

DRY_RUN = {
    'id': None,
    'plan': {'vms': 3, 'moves': 2, 'unplaceable': 1,
             'by_method': {'live': 1, 'cold': 1}, 'bytes': 20 * 1024 ** 3,
             'estimated_seconds': 300},
    'moves': [
        {'server_id': 's1', 'server_name': 'app-1', 'project_id': 'p',
         'source_host': 'devstack002', 'original_status': 'ACTIVE',
         'method': 'live', 'target_host': 'devstack003',
         'bytes_total': 10 * 1024 ** 3, 'expected_seconds': 100.0,
         'expected_downtime_seconds': 1.0, 'verdicts': []},
        {'server_id': 's2', 'server_name': 'app-2', 'project_id': 'p',
         'source_host': 'devstack002', 'original_status': 'ACTIVE',
         'method': 'cold', 'target_host': 'devstack001',
         'bytes_total': 10 * 1024 ** 3, 'expected_seconds': 100.0,
         'expected_downtime_seconds': 117.4, 'verdicts': []},
    ],
    'unplaceable': [
        {'server_id': 's3', 'server_name': 'huge-1',
         'source': 'devstack002', 'status': 'ACTIVE',
         'reason': 'No target has 32 vCPUs free.'}],
}


def show(**changes):
    info = copy.deepcopy(SHOW)
    info.update(changes)
    return info


def listed(evacuation_id):
    return copy.deepcopy([e for e in LIST if e['id'] == evacuation_id][0])
