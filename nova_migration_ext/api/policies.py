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
"""Policy rules of the host-drain API, with their defaults in code.

Every rule defaults to the ``admin`` role: draining hosts is the cloud
operator's job. ``oslopolicy-sample-generator --namespace
nova-migration-ext`` lists them; an operator overrides them in
``[oslo_policy] policy_file``.
"""

from oslo_policy import policy

ADMIN = 'role:admin'
PREFIX = 'drain:'
BASE = '/v1/drains'

DRAIN = BASE + '/{drain_id}'
ACTION = DRAIN + '/action'
HOSTS = '/v1/hosts'

_RULES = (
    ('list', 'List the host drains.', 'GET', BASE),
    ('show', 'Show a drain, its VMs and audit log.', 'GET', DRAIN),
    ('create', 'Plan a drain of compute hosts (or a dry run).', 'POST',
     BASE),
    ('start', 'Start a planned drain.', 'POST', ACTION),
    ('pause', 'Pause a running drain.', 'POST', ACTION),
    ('resume', 'Resume a paused drain.', 'POST', ACTION),
    ('cancel', 'Cancel a drain.', 'POST', ACTION),
    ('retry', 'Retry the move of one VM.', 'POST', ACTION),
    ('skip', 'Skip one VM: it stays on its host.', 'POST', ACTION),
    ('hosts', 'List the compute hosts and what their VMs use, to plan '
     'drains.', 'GET', HOSTS),
)

RULES = [policy.DocumentedRuleDefault(
    name=PREFIX + action, check_str=ADMIN, description=description,
    operations=[{'method': method, 'path': path}])
    for action, description, method, path in _RULES]


def list_rules():
    """The rules, for oslo.policy's sample generator."""
    return RULES


def enforcer(conf):
    """An oslo.policy enforcer of *conf* with the default rules."""
    rules = policy.Enforcer(conf)
    rules.register_defaults(RULES)
    return rules
