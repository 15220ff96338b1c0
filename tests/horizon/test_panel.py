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
"""The panel's place in Horizon and who sees it."""

import importlib.metadata
import sys

from django.conf import settings
from django.urls import reverse
import horizon
from openstack_dashboard.test import helpers as test

from horizon_panel.api import evacuator
from horizon_panel.content.drains import panel

INDEX_URL = reverse('horizon:admin:drains:index')


class PanelTests(test.BaseAdminViewTests):

    def test_registered_in_admin_compute(self):
        dashboard = horizon.get_dashboard('admin')
        drains = dashboard.get_panel('drains')
        self.assertIsInstance(drains, panel.Drains)
        self.assertIn(drains, dashboard.get_panel_group('compute'))
        self.assertIn('horizon_panel', settings.INSTALLED_APPS)

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_admin_sees_it_in_the_menu(self):
        self.mock_evacuation_list.return_value = []
        res = self.client.get(INDEX_URL)
        self.assertContains(res, 'href="%s"' % INDEX_URL)
        self.assertContains(res, 'Host Drains')

    def test_horizon_extra_installs_no_nova(self):
        # This environment is made from the '[horizon]' extra only.
        self.assertRaises(importlib.metadata.PackageNotFoundError,
                          importlib.metadata.version, 'nova')
        self.assertTrue(importlib.metadata.version('horizon'))

    def test_needs_neither_nova_nor_the_engine(self):
        for name in sys.modules:
            self.assertNotEqual('nova', name.split('.')[0], name)
            self.assertFalse(name.startswith(
                ('sqlalchemy', 'nova_migration_ext.engine.engine',
                 'nova_migration_ext.engine.store')), name)


class NonAdminTests(test.TestCase):

    @test.create_mocks({evacuator: ['evacuation_list']})
    def test_hidden_from_non_admin_users(self):
        res = self.client.get(INDEX_URL)
        self.assertEqual(403, res.status_code)
        self.mock_evacuation_list.assert_not_called()
        home = self.client.get(reverse('horizon:project:api_access:index'))
        self.assertNotContains(home, INDEX_URL)
