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
"""Django settings of the panel's tests: Horizon's test settings plus
the panel, enabled as an operator enables it.
"""

from openstack_dashboard.test.settings import *  # noqa: F403,H303

import openstack_dashboard.enabled  # noqa: E402
from openstack_dashboard.utils import settings as settings_utils  # noqa

import horizon_panel.enabled  # noqa: E402

# Horizon's test settings already enabled its own dashboards; start over
# with ours added (a second pass over the same files fails).
HORIZON_CONFIG.pop('dashboards', None)  # noqa: F405
HORIZON_CONFIG.pop('default_dashboard', None)  # noqa: F405
INSTALLED_APPS = [
    'django.contrib.contenttypes',
    'django.contrib.auth',
    'django.contrib.sessions',
    'django.contrib.staticfiles',
    'django.contrib.messages',
    'django.contrib.humanize',
    'openstack_auth',
    'compressor',
    'horizon',
    'openstack_dashboard',
]
settings_utils.update_dashboards(
    [horizon_panel.enabled, openstack_dashboard.enabled],
    HORIZON_CONFIG, INSTALLED_APPS)  # noqa: F405

NOVA_MIGRATION_EXT = {'timeout': 7}
