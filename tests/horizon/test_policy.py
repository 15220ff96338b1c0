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
"""The panel's actions follow the API's policy, as Horizon checks it.

Horizon's real policy check (``openstack_auth.policy.check``) reads the
files this package ships (``horizon_panel/conf``), set up as README.md
tells operators; an override file stands for an operator's policy.
"""

import os
import shutil
import tempfile
from unittest import mock

from django.core.cache import cache
from django.test.utils import override_settings
from django.urls import reverse
from openstack_auth import policy as auth_policy
from openstack_dashboard.test import helpers as test

from horizon_panel.api import evacuator
from horizon_panel import policy
from tests.horizon import fakes
from tests.horizon import test_detail
from tests.horizon import test_index

INDEX_URL = reverse('horizon:admin:drains:index')
LIST_ACTIONS = ('start', 'pause', 'resume', 'cancel')


class PanelPolicyTests(test.BaseAdminViewTests):

    def use_policy(self, overrides=None):
        """Horizon checks our scope with the shipped files.

        *overrides* (YAML text), if given, replaces the overrides file.
        """
        conf_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, conf_dir)
        shutil.copytree(policy.CONF_DIR, conf_dir, dirs_exist_ok=True)
        if overrides is not None:
            with open(os.path.join(conf_dir, policy.OVERRIDES_FILE),
                      'w') as f:
                f.write(overrides)
        settings = override_settings(
            POLICY_CHECK_FUNCTION='openstack_auth.policy.check',
            POLICY_FILES_PATH=conf_dir,
            POLICY_FILES={policy.SCOPE: policy.OVERRIDES_FILE},
            POLICY_DIRS={},
            DEFAULT_POLICY_FILES={policy.SCOPE: policy.DEFAULTS_FILE})
        settings.enable()
        self.addCleanup(settings.disable)
        # Read once, when Horizon starts: as an operator's local_settings.
        base_path = mock.patch.object(auth_policy, '_BASE_PATH', conf_dir)
        base_path.start()
        self.addCleanup(base_path.stop)
        auth_policy.reset()
        self.addCleanup(auth_policy.reset)
        cache.clear()

    def offered(self, res, drain_id):
        return {action for action in LIST_ACTIONS
                if 'id="%s"' % test_index.action_id(drain_id, action)
                in res.content.decode()}

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_admin_gets_every_action_with_the_shipped_files(self):
        self.use_policy()
        self.mock_evacuation_list.return_value = fakes.LIST
        res = self.client.get(INDEX_URL)
        self.assertEqual({'start', 'cancel'},
                         self.offered(res, fakes.PLANNED_ID))
        self.assertEqual({'pause', 'cancel'},
                         self.offered(res, fakes.RUNNING_ID))
        self.assertContains(res, 'id="drains__action_plan"')

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_actions_the_policy_refuses_are_not_offered(self):
        # The operator's policy: only a drain-operator plans and starts.
        self.use_policy('"drain:create": "role:drain-operator"\n'
                        '"drain:start": "role:drain-operator"\n')
        self.mock_evacuation_list.return_value = fakes.LIST
        res = self.client.get(INDEX_URL)
        self.assertEqual({'cancel'}, self.offered(res, fakes.PLANNED_ID))
        self.assertEqual({'pause', 'cancel'},
                         self.offered(res, fakes.RUNNING_ID))
        self.assertNotContains(res, 'id="drains__action_plan"')

    @test.create_mocks({evacuator: ['evacuation_get']})
    def test_vm_actions_follow_the_policy(self):
        self.use_policy('"drain:retry": "role:drain-operator"\n')
        self.mock_evacuation_get.return_value = fakes.show()
        res = self.client.get(test_detail.DETAIL_URL)
        self.assertNotContains(res, test_detail.task_action_id(
            fakes.TASK_STUCK, 'retry'))
        self.assertContains(res, 'id="%s"' % test_detail.task_action_id(
            fakes.TASK_STUCK, 'skip'))

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_panel_refused_where_listing_is_refused(self):
        self.use_policy('"drain:list": "role:drain-operator"\n')
        self.mock_evacuation_list.return_value = fakes.LIST
        res = self.client.get(INDEX_URL)
        self.assertNotEqual(200, res.status_code)
        self.mock_evacuation_list.assert_not_called()
