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
"""disk_fit: will the destination really hold the instance's disks?

Nova's own "Disk of instance is too large" check only runs for API
microversions older than 2.25, and placement counts flavor sizes, not the
bytes on disk. This check compares the bytes the destination must hold with
the free space measured on its instances path.
"""

from oslo_config import cfg

from nova_migration_ext.prechecks import base

OPTS = [
    cfg.IntOpt(
        'disk_fit_margin_mb',
        default=1024,
        min=0,
        help='disk_fit: space, in MiB, to keep free on the destination on '
             'top of [DEFAULT] reserved_host_disk_mb after the copy.'),
]


class DiskFit(base.Precheck):
    """Refuse a migration whose disks do not fit on the destination."""

    name = 'disk_fit'
    kinds = frozenset([base.MigrationKind.BLOCK, base.MigrationKind.COLD,
                       base.MigrationKind.RESIZE])
    OPTS = OPTS

    def check(self, request):
        dest = request.destination
        if dest.free_bytes is None:
            return base.Verdict.skip(
                self.name, 'free space on %s is not known in this phase'
                % dest.host)
        if request.disks is None:
            return base.Verdict.skip(
                self.name, 'the disks are not known in this phase')
        parts = self._needed_parts(request)
        if parts is None:
            return base.Verdict.warn(
                self.name,
                'the allocated size of some disk of instance %s could not '
                'be read, so the fit on %s was not verified.'
                % (request.instance_uuid, dest.host),
                'Check that every disk file of the instance exists on %s.'
                % request.source.host)
        needed = sum(size for _label, size in parts)
        margin = self.options.disk_fit_margin_mb * base.MiB
        usable = dest.free_bytes - dest.reserved_bytes - margin
        details = {'needed_bytes': needed, 'free_bytes': dest.free_bytes,
                   'reserved_bytes': dest.reserved_bytes,
                   'margin_bytes': margin}
        if needed <= usable:
            return base.Verdict.ok(
                self.name, '%s needed, %s usable on %s.'
                % (base.gib(needed), base.gib(max(usable, 0)), dest.host),
                **details)
        breakdown = ' + '.join(
            '%s %s' % (base.gib(size), label) for label, size in parts
            if size)
        reason = ('Destination %(dest)s has %(free)s free on %(path)s'
                  '%(kept)s; instance %(uuid)s needs %(needed)s (%(parts)s).'
                  % {'dest': dest.host, 'free': base.gib(dest.free_bytes),
                     'path': dest.instances_path or 'its instances path',
                     'kept': self._kept(dest.reserved_bytes, margin),
                     'uuid': request.instance_uuid,
                     'needed': base.gib(needed),
                     'parts': breakdown or 'nothing'})
        return base.Verdict.fail(
            self.name, reason,
            'Choose another destination.',
            **details)

    @staticmethod
    def _kept(reserved, margin):
        kept = []
        if reserved:
            kept.append('%s reserved' % base.gib(reserved))
        if margin:
            kept.append('%s margin' % base.gib(margin))
        if not kept:
            return ''
        return ', of which %s must stay free' % ' and '.join(kept)

    @staticmethod
    def _needed_parts(request):
        sizes = [d.allocated_size for d in request.local_disks]
        if any(size is None for size in sizes):
            return None
        parts = [('disk', sum(sizes))]
        image = request.base_image
        dest_images = request.destination.base_images
        if (image is not None and image.size and
                any(d.backing_file for d in request.local_disks) and
                (dest_images is None or image.cache_name not in dest_images)):
            label = ('base image missing there' if dest_images is not None
                     else 'base image perhaps missing there')
            parts.append((label, image.size))
        if request.ephemeral_bytes:
            parts.append(('ephemeral', request.ephemeral_bytes))
        if request.swap_bytes:
            parts.append(('swap', request.swap_bytes))
        return parts
