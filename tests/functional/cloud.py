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
"""An embedded cloud for the evacuation engine.

nova's real services with our driver on fake libvirt, reached through
python-novaclient.
"""

import urllib.parse

from keystoneauth1 import plugin
from keystoneauth1 import session as ks_session
from lxml import etree
from nova.tests.fixtures import libvirt as fakelibvirt

from nova_migration_ext.evacuation import nova_gateway
from tests.functional import base


class HeaderAuth(plugin.BaseAuthPlugin):
    """Authenticate to the harness' API the way its own client does."""

    def __init__(self, endpoint, user, project):
        super().__init__()
        self.endpoint = endpoint
        self.headers = {'X-Auth-User': user, 'X-User-Id': user,
                        'X-Auth-Project-Id': project,
                        'X-Roles': 'admin,member,reader'}

    def get_endpoint(self, session, **kwargs):
        return self.endpoint

    def get_headers(self, session, **kwargs):
        return dict(self.headers)


class EmbeddedCloudTestBase(base.MigrationExtTestBase):
    """Old and new compute hosts on one shared instances path.

    Every host sees the same files (as on NFS), so any number of
    migrations can run at once in the single process.
    """

    shared_instance_path = True

    def _migrate_stub(self, domain, destination, params, flags):
        """libvirt's migrateToURI3 between any two computes."""
        uuid = etree.fromstring(params['destination_xml']).find(
            './uuid').text
        target = urllib.parse.urlparse(destination).hostname
        self.computes[target].driver._host.get_connection().createXML(
            params['destination_xml'], 'fake-createXML')
        for compute in self.computes.values():
            conn = compute.driver._host.get_connection()
            try:
                source = conn.lookupByUUIDString(uuid)
            except fakelibvirt.libvirtError:
                continue
            if compute is not self.computes[target]:
                source.complete_job()
                return
        raise AssertionError('domain %s is on no compute' % uuid)

    def start_hosts(self, old, new):
        for name in old + new:
            self.start_compute(name)
        self.use_host_paths(old[0])

    def gateway(self):
        api = self.api
        auth = HeaderAuth(api.base_url, api.auth_user, api.project_id)
        session = ks_session.Session(auth=auth)
        return nova_gateway.NovaGateway(session,
                                        endpoint_override=api.base_url)
