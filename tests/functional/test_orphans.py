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
"""``nova-migration-ext-orphans`` against nova's real API.

The command logs in with keystoneauth's password plugin, finds nova and
Glance in the token's catalog, lists every project's servers through
nova's API (served on a local port by the embedded cloud) and asks
Glance for each image they use. Glance is the harness' image service,
answered over HTTP: deleting an image there is what the cloud sees too.
"""

import contextlib
import io
import json

from nova.tests.functional.api import client as api_client

from nova_migration_ext.cmd import orphans as orphans_cmd
from nova_migration_ext.compute import orphans
from tests.functional import cloud
from tests.functional import fake_keystone
from tests.functional import test_evacuator_auth

IMAGE_SCHEMA = {'name': 'image', 'additionalProperties': True,
                'properties': {'id': {'type': 'string'},
                               'name': {'type': ['null', 'string']},
                               'status': {'type': 'string'}}}


class GlanceImagesAPI:
    """Glance's image API v2 (show only) over the harness' images."""

    def __init__(self, glance):
        self.glance = glance
        self.asked = []

    def __call__(self, environ, start_response):
        path = environ['PATH_INFO'].rstrip('/')
        if path == '/v2/schemas/image':
            return self._json(start_response, '200 OK', IMAGE_SCHEMA)
        prefix = '/v2/images/'
        image = None
        if path.startswith(prefix):
            self.asked.append(path[len(prefix):])
            image = self.glance.images.get(path[len(prefix):])
        if image is None:   # as Glance answers, in plain text
            start_response('404 Not Found', [('Content-Type', 'text/plain')])
            return [b'404 Not Found\n\nNo image found with ID %s\n'
                    % path.rsplit('/', 1)[-1].encode()]
        return self._json(start_response, '200 OK', {
            'id': image['id'], 'name': image.get('name'),
            'status': image['status']})

    @staticmethod
    def _json(start_response, status, body):
        start_response(status, [('Content-Type', 'application/json')])
        return [json.dumps(body).encode()]


class OrphansCommandTest(cloud.EmbeddedCloudTestBase):

    def setUp(self):
        super().setUp()
        self.start_compute('c6-01')
        self.start_compute('c6-02')
        catalog = {}
        self.keystone = self.useFixture(fake_keystone.FakeKeystone(
            username='operator', password='secret', project_name='admin',
            catalog=catalog))
        self.glance_api = GlanceImagesAPI(self.glance)
        catalog['image'] = self.serve(self.glance_api)
        catalog['compute'] = self.serve_api(
            lambda app: test_evacuator_auth.KeystoneMiddleware(
                app, self.keystone, self.api.project_id))

    def new_image(self, name):
        image = dict(self.glance.show(None, self.glance.image1['id']))
        image.pop('id')
        image['name'] = name
        return self.glance.create(None, image)['id']

    def run_command(self, *args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = orphans_cmd.main([
                '--os-auth-url', self.keystone.url,
                '--os-username', 'operator', '--os-password', 'secret',
                '--os-project-name', 'admin',
                '--os-user-domain-name', 'Default',
                '--os-project-domain-name', 'Default'] + list(args))
        self.assertEqual(0, rc)
        return out.getvalue()

    def test_lists_every_project_using_a_deleted_image(self):
        # One server per page: the command must read every page.
        self.flags(max_limit=1, group='api')
        gone = self.new_image('centos6-golden')
        kept = self.new_image('centos7-golden')
        web = self.boot('c6-01', image_uuid=gone, name='web1')
        db = self.boot('c6-02', image_uuid=kept, name='db1')
        # Another project's VM from the same image: the query spans them.
        other = api_client.TestOpenStackClient(
            'tenant', self.api.base_url, project_id='tenant-project')
        other.microversion = self.api.microversion
        tenant_vm = self._create_server(name='tenant-vm', image_uuid=gone,
                                        networks='none', api=other)
        tenant_host = self.admin_api.get_server(
            tenant_vm['id'])['OS-EXT-SRV-ATTR:host']
        self.glance.delete(None, gone)

        [found] = json.loads(self.run_command('-f', 'json'))

        self.assertEqual(gone, found['image_id'])
        self.assertEqual(orphans.cache_name(gone), found['base_file'])
        expected = sorted([('c6-01', web['id'], 'web1'),
                           (tenant_host, tenant_vm['id'], 'tenant-vm')])
        self.assertEqual([{'id': uuid, 'name': name, 'host': host}
                          for host, uuid, name in expected],
                         found['instances'])
        self.assertNotIn(db['id'], json.dumps(found))
        # Glance is asked once per image, not once per VM.
        self.assertEqual(sorted([gone, kept]), sorted(self.glance_api.asked))

        table = self.run_command()
        print(table)
        self.assertIn('image %s (base file _base/%s) deleted, used by 2 '
                      'instance(s):' % (gone, orphans.cache_name(gone)),
                      table)

    def test_no_deleted_image(self):
        self.boot('c6-01', name='web1')
        self.assertEqual('No instance uses a deleted image.\n',
                         self.run_command())
