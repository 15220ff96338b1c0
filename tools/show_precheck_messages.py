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
"""Print the message of every shipped precheck for a failing migration.

The inputs replay the operators' report (a 230 GiB instance aimed at a
host with 52 GiB free, a deleted Glance image, a volume in a block
migration, an older hypervisor, a long copy with no service token), so a
reviewer can read exactly what an operator will see.
"""

import sys

from oslo_config import cfg

from nova_migration_ext import conf as ext_conf
from nova_migration_ext.prechecks import base
from nova_migration_ext.prechecks import runner

GiB = base.GiB
UUID = '7d1e4b52-5a8c-4f0e-9a57-1c2d3e4f5a6b'
IMAGE = '0e7b1a54-8f1c-4c55-b1a2-6d3c9e8f7a01'
BASE = 'b4f5c0dd7c47a8b9f1fe0d4ec7c0e0f6a2b3c4d5'


def scenarios():
    src = base.HostFacts(host='c6-01', instances_path='/var/lib/nova/'
                         'instances', free_bytes=400 * GiB,
                         base_images={BASE: 30 * GiB},
                         libvirt_version=8000000, qemu_version=6002000)
    dest = base.HostFacts(host='c7-03', instances_path='/var/lib/nova/'
                          'instances', free_bytes=52 * GiB,
                          base_images={}, libvirt_version=8000000,
                          qemu_version=6002000)
    disk = base.Disk('vda', '/var/lib/nova/instances/%s/disk' % UUID,
                     driver_format='qcow2', virtual_size=250 * GiB,
                     allocated_size=200 * GiB, backing_file=BASE)
    volume = base.Disk('vdb', '/dev/disk/by-id/virtio-vol', 'block',
                       is_volume=True)
    image = base.BaseImage(IMAGE, BASE, 30 * GiB, deleted_in_glance=True)
    common = dict(instance_uuid=UUID, phase=base.Phase.SOURCE)
    yield 'disk_fit', base.PrecheckInput(
        kind=base.MigrationKind.COLD, source=src, destination=dest,
        disks=(disk,), base_image=image, **common)
    yield 'orphaned_base_image', base.PrecheckInput(
        kind=base.MigrationKind.COLD, destination=dest, disks=(disk,),
        source=base.HostFacts(host='c6-01', instances_path=src.instances_path,
                              base_images={}), base_image=image, **common)
    yield 'shared_volumes', base.PrecheckInput(
        kind=base.MigrationKind.BLOCK, source=src, destination=dest,
        disks=(disk, volume), migrate_disks=('vda', 'vdb'), **common)
    yield 'hypervisor_version', base.PrecheckInput(
        kind=base.MigrationKind.BLOCK, source=src, disks=(disk,),
        destination=base.HostFacts(host='c7-03', libvirt_version=7010000,
                                   qemu_version=5002000), **common)
    yield 'token_lifetime', base.PrecheckInput(
        kind=base.MigrationKind.BLOCK, source=src, destination=dest,
        disks=(disk,), user_token_remaining=1200.0, queued_migrations=1,
        throughput_bytes_per_s=100e6, **common)


def main():
    conf = cfg.ConfigOpts()
    ext_conf.register_opts(conf)
    conf([], project='nova')
    failures = 0
    for name, request in scenarios():
        conf.set_override('enabled_prechecks', [name], 'migration_ext')
        try:
            runner.PrecheckRunner(conf).enforce(None, request)
        except runner.PrecheckFailed as exc:
            print('%s refuses:\n  %s\n' % (name, exc))
        else:
            print('%s did NOT refuse its failing scenario' % name)
            failures += 1
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
