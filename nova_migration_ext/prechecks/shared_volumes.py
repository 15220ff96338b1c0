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
"""shared_volumes: a block migration must never copy a volume.

libvirt copies every disk it is given in ``migrate_disks``, and every disk
of the domain when the list is empty or the migration is tunnelled. Copying
a Cinder volume, or a shareable or read-only disk, onto itself while the
guest writes to it corrupts it silently.
"""

from nova_migration_ext.prechecks import base

REMEDY = ('Use cold migration ("openstack server migrate") for this '
          'instance, or keep its disks on shared storage and live-migrate '
          'without --block-migration.')


class SharedVolumes(base.Precheck):
    """Refuse a block migration in which libvirt would copy a volume."""

    name = 'shared_volumes'
    kinds = frozenset([base.MigrationKind.BLOCK])
    phases = frozenset([base.Phase.SOURCE])

    def check(self, request):
        protected = self._protected_devices(request)
        if not protected:
            return base.Verdict.ok(self.name, 'no volume or shared disk.')
        names = ', '.join(sorted(protected))
        if request.tunnelled:
            return base.Verdict.fail(
                self.name,
                'Block migration of instance %s is tunnelled, which cannot '
                'exclude disks, and it has volume or shared disks (%s).'
                % (request.instance_uuid, names), REMEDY,
                devices=sorted(protected))
        if request.copies_all_disks:
            copied = protected
        elif request.migrate_disks is None:
            return base.Verdict.ok(
                self.name, 'volumes %s will be excluded from the copy; the '
                'disk list is verified before libvirt is called.' % names)
        else:
            copied = protected & set(request.migrate_disks)
        if copied:
            return base.Verdict.fail(
                self.name,
                'Block migration of instance %s would copy volume or shared '
                'disk(s) %s (disks given to libvirt: %s).'
                % (request.instance_uuid, ', '.join(sorted(copied)),
                   ', '.join(request.migrate_disks or ()) or
                   'none, so libvirt copies all'),
                REMEDY, devices=sorted(copied))
        return base.Verdict.ok(
            self.name, 'volumes %s are not in the copied disks %s.'
            % (names, ', '.join(request.migrate_disks) or 'none'))

    @staticmethod
    def _protected_devices(request):
        devices = {d.target_dev for d in request.disks or ()
                   if d.is_volume or d.shareable or d.readonly or
                   d.source_type not in ('file', 'block')}
        for bdm in request.block_device_mappings:
            if (bdm.get('destination_type') == 'volume' and
                    bdm.get('device_name')):
                devices.add(bdm['device_name'].rpartition('/')[2])
        return devices
