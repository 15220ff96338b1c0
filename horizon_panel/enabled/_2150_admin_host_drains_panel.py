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
"""Adds Admin > Compute > Host Drains; copy into
``openstack_dashboard/local/enabled/``, and set ``NOVA_MIGRATION_EXT``
in ``local_settings.py`` (see :mod:`horizon_panel.api.evacuator`).
"""

PANEL = 'drains'
PANEL_DASHBOARD = 'admin'
PANEL_GROUP = 'compute'

ADD_PANEL = 'horizon_panel.content.drains.panel.Drains'
ADD_INSTALLED_APPS = ['horizon_panel']
