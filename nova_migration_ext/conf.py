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
"""Options of the ``[migration_ext]`` group, read from nova.conf.

Options of the shipped prechecks live beside each check (``OPTS``) and are
registered here too, so one ``oslo-config-generator`` namespace lists them.
"""

from oslo_config import cfg

from nova_migration_ext.prechecks import disk_fit
from nova_migration_ext.prechecks import hypervisor_version
from nova_migration_ext.prechecks import orphaned_base_image
from nova_migration_ext.prechecks import token_lifetime

GROUP = cfg.OptGroup(
    'migration_ext',
    title='nova-migration-ext options',
    help='Prechecks and safety nets that the MigrationExtLibvirtDriver '
         'wraps around every live migration, block migration, cold '
         'migration and resize.')

DEFAULT_PRECHECKS = [
    'disk_fit',
    'orphaned_base_image',
    'shared_volumes',
    'hypervisor_version',
    'token_lifetime',
]

CORE_OPTS = [
    cfg.ListOpt(
        'enabled_prechecks',
        default=DEFAULT_PRECHECKS,
        help='Prechecks to run before every migration, in this order. Each '
             'name is an entry point in the "nova_migration_ext.prechecks" '
             'namespace; a third-party check is enabled by adding its name '
             'here. An unknown name stops nova-compute at start-up.'),
    cfg.BoolOpt(
        'warnings_are_failures',
        default=False,
        help='Treat a precheck warning like a failure and refuse the '
             'migration.'),
    cfg.BoolOpt(
        'protect_in_flight_base_images',
        default=True,
        help='Keep the image cache manager from removing the base file of '
             'any instance with a migration in progress to or from this '
             'host, even when its Glance image was deleted.'),
    cfg.StrOpt(
        'service_token_check',
        default='warn',
        choices=[
            ('error', 'refuse to start nova-compute'),
            ('warn', 'log a warning at start-up and carry on'),
            ('ignore', 'say nothing'),
        ],
        help='What to do at start-up when [service_user] '
             'send_service_user_token is off or its auth plugin cannot be '
             'loaded. Without a service token, post-migration calls to '
             'Neutron and Cinder fail once the user token expires and the '
             'instance is left in MIGRATING or ERROR although it moved.'),
    cfg.IntOpt(
        'service_token_min_validity',
        default=300,
        min=0,
        help='Seconds of validity the service token must still have right '
             'before a migration callback runs; a token closer to expiry is '
             'renewed first.'),
    cfg.FloatOpt(
        'expected_throughput_mb_per_s',
        default=100.0,
        min=0.1,
        help='Disk copy throughput, in MB/s, used to estimate how long a '
             'migration will take (token_lifetime precheck and notifications).'
             ' Set it to the rate measured on your migration network.'),
    cfg.StrOpt(
        'bandwidth_cap_secret',
        secret=True,
        help='Key with which the evacuator signs the bandwidth cap it '
             'writes in a server\'s metadata (the same value as the '
             'evacuator\'s [evacuator] bandwidth_cap_secret). The driver '
             'applies only caps signed with it for that instance and not '
             'expired, and logs and ignores any other value of the key, '
             'which the VM\'s owner could have written. Unset: no '
             'evacuation cap applies; [libvirt] live_migration_bandwidth '
             'still does.'),
    cfg.StrOpt(
        'cold_copy',
        default='verified',
        choices=[
            ('verified', 'our copy: no compression by default, holes and '
                         'zero chunks not sent, a fast ssh cipher, every '
                         'chunk checked on the destination, resumed after '
                         'a broken connection'),
            ('stock', "nova's own copy ([libvirt] "
                      "remote_filesystem_transport: scp or rsync, "
                      "compressed for raw disks, not verified)"),
        ],
        help='How cold migrations and resizes copy the disks. With '
             '"verified" the source disks are deleted at resize-confirm '
             'only if every disk was verified on the destination.'),
    cfg.StrOpt(
        'cold_copy_compression',
        default='none',
        choices=[
            ('none', 'send the bytes as they are: best on a link of 1 '
                     'Gbit/s or more'),
            ('zstd', 'multi-threaded zstd level 1 (the zstd command on '
                     'both hosts): for slow links and compressible disks'),
        ],
        help='Compression of the verified cold-migration copy.'),
    cfg.StrOpt(
        'cold_copy_checksum',
        default='xxh128',
        choices=[
            ('xxh128', 'XXH3, 128 bits (the Python package xxhash on both '
                       'hosts): tens of GB/s, leaves the CPUs to the copy'),
            ('sha256', 'SHA-256: a cryptographic digest, 1-2 GB/s per core '
                       'with SHA instructions; copies a fifth to a third '
                       'slower where the CPUs are the limit (measured in '
                       'the lab)'),
        ],
        help='Digest of every chunk of the verified cold-migration copy, '
             'computed on both hosts: a chunk whose digests differ is sent '
             'again. Not a defence against an attacker (ssh authenticates '
             'the link); it catches what a disk, memory or bug damaged.'),
    cfg.BoolOpt(
        'cold_copy_two_phase',
        default=False,
        help='Copy the disks of a running VM while it still runs, then '
             'power it off and send only the chunks it changed meanwhile. '
             'The VM is down for the second pass only, but its disks are '
             'read twice and the first pass loads the link while the VM '
             'works. Applies to cold migrations and resizes with '
             'cold_copy = verified between hosts that do not share the '
             'instances path.'),
    cfg.FloatOpt(
        'cold_copy_max_downtime',
        default=0.0,
        min=0.0,
        help='Two-phase copies only: the longest, in seconds, the final '
             'pass may keep the VM down, as foreseen from the first passes '
             '(each lasts about as long as the next would). First passes '
             'are repeated, up to 5, until one lasts no longer than this; '
             'if a pass is no shorter than the one before (the VM writes '
             'faster than the link sends), the migration stops before the '
             'VM is powered off, and it runs on where it was. 0: one first '
             'pass, then the final one whatever it has to send.'),
    cfg.IntOpt(
        'cold_copy_retries',
        default=3,
        min=0,
        help='Passes a disk copy may add after the first: to resume after '
             'a broken connection, or to resend chunks the destination '
             'read back wrong. Past them the migration stops and the VM '
             'runs again on its source.'),
    cfg.FloatOpt(
        'cold_copy_max_bandwidth',
        default=0.0,
        min=0.0,
        help='Cap of each cold-migration disk copy, in MiB/s; 0: none. An '
             'evacuation\'s signed cap applies too; the lower one wins.'),
    cfg.StrOpt(
        'cold_copy_remote_python',
        help='Python interpreter on the destination host that has '
             'nova_migration_ext installed (the copy\'s receiver runs with '
             'it over ssh). Default: the one running this nova-compute, '
             'which fits computes installed alike.'),
    cfg.BoolOpt(
        'remove_resize_leftovers',
        default=True,
        help='Do on this source host what a resize-confirm would, for VMs '
             'that moved away but can no longer be confirmed (they went to '
             'ERROR after the move and were reset to ACTIVE or SHUTOFF on '
             'their destination): remove the <uuid>_resize folder and the '
             'domain left here, release the source\'s claim in Placement '
             'and mark an unconfirmed migration confirmed. Only when '
             'nova\'s records show nothing under way and the copy record '
             'says the destination\'s disks were verified; otherwise the '
             'folder stays and the log says why.'),
    cfg.IntOpt(
        'resize_leftovers_interval',
        default=600,
        min=0,
        help='Seconds between two looks for such folders (each look runs '
             'with the resource tracker\'s periodic update); 0: every '
             'update.'),
    cfg.IntOpt(
        'resize_leftovers_grace',
        default=600,
        min=0,
        help='Seconds a migration must have been left unchanged before its '
             'leftovers are removed.'),
    cfg.IntOpt(
        'dirty_rate_sample_seconds',
        default=1,
        min=0,
        max=60,
        help='Each resource-tracker update, QEMU measures how fast every '
             'running guest dirties its memory over this many seconds '
             '(page sampling, no pause); the rates go with the host\'s '
             'facts to the evacuator, whose scheduler starts a live '
             'migration only where it can outrun its guest. 0: do not '
             'measure (the evacuator then assumes a default rate).'),
    cfg.IntOpt(
        'disk_probe_mib',
        default=256,
        min=0,
        max=4096,
        help='At start-up, nova-compute writes then reads back a file of '
             'this many MiB on the instances path, past the page cache, '
             'to measure how fast its disk reads and writes; the rates go '
             'with the host\'s facts to the evacuator, whose scheduler '
             'budgets each host by the slower of its link and its disk. '
             '0: do not measure (the host is budgeted by its link '
             'alone).'),
]


# Options of the evacuator's [evacuator] group that concern the driver or
# the planner's view of the computes; listed with the evacuator's others.
EVACUATOR_OPTS = [
    cfg.StrOpt(
        'bandwidth_cap_secret',
        secret=True,
        help='Key with which this evacuator signs the bandwidth cap of an '
             'evacuation (--max-bandwidth) in each server\'s metadata: the '
             'same value as [migration_ext] bandwidth_cap_secret in the '
             'computes\' nova.conf. Without it no cap can be given.'),
    cfg.IntOpt(
        'bandwidth_cap_ttl',
        default=3600,
        min=60,
        help='Seconds a signed bandwidth cap stays valid after the '
             'evacuator asked for the migration; a live migration that '
             'nova starts later runs without it.'),
    cfg.DictOpt(
        'shared_storage_groups',
        default={},
        help='Hosts whose instances path is on the same shared storage '
             '(Ceph, NFS), as name:host;host;... pairs, for example '
             '"ceph-a:c1;c2;c3,nfs-b:c4;c5". Between hosts of a group the '
             'planner plans live migrations that copy no disk and asks '
             'nova for block_migration=false; between other hosts block '
             'migrations (block_migration=true). A host is in one group '
             'at most.'),
    cfg.FloatOpt(
        'cpu_allocation_ratio',
        default=1.0,
        min=0.0,
        help='VCPU allocation ratio the planner uses for a host whose '
             'inventory Placement does not give.'),
    cfg.FloatOpt(
        'ram_allocation_ratio',
        default=1.0,
        min=0.0,
        help='MEMORY_MB allocation ratio the planner uses for a host '
             'whose inventory Placement does not give.'),
    cfg.FloatOpt(
        'disk_allocation_ratio',
        default=1.0,
        min=0.0,
        help='DISK_GB allocation ratio the planner uses for a host whose '
             'inventory Placement does not give.'),
]


def register_opts(conf):
    """Register every option of the group on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(CORE_OPTS, group=GROUP)
    for opts in _precheck_opts():
        conf.register_opts(opts, group=GROUP)


def _precheck_opts():
    return [
        disk_fit.OPTS,
        orphaned_base_image.OPTS,
        hypervisor_version.OPTS,
        token_lifetime.OPTS,
    ]


def list_opts():
    """Entry point for oslo-config-generator."""
    opts = list(CORE_OPTS)
    for check_opts in _precheck_opts():
        opts.extend(check_opts)
    return [(GROUP, opts)]
