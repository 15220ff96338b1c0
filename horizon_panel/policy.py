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
"""The API's policy rules, as Horizon checks them before it shows an action.

Horizon checks the rules of a scope only where its settings name policy
files for it, as they do for nova's or keystone's. For ours, copy
``conf/`` of this package into ``POLICY_FILES_PATH`` and set::

    POLICY_FILES['host-drain'] = 'host-drain_policy.yaml'
    DEFAULT_POLICY_FILES['host-drain'] = 'default_policies/host-drain.yaml'

``host-drain_policy.yaml`` holds the operator's overrides, the same as
the API's ``[oslo_policy] policy_file``; the defaults come from the API's
code (``tools/dump_panel_policies.py`` writes them). The API enforces
every rule whatever Horizon shows.
"""

import os

from nova_migration_ext.api import policies
from nova_migration_ext.client import SERVICE_TYPE

SCOPE = SERVICE_TYPE
CONF_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'conf')
OVERRIDES_FILE = 'host-drain_policy.yaml'
DEFAULTS_FILE = 'default_policies/host-drain.yaml'


def rules(action):
    """``policy_rules`` of a panel element doing the API's *action*."""
    return ((SCOPE, policies.PREFIX + action),)


def default_rules():
    """The API's rules in Horizon's ``default_policies`` format."""
    return [{'name': rule.name, 'check_str': rule.check_str,
             'description': rule.description,
             'operations': list(rule.operations),
             'scope_types': rule.scope_types}
            for rule in policies.list_rules()]
