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
"""Find instances whose Glance image was deleted.

Operators used to join nova's and glance's databases by hand::

    select image_ref ... from instances join glance.images ...
    where instances.deleted=0 and glance.images.deleted=1

This does the same through the public APIs, so it also works where the
databases are on different servers or the SQL schema changed.
"""

import collections
import dataclasses
import hashlib


@dataclasses.dataclass(frozen=True)
class OrphanedImage:
    """A deleted image still used by instances."""

    image_id: str
    cache_name: str
    instances: tuple   # (uuid, name, host) triples


def cache_name(image_id):
    """The base file name nova uses for *image_id* (sha1 of the id)."""
    return hashlib.sha1(image_id.encode('utf-8')).hexdigest()


def find_orphaned_images(servers, image_exists):
    """Group *servers* by image and keep the images that no longer exist.

    :param servers: iterable of novaclient servers (or objects with ``id``,
        ``name``, ``image`` and ``OS-EXT-SRV-ATTR:host``).
    :param image_exists: callable taking an image id, returning a bool.
    """
    by_image = collections.defaultdict(list)
    for server in servers:
        image = getattr(server, 'image', None)
        image_id = image.get('id') if isinstance(image, dict) else None
        if not image_id:
            continue    # booted from volume
        host = getattr(server, 'OS-EXT-SRV-ATTR:host', None)
        by_image[image_id].append((server.id, server.name, host))
    return [OrphanedImage(image_id, cache_name(image_id), tuple(sorted(
        users, key=lambda u: (u[2] or '', u[0]))))
        for image_id, users in sorted(by_image.items())
        if not image_exists(image_id)]


def glance_image_exists(glance):
    """Return an ``image_exists`` callable backed by a glanceclient."""
    from glanceclient import exc as glance_exc

    def image_exists(image_id):
        try:
            image = glance.images.get(image_id)
        except glance_exc.HTTPNotFound:
            return False
        return getattr(image, 'status', 'active') not in ('deleted',
                                                          'killed')
    return image_exists


def list_orphaned_images(session, region_name=None):
    """Query nova and glance with a keystoneauth *session*."""
    from glanceclient import client as glance_client
    from novaclient import client as nova_client

    nova = nova_client.Client('2.1', session=session,
                              region_name=region_name)
    glance = glance_client.Client('2', session=session,
                                  region_name=region_name)
    # limit=-1: every page, not only the first [api] max_limit servers.
    servers = nova.servers.list(detailed=True, limit=-1,
                                search_opts={'all_tenants': True})
    return find_orphaned_images(servers, glance_image_exists(glance))


def format_report(orphans):
    lines = []
    for orphan in orphans:
        lines.append('image %s (base file _base/%s) deleted, used by %d '
                     'instance(s):' % (orphan.image_id, orphan.cache_name,
                                       len(orphan.instances)))
        for uuid, name, host in orphan.instances:
            lines.append('  %s  %-20s on %s' % (uuid, name, host))
    if not lines:
        lines.append('No instance uses a deleted image.')
    return '\n'.join(lines)
