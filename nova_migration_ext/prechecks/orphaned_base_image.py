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
"""orphaned_base_image: is the backing file of every disk reachable?

A qcow2 disk needs its base file in ``_base``. When the Glance image is
deleted, nova cannot download it again; the destination must already have
it or get a copy from the source before the migration starts.
"""

from oslo_config import cfg

from nova_migration_ext.prechecks import base

OPTS = [
    cfg.BoolOpt(
        'seed_orphaned_base_images',
        default=True,
        help='orphaned_base_image: copy the base file of an instance whose '
             'Glance image was deleted to the destination before the '
             'migration starts. When off, the check fails instead unless the '
             'destination already has it.'),
]


class OrphanedBaseImage(base.Precheck):
    """Refuse a migration whose disks would lose their backing file."""

    name = 'orphaned_base_image'
    kinds = frozenset([base.MigrationKind.BLOCK, base.MigrationKind.COLD,
                       base.MigrationKind.RESIZE])
    OPTS = OPTS

    def check(self, request):
        if request.disks is None:
            return base.Verdict.skip(
                self.name, 'the disks are not known in this phase')
        backing = sorted({d.backing_file for d in request.local_disks
                          if d.backing_file})
        if not backing:
            # Looked, and nothing depends on a base image: a pass.
            return base.Verdict.ok(self.name, 'no disk has a backing file.')
        image = request.base_image
        if image is not None and image.deleted_in_glance is False:
            return base.Verdict.ok(
                self.name, 'image %s is still in Glance.' % image.image_id)
        image_id = image.image_id if image is not None else 'unknown'
        src, dest = request.source, request.destination
        missing = []
        for name in backing:
            if dest.base_images is not None and name in dest.base_images:
                continue
            on_source = (src.base_images is not None and
                         name in src.base_images)
            if on_source and image is not None and image.copy_planned:
                continue
            if (on_source and dest.base_images is not None and
                    not self.options.seed_orphaned_base_images):
                return base.Verdict.fail(
                    self.name,
                    'base file _base/%s of deleted image %s is on %s but '
                    'not on %s, and seeding is off.'
                    % (name, image_id, src.host, dest.host),
                    'Copy it to %s:%s/_base/ first, or set [migration_ext] '
                    'seed_orphaned_base_images = true.'
                    % (dest.host, dest.instances_path or '<instances_path>'),
                    backing_file=name)
            # Unknown on either side: the phase that knows judges it.
            if on_source or src.base_images is None:
                continue
            missing.append(name)
        if missing:
            return base.Verdict.fail(
                self.name,
                'base file _base/%s of deleted Glance image %s is on neither '
                '%s nor %s, and the disk of instance %s needs it.'
                % (', '.join(missing), image_id, src.host, dest.host,
                   request.instance_uuid),
                'Copy it from any compute host that still has it into '
                '%s/_base/ on %s (nova-migration-ext-orphans lists the '
                'instances of deleted images), then retry.'
                % (src.instances_path or '<instances_path>', src.host),
                backing_files=missing)
        return base.Verdict.ok(
            self.name, 'base file(s) %s present or copied before the move.'
            % ', '.join(backing))
