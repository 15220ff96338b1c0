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
"""JSON schemas of the API's request bodies.

Unknown keys are refused (``additionalProperties: false``), so a
misspelled option is an error that names it, never a default silently
used. The policy's keys are those of
:class:`~nova_migration_ext.contract.policy.Policy` (a unit test checks).
"""

from nova_migration_ext.contract import policy as drain_policy

HOST = {'type': 'string', 'minLength': 1, 'maxLength': 255,
        'pattern': r'^[A-Za-z0-9._-]+$'}
HOSTS = {'type': 'array', 'items': HOST, 'minItems': 1, 'maxItems': 500,
         'uniqueItems': True}
HH_MM = {'type': 'string', 'pattern': r'^([01][0-9]|2[0-3]):[0-5][0-9]$'}
FLAGS = {'type': 'object', 'maxProperties': 10000,
         'additionalProperties': {'type': 'boolean'}}


def _count(minimum, maximum):
    return {'type': 'integer', 'minimum': minimum, 'maximum': maximum}


POLICY = {
    'type': 'object',
    'additionalProperties': False,
    'properties': {
        'method': {'enum': list(drain_policy.POLICY_METHODS)},
        'allow_downtime': {'type': 'boolean'},
        'downtime_projects': FLAGS,
        'downtime_servers': FLAGS,
        'max_per_source': {'oneOf': [_count(1, 64), {'type': 'null'}]},
        'max_per_target': {'oneOf': [_count(1, 64), {'type': 'null'}]},
        'max_total': {'oneOf': [_count(1, 100000), {'type': 'null'}]},
        'bandwidth_mb_per_s': {'type': 'number', 'exclusiveMinimum': 0,
                               'maximum': 100000},
        'max_bandwidth_mib_per_s': {'oneOf': [_count(1, 100000),
                                              {'type': 'null'}]},
        'live_failures_before_cold': _count(0, 10),
        'max_attempts': _count(1, 20),
        'window': {'oneOf': [{'type': 'array', 'items': HH_MM,
                              'minItems': 2, 'maxItems': 2},
                             {'type': 'null'}]},
        'tunnelled': {'type': 'boolean'},
        'two_phase_cold': {'type': 'boolean'},
        'require_verified_copy': {'type': 'boolean'},
    },
}

PLAN = {
    'type': 'object',
    'additionalProperties': False,
    'required': ['sources'],
    'properties': {
        'name': {'type': 'string', 'maxLength': 255},
        'sources': HOSTS,
        'targets': HOSTS,
        'target_aggregate': {'type': 'string', 'minLength': 1,
                             'maxLength': 255},
        'policy': POLICY,
        'dry_run': {'type': 'boolean'},
    },
}

SERVER = {'type': 'object', 'additionalProperties': False,
          'required': ['server'],
          'properties': {'server': {'type': 'string', 'minLength': 1,
                                    'maxLength': 255}}}

RETRY = {'type': 'object', 'additionalProperties': False,
         'required': ['server'],
         'properties': dict(SERVER['properties'],
                            allow_downtime={'type': 'boolean'},
                            target=HOST)}

# One action per request: {"start": null}, {"retry": {"server": id}}.
ACTION = {
    'type': 'object',
    'minProperties': 1,
    'maxProperties': 1,
    'additionalProperties': False,
    'properties': {
        'start': {'type': 'null'},
        'pause': {'type': 'null'},
        'resume': {'type': 'null'},
        'cancel': {'type': 'null'},
        'retry': RETRY,
        'skip': SERVER,
    },
}
