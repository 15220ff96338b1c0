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
"""The operators' 'deleted image still in use' query, through the APIs."""

import hashlib
import types

import testtools

from nova_migration_ext.compute import orphans


def server(uuid, name, host, image_id):
    fields = {'id': uuid, 'name': name,
              'image': {'id': image_id} if image_id else '',
              'OS-EXT-SRV-ATTR:host': host}
    return types.SimpleNamespace(**fields)


class FindOrphanedImagesTest(testtools.TestCase):

    def test_groups_users_of_deleted_images(self):
        servers = [server('u1', 'web1', 'c6-02', 'img-gone'),
                   server('u2', 'web2', 'c6-01', 'img-gone'),
                   server('u3', 'db1', 'c6-01', 'img-kept'),
                   server('u4', 'bfv', 'c6-03', None)]
        found = orphans.find_orphaned_images(
            servers, lambda image_id: image_id == 'img-kept')
        self.assertEqual(1, len(found))
        [orphan] = found
        self.assertEqual('img-gone', orphan.image_id)
        self.assertEqual(hashlib.sha1(b'img-gone').hexdigest(),
                         orphan.cache_name)
        self.assertEqual((('u2', 'web2', 'c6-01'), ('u1', 'web1', 'c6-02')),
                         orphan.instances)

    def test_report(self):
        orphan = orphans.OrphanedImage('img', 'abc', (('u1', 'vm', 'h1'),))
        report = orphans.format_report([orphan])
        self.assertIn('image img (base file _base/abc) deleted, used by 1 '
                      'instance(s):', report)
        self.assertIn('u1  vm', report)
        self.assertEqual('No instance uses a deleted image.',
                         orphans.format_report([]))

    def test_glance_deleted_or_killed_counts_as_gone(self):
        from glanceclient import exc

        class Images:
            def get(self, image_id):
                if image_id == 'missing':
                    raise exc.HTTPNotFound()
                return types.SimpleNamespace(
                    status='deleted' if image_id == 'deleted' else 'active')
        exists = orphans.glance_image_exists(
            types.SimpleNamespace(images=Images()))
        self.assertFalse(exists('missing'))
        self.assertFalse(exists('deleted'))
        self.assertTrue(exists('active'))
