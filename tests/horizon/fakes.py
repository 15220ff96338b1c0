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
"""What the API answers: its JSON, read through the contract.

The ``*_JSON`` values are the wire format; ``LIST``, ``show()``,
``listed()`` and ``DRY_RUN`` the resources the client makes of them (so a
fake that drifts from the contract fails here, by name).
"""

import copy

from nova_migration_ext.contract import drains
from nova_migration_ext.contract import hosts

PLANNED_ID = 'e1000000-0000-4000-8000-000000000001'
RUNNING_ID = 'e2000000-0000-4000-8000-000000000002'
PAUSED_ID = 'e3000000-0000-4000-8000-000000000003'
DONE_ID = 'e4000000-0000-4000-8000-000000000004'

LIST_JSON = [
    {'id': PLANNED_ID, 'name': 'rack-a', 'state': 'planned',
     'sources': ['old1', 'old2'], 'owner': None,
     'created_at': '2026-03-01T10:00:00'},
    {'id': RUNNING_ID, 'name': 'rack-b', 'state': 'running',
     'sources': ['old3'], 'owner': 'evacuator-1',
     'created_at': '2026-03-01T11:00:00', 'progress': 47.5,
     'counts': {'done': 1, 'migrating': 1}},
    {'id': PAUSED_ID, 'name': 'rack-c', 'state': 'paused',
     'sources': ['old4'], 'owner': 'evacuator-1',
     'created_at': '2026-03-01T12:00:00'},
    {'id': DONE_ID, 'name': 'rack-d', 'state': 'completed',
     'sources': ['old5'], 'owner': None,
     'created_at': '2026-02-01T12:00:00', 'progress': 80.0,
     'counts': {'done': 8, 'needs_operator': 2}},
]

TASK_DONE = 'a0000000-0000-4000-8000-00000000000a'
TASK_MIGRATING = 'b0000000-0000-4000-8000-00000000000b'
TASK_STUCK = 'c0000000-0000-4000-8000-00000000000c'

SHOW_JSON = {
    'id': RUNNING_ID, 'name': 'rack-b', 'state': 'running',
    'sources': ['old3'], 'owner': 'evacuator-1',
    'plan': {'vms': 4, 'unplaceable': [
        {'server_id': 'd0', 'name': 'big-db', 'source': 'old3',
         'status': 'ACTIVE',
         'reason': 'No target has 64 GiB of RAM free.'}],
        'by_method': {'live': 2, 'cold': 1}, 'bytes': 3 * 1024 ** 3,
        'estimated_seconds': 600},
    'counts': {'done': 1, 'migrating': 1, 'needs_operator': 1},
    'created_at': '2026-03-01T11:00:00', 'started_at': '2026-03-01T11:05:00',
    'finished_at': None, 'lease': 'evacuator-1, renewed (90 s left)',
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

AUDIT_JSON = [
    {'at': '2026-03-01T11:00:00', 'actor': 'alice', 'action': 'plan',
     'detail': 'planned 3 VMs'},
    {'at': '2026-03-01T11:05:00', 'actor': 'bob', 'action': 'start',
     'detail': 'planned -> running'},
    {'at': '2026-03-01T11:05:07', 'actor': 'evacuator-1',
     'action': 'confirm-resize',
     'detail': '%s verified running on new1' % TASK_DONE},
]

DRY_RUN_JSON = {
    'vms': 3, 'by_method': {'live': 1, 'cold': 1}, 'bytes': 20 * 1024 ** 3,
    'estimated_seconds': 300,
    'moves': [
        {'server_id': 's1', 'name': 'app-1', 'project_id': 'p',
         'source': 'devstack002', 'status': 'ACTIVE', 'method': 'live',
         'target': 'devstack003', 'bytes': 10 * 1024 ** 3,
         'expected_seconds': 100.0, 'expected_downtime_seconds': 1.0,
         'verdicts': []},
        {'server_id': 's2', 'name': 'app-2', 'project_id': 'p',
         'source': 'devstack002', 'status': 'ACTIVE', 'method': 'cold',
         'target': 'devstack001', 'bytes': 10 * 1024 ** 3,
         'expected_seconds': 100.0, 'expected_downtime_seconds': 117.4,
         'verdicts': []},
    ],
    'unplaceable': [
        {'server_id': 's3', 'name': 'huge-1', 'source': 'devstack002',
         'status': 'ACTIVE', 'reason': 'No target has 32 vCPUs free.'}],
}
DRY_RUN = drains.Plan.from_dict(DRY_RUN_JSON)
LIST = [drains.Drain.from_dict(data) for data in LIST_JSON]
AUDIT = [drains.AuditEntry.from_dict(data) for data in AUDIT_JSON]


def show(**changes):
    """The running drain of ``SHOW_JSON``, with *changes* (wire format)."""
    data = copy.deepcopy(SHOW_JSON)
    data.update(changes)
    return drains.Drain.from_dict(data)


def listed(drain_id):
    return copy.deepcopy([e for e in LIST if e.id == drain_id][0])


# The drain service's inventory (GET /v1/hosts), for the Plan Drain
# workflow's host tables.
HOSTS_JSON = [
    {'name': 'devstack001', 'enabled': True, 'up': True, 'vms': 3,
     'vcpus': 8, 'vcpus_used': 5, 'cpu_allocation_ratio': 4.0,
     'memory_mb': 16384, 'memory_mb_used': 6144,
     'ram_allocation_ratio': 1.0, 'disk_used_bytes': 30 * 1024 ** 3,
     'disk_free_bytes': 200 * 1024 ** 3, 'aggregates': ['foo']},
    {'name': 'devstack002', 'enabled': True, 'up': False, 'vms': 2,
     'vcpus': 8, 'vcpus_used': 2, 'cpu_allocation_ratio': 1.0,
     'memory_mb': 16384, 'memory_mb_used': 4096,
     'ram_allocation_ratio': 1.0, 'disk_used_bytes': 20 * 1024 ** 3,
     'disk_free_bytes': 100 * 1024 ** 3, 'aggregates': []},
    {'name': 'devstack003', 'enabled': True, 'up': True, 'vms': 0,
     'vcpus': 16, 'vcpus_used': 0, 'cpu_allocation_ratio': 1.0,
     'memory_mb': 32768, 'memory_mb_used': 0,
     'ram_allocation_ratio': 1.0, 'disk_used_bytes': 0,
     'disk_free_bytes': 400 * 1024 ** 3, 'aggregates': ['bar']},
]
HOSTS = [hosts.Host.from_dict(data) for data in HOSTS_JSON]
