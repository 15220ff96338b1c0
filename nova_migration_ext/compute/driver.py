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
"""The libvirt driver with prechecks and guarded callbacks.

Load it from nova.conf alone::

    [DEFAULT]
    compute_driver = migration_ext.MigrationExtLibvirtDriver

Where each precheck runs (all before anything changes):

============================  ==========================================
Path                          Hook (host)
============================  ==========================================
live and block migration      ``check_can_live_migrate_destination``
                              (destination), ``check_can_live_migrate_
                              source`` (source), ``pre_live_migration``
                              (destination, before any file is created)
block migration disk list     ``_live_migration_operation`` (source,
                              right before libvirt is called)
cold migration and resize     ``migrate_disk_and_power_off`` (source,
                              before power-off)
============================  ==========================================

Cold migrations and resizes copy the disks with ``cold_migration``
(verified, optionally two-phase) unless ``[migration_ext] cold_copy =
stock``.
"""

import dataclasses

import nova.conf
from nova import context as nova_context
from nova import exception
from nova.image import glance
from nova import objects
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import imagecache as libvirt_imagecache
from oslo_log import log as logging
from oslo_serialization import jsonutils

from nova_migration_ext.compute import cold_migration
from nova_migration_ext.compute import dirty_rates
from nova_migration_ext.compute import disk_speed
from nova_migration_ext.compute import facts
from nova_migration_ext.compute import host_stats
from nova_migration_ext.compute import imagecache
from nova_migration_ext.compute import notifier as ext_notifier
from nova_migration_ext.compute import residency
from nova_migration_ext.compute import resize_leftovers
from nova_migration_ext.compute import throttle
from nova_migration_ext.compute import tokens
from nova_migration_ext import conf as ext_conf
from nova_migration_ext.prechecks import base
from nova_migration_ext.prechecks import runner
from nova_migration_ext.prechecks import shared_volumes

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF
ext_conf.register_opts(CONF)

_LIVE_STATUSES = ('accepted', 'queued', 'preparing', 'running')


class MigrationExtLibvirtDriver(cold_migration.VerifiedColdMigration,
                                resize_leftovers.ResizeLeftoverSweeper,
                                libvirt_driver.LibvirtDriver):
    """LibvirtDriver that prechecks and guards every migration."""

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only=read_only)
        self._ext_host = CONF.host
        self._storage = facts.LocalStorage(
            CONF.instances_path, CONF.image_cache.subdirectory_name)
        self._prechecks = runner.PrecheckRunner(CONF)
        self._volume_guard = shared_volumes.SharedVolumes(CONF)
        self._tokens = tokens.ServiceTokenGuard(CONF)
        self._seeder = imagecache.BaseImageSeeder(self._storage)
        self._dirty_rates = dirty_rates.DirtyRateProbe(
            CONF.migration_ext.dirty_rate_sample_seconds)
        self._disk_speed = disk_speed.DiskSpeedProbe(
            CONF.instances_path, CONF.migration_ext.disk_probe_mib)
        self._notifier = None

    # -- start-up and facts -------------------------------------------------

    def init_host(self, host):
        self._ext_host = host
        self._notifier = ext_notifier.get_notifier(host)
        self._prechecks.notifier = self._notifier
        super().init_host(host)
        self._tokens.check_at_startup()
        self._disk_speed.measure()
        LOG.info('nova-migration-ext prechecks enabled: %s',
                 ', '.join(self._prechecks.names))

    def _versions(self):
        try:
            conn = self._host.get_connection()
            return conn.getLibVersion(), conn.getVersion()
        except Exception:
            return None, None

    def _local_facts(self):
        libvirt_version, qemu_version = self._versions()
        return facts.local_facts(
            self._ext_host, self._storage,
            CONF.reserved_host_disk_mb * base.MiB,
            libvirt_version, qemu_version)

    def _periodic_facts(self):
        """Local facts, with what only the periodic update measures.

        The speed of the migration link and of the disk (measured at
        start-up), the guests' dirty rates and the bytes each instance's
        disks take here.
        """
        try:
            rates = self._dirty_rates.sample(self._host.get_connection(),
                                             libvirt_driver.libvirt)
        except Exception as exc:
            LOG.warning('Cannot read the guests\' dirty rates: %s', exc)
            rates = None
        address = CONF.libvirt.live_migration_inbound_addr or CONF.my_ip
        try:
            link = facts.link_bytes_per_s(address)
        except Exception as exc:
            LOG.warning('Cannot read the speed of the NIC of %s: %s',
                        address, exc)
            link = None
        disk_read, disk_write = self._disk_speed.measure() or (None, None)
        return dataclasses.replace(
            self._local_facts(), dirty_rates=rates,
            instance_disk_bytes=self._storage.instance_disk_bytes(),
            link_bytes_per_s=link, disk_read_bytes_per_s=disk_read,
            disk_write_bytes_per_s=disk_write)

    def get_available_resource(self, nodename):
        data = super().get_available_resource(nodename)
        stats = dict(data.get('stats') or {})
        try:
            measured = host_stats.to_stats(self._periodic_facts())
        except OSError as exc:
            LOG.warning('Cannot measure %s: %s', self._storage.instances_path,
                        exc)
        else:
            stats.update(measured)
            self._publish_facts(measured)
        data['stats'] = stats
        self.sweep_resize_leftovers(CONF, self._ext_host, CONF.instances_path)
        return data

    def _publish_facts(self, stats):
        """Send the facts to the evacuator, which cannot read stats.

        Event ``migration_ext.host.facts``, once per resource-tracker
        period; its payload is ``{'host': ..., 'stats': ...}`` in the
        encoding of :mod:`nova_migration_ext.compute.host_stats`.
        """
        if self._notifier is None:
            return
        try:
            self._notifier.info(nova_context.get_admin_context(),
                                host_stats.FACTS_EVENT,
                                {'host': self._ext_host, 'stats': stats})
        except Exception:
            LOG.exception('Could not emit %s', host_stats.FACTS_EVENT)

    # -- building precheck input -------------------------------------------

    def _source_disks(self, instance, block_device_info):
        try:
            guest_disks = self._host.get_guest(instance).get_all_disks()
        except Exception as exc:
            LOG.warning('Cannot read the domain of %s: %s', instance.uuid,
                        exc)
            return None
        try:
            disk_info = self._get_instance_disk_info(instance,
                                                     block_device_info)
        except Exception as exc:
            LOG.warning('Cannot measure the disks of %s: %s', instance.uuid,
                        exc)
            disk_info = None
        return facts.domain_disks(guest_disks, block_device_info, disk_info)

    @staticmethod
    def _disks_from_info(disk_info):
        """Disks described by the source's get_instance_disk_info JSON."""
        infos = jsonutils.loads(disk_info) if disk_info else []
        return tuple(
            base.Disk(target_dev=info['path'].rpartition('/')[2],
                      path=info['path'], source_type=info.get('type', 'file'),
                      virtual_size=info.get('virt_disk_size'),
                      allocated_size=info.get('disk_size'),
                      backing_file=info.get('backing_file') or None)
            for info in infos)

    @staticmethod
    def _image_deleted(context, image_id):
        try:
            glance.API().get(context, image_id)
        except exception.ImageNotFound:
            return True
        except Exception as exc:
            LOG.warning('Cannot ask Glance about image %s: %s', image_id, exc)
            return None
        return False

    def _base_image(self, context, instance, source, destination, seed):
        """Describe the instance's base image; plan a copy if needed."""
        image_id = instance.image_ref
        if not image_id:
            return None
        name = libvirt_imagecache.get_cache_fname(image_id)
        sizes = source.base_images or {}
        deleted = self._image_deleted(context, image_id)
        dest_has = (destination.base_images is not None and
                    name in destination.base_images)
        copy_planned = bool(
            seed and deleted and not dest_has and name in sizes and
            CONF.migration_ext.seed_orphaned_base_images)
        return base.BaseImage(image_id=image_id, cache_name=name,
                              size=sizes.get(name),
                              deleted_in_glance=deleted,
                              copy_planned=copy_planned)

    def _input(self, context, instance, kind, phase, source, destination,
               **extra):
        remaining = tokens.user_token_remaining(
            context, CONF.migration_ext.user_token_lifetime)
        return base.PrecheckInput(
            instance_uuid=instance.uuid,
            instance_name=instance.display_name or '',
            kind=kind, phase=phase, source=source, destination=destination,
            service_token=self._tokens.sends_service_token,
            user_token_remaining=remaining,
            throughput_bytes_per_s=(
                CONF.migration_ext.expected_throughput_mb_per_s * 1e6),
            **extra)

    def _enforce(self, context, request):
        """Run the prechecks; raise MigrationPreCheckError on failure."""
        try:
            return self._prechecks.enforce(context, request)
        except runner.PrecheckFailed as failed:
            raise exception.MigrationPreCheckError(reason=str(failed))

    # -- live and block migration ------------------------------------------

    def check_can_live_migrate_destination(self, context, instance,
                                           src_compute_info, dst_compute_info,
                                           block_migration=False,
                                           disk_over_commit=False):
        source = host_stats.from_stats(
            instance.host, src_compute_info.get('stats'),
            src_compute_info.get('hypervisor_version'))
        destination = self._local_facts()
        kind = (base.MigrationKind.BLOCK if block_migration
                else base.MigrationKind.LIVE)
        self._enforce(context, self._input(
            context, instance, kind, base.Phase.DESTINATION, source,
            destination))
        data = super().check_can_live_migrate_destination(
            context, instance, src_compute_info, dst_compute_info,
            block_migration, disk_over_commit)
        # The source learns who we are from the address it will connect to
        # (nova's default is this host's name; pre_live_migration sets the
        # configured live_migration_inbound_addr later).
        if not data.obj_attr_is_set('target_connect_addr') or \
                not data.target_connect_addr:
            data.target_connect_addr = self._ext_host
        # Tell the source the space really free here, not placement's view.
        real_mb = ((destination.free_bytes - destination.reserved_bytes)
                   // base.MiB)
        if 'disk_available_mb' in data and data.disk_available_mb is not None:
            data.disk_available_mb = min(data.disk_available_mb, real_mb)
        else:
            data.disk_available_mb = real_mb
        return data

    def check_can_live_migrate_source(self, context, instance,
                                      dest_check_data,
                                      block_device_info=None):
        self._refuse_if_absent(instance)
        data = super().check_can_live_migrate_source(
            context, instance, dest_check_data, block_device_info)
        kind = (base.MigrationKind.BLOCK if data.block_migration
                else base.MigrationKind.LIVE)
        reserved = CONF.reserved_host_disk_mb * base.MiB
        free = None
        if 'disk_available_mb' in data and data.disk_available_mb is not None:
            free = data.disk_available_mb * base.MiB + reserved
        destination = base.HostFacts(
            host=(data.target_connect_addr
                  if data.obj_attr_is_set('target_connect_addr') and
                  data.target_connect_addr else 'the destination'),
            free_bytes=free, reserved_bytes=reserved)
        source = self._local_facts()
        disks = (self._source_disks(instance, block_device_info)
                 if kind is base.MigrationKind.BLOCK else None)
        request = self._input(
            context, instance, kind, base.Phase.SOURCE, source, destination,
            disks=disks, block_device_mappings=facts.bdm_dicts(
                block_device_info),
            base_image=self._base_image(context, instance, source,
                                        destination, seed=True),
            tunnelled=self._tunnelled(data),
            queued_migrations=self._queued_live_migrations(context))
        # On failure nova's destination cleans up its shared-storage test
        # file itself.
        self._enforce(context, request)
        return data

    def _refuse_if_absent(self, instance):
        """Refuse to move an instance whose guest is not on this host."""
        if residency.residency(self._host, instance) is \
                residency.Residency.ABSENT:
            raise exception.MigrationPreCheckError(
                reason=residency.missing_on_source(instance, self._ext_host))

    def rollback_live_migration_at_destination(self, context, instance,
                                               network_info,
                                               block_device_info,
                                               destroy_disks=True,
                                               migrate_data=None):
        """Nova's clean-up, unless the guest lives here after all."""
        if residency.residency(self._host, instance) is \
                residency.Residency.RESIDENT:
            LOG.error(residency.resident_on_destination(
                instance, self._ext_host), instance=instance)
            return
        return super().rollback_live_migration_at_destination(
            context, instance, network_info, block_device_info,
            destroy_disks=destroy_disks, migrate_data=migrate_data)

    def _tunnelled(self, migrate_data):
        flags = (self._block_migration_flags
                 if migrate_data.block_migration
                 else self._live_migration_flags)
        return bool(flags & libvirt_driver.libvirt.VIR_MIGRATE_TUNNELLED)

    def _queued_live_migrations(self, context):
        """Migrations that will run before a new one on this host."""
        try:
            running = objects.MigrationList.get_by_filters(context, {
                'source_compute': self._ext_host,
                'migration_type': 'live-migration',
                'status': list(_LIVE_STATUSES)})
        except Exception:
            return 0
        slots = max(CONF.max_concurrent_live_migrations, 1)
        return len(running) // slots

    def pre_live_migration(self, context, instance, block_device_info,
                           network_info, disk_info, migrate_data=None):
        if migrate_data is not None and \
                not migrate_data.is_shared_instance_path:
            self._check_and_seed_live_destination(
                context, instance, block_device_info, disk_info,
                migrate_data)
        return super().pre_live_migration(
            context, instance, block_device_info, network_info, disk_info,
            migrate_data)

    def _check_and_seed_live_destination(self, context, instance,
                                         block_device_info, disk_info,
                                         migrate_data):
        """Pull a missing orphaned base file, then run the prechecks.

        The source's published facts may be a minute old, so the copy is
        tried whenever the image is gone from Glance and the file is not
        here; the prechecks then judge what is really on disk.
        """
        source = facts.remote_facts(context, instance.host)
        base_image = self._base_image(context, instance, source,
                                      self._local_facts(), seed=False)
        if (base_image is not None and base_image.deleted_in_glance and
                CONF.migration_ext.seed_orphaned_base_images and
                base_image.cache_name not in self._storage.base_images()):
            try:
                self._seeder.pull(instance.host, base_image.cache_name,
                                  source.instances_path)
            except Exception as exc:
                LOG.warning('Could not copy base file %s from %s: %s',
                            base_image.cache_name, instance.host, exc,
                            instance=instance)
                bases = dict(source.base_images or {})
                bases.pop(base_image.cache_name, None)
                source = dataclasses.replace(source, base_images=bases)
        kind = (base.MigrationKind.BLOCK if migrate_data.block_migration
                else base.MigrationKind.COLD)
        self._enforce(context, self._input(
            context, instance, kind, base.Phase.DESTINATION, source,
            self._local_facts(), disks=self._disks_from_info(disk_info),
            base_image=base_image))

    def live_migration(self, context, instance, dest, post_method,
                       recover_method, block_migration=False,
                       migrate_data=None):
        if migrate_data is not None and migrate_data.block_migration:
            refusal = self._refuse_volume_copy(context, instance, dest,
                                               migrate_data)
            if refusal:
                LOG.error('Refusing block migration: %s', refusal,
                          instance=instance)
                # Roll back the way nova does for a migration that never
                # started: the instance stays ACTIVE here.
                recover_method(context, instance, dest, migrate_data,
                               migration_status='error')
                return None
        return super().live_migration(
            context, instance, dest,
            self._tokens.wrap(post_method, 'post-live-migration'),
            self._tokens.wrap(recover_method, 'live-migration rollback'),
            block_migration, migrate_data)

    def _live_migration_operation(self, context, instance, dest,
                                  block_migration, migrate_data, guest,
                                  device_names):
        """Start the migration at the evacuation's bandwidth cap, if any."""
        cap = self._evacuation_cap(instance)
        if cap is not None:
            guest = _CappedGuest(guest, cap)
            LOG.info('Live migration capped at %d MiB/s by %s', cap,
                     throttle.BANDWIDTH_KEY, instance=instance)
        return super()._live_migration_operation(
            context, instance, dest, block_migration, migrate_data, guest,
            device_names)

    @staticmethod
    def _evacuation_cap(instance):
        """The cap the operator's evacuator signed for *instance*, or None.

        The VM's owner can write its metadata: any value not signed with
        ``[migration_ext] bandwidth_cap_secret`` is logged and ignored.
        """
        try:
            return throttle.verified_cap(
                instance.metadata, CONF.migration_ext.bandwidth_cap_secret,
                instance.uuid)
        except throttle.InvalidCap as exc:
            LOG.warning('Ignoring %s=%r: %s. Only the evacuator sets this '
                        'cap; the owner of the instance may have written '
                        'it.', throttle.BANDWIDTH_KEY,
                        instance.metadata.get(throttle.BANDWIDTH_KEY), exc,
                        instance=instance)
            return None

    def _refuse_volume_copy(self, context, instance, dest, migrate_data):
        """Check the disk list libvirt would get; return why it is unsafe.

        Runs whatever ``enabled_prechecks`` says: it is the last line of
        defence right before libvirt is called.
        """
        lv = libvirt_driver.libvirt
        guest = self._host.get_guest(instance)
        _paths, device_names = self._live_migration_copy_disk_paths(
            context, instance, guest)
        flags = self._block_migration_flags
        volume_devs = ({bdm.dev for bdm in migrate_data.bdms or ()
                        if 'dev' in bdm}
                       if migrate_data.obj_attr_is_set('bdms') else set())
        disks = tuple(
            base.Disk(target_dev=d.target_dev, path=d.source_path,
                      source_type=d.source_type,
                      driver_format=d.driver_format,
                      is_volume=d.target_dev in volume_devs,
                      shareable=bool(d.shareable), readonly=bool(d.readonly))
            for d in guest.get_all_disks())
        copies_all = (not device_names and bool(
            flags & (lv.VIR_MIGRATE_NON_SHARED_INC |
                     lv.VIR_MIGRATE_NON_SHARED_DISK)))
        request = base.PrecheckInput(
            instance_uuid=instance.uuid, kind=base.MigrationKind.BLOCK,
            phase=base.Phase.SOURCE,
            source=base.HostFacts(host=self._ext_host),
            destination=base.HostFacts(host=dest), disks=disks,
            migrate_disks=tuple(device_names or ()),
            copies_all_disks=copies_all,
            tunnelled=bool(flags & lv.VIR_MIGRATE_TUNNELLED))
        verdict = self._volume_guard.check(request)
        if verdict.status is base.Status.FAIL:
            return verdict.message()
        return None

    # -- cold migration and resize -----------------------------------------

    def migrate_disk_and_power_off(self, context, instance, dest,
                                   flavor, network_info,
                                   block_device_info=None,
                                   timeout=0, retry_interval=0):
        try:
            self._check_and_seed_cold(context, instance, dest, flavor,
                                      block_device_info)
        except exception.MigrationPreCheckError as exc:
            # Nothing changed yet: nova puts the instance back as it was.
            raise exception.InstanceFaultRollback(inner_exception=exc)
        if CONF.migration_ext.cold_copy == 'stock':
            return super().migrate_disk_and_power_off(
                context, instance, dest, flavor, network_info,
                block_device_info, timeout, retry_interval)
        return self._verified_migrate_disk_and_power_off(
            CONF, context, instance, dest, flavor, network_info,
            block_device_info, timeout, retry_interval,
            self._evacuation_cap(instance))

    def _check_and_seed_cold(self, context, instance, dest, flavor,
                             block_device_info):
        self._refuse_if_absent(instance)
        kind = (base.MigrationKind.RESIZE
                if flavor.flavorid != instance.flavor.flavorid
                else base.MigrationKind.COLD)
        source = self._local_facts()
        destination = facts.remote_facts(
            context, self._cold_destination_host(context, instance, dest))
        base_image = self._base_image(context, instance, source,
                                      destination, seed=True)
        request = self._input(
            context, instance, kind, base.Phase.SOURCE, source, destination,
            disks=self._source_disks(instance, block_device_info),
            block_device_mappings=facts.bdm_dicts(block_device_info),
            base_image=base_image)
        self._enforce(context, request)
        if base_image is not None and base_image.copy_planned:
            try:
                self._seeder.push(dest, base_image.cache_name,
                                  destination.instances_path)
            except Exception as exc:
                raise exception.MigrationPreCheckError(reason=(
                    'Could not copy base file _base/%s of deleted image %s '
                    'to %s: %s. Nothing was changed and the instance is '
                    'still running here; check ssh between the compute '
                    'hosts and retry.' % (base_image.cache_name,
                                          base_image.image_id, dest, exc)))

    @staticmethod
    def _cold_destination_host(context, instance, dest_address):
        """nova hands the source the destination's IP; find its name."""
        migration_context = instance.migration_context
        if migration_context is not None:
            try:
                return objects.Migration.get_by_id(
                    context, migration_context.migration_id).dest_compute
            except exception.MigrationNotFound:
                pass
        return dest_address

    def finish_migration(self, context, *args, **kwargs):
        self._tokens.prepare(context, 'finish_migration')
        return super().finish_migration(context, *args, **kwargs)

    def finish_revert_migration(self, context, *args, **kwargs):
        self._tokens.prepare(context, 'finish_revert_migration')
        return super().finish_revert_migration(context, *args, **kwargs)

    def confirm_migration(self, context, *args, **kwargs):
        self._tokens.prepare(context, 'confirm_migration')
        return super().confirm_migration(context, *args, **kwargs)

    def _cleanup_resize(self, context, instance, network_info):
        # Resize-confirm on the source: an unverified copy keeps its disks.
        self._keeps_unverified_source(CONF, instance)
        return super()._cleanup_resize(context, instance, network_info)

    # -- image cache ---------------------------------------------------------

    def manage_image_cache(self, context, all_instances):
        """Keep base files of instances migrating to or from here.

        They count as users of their base images, so the cache manager
        never removes one mid-flight.
        """
        if CONF.migration_ext.protect_in_flight_base_images:
            known = {inst.uuid for inst in all_instances}
            try:
                nodename = self._host.get_hostname()
                extra = [inst for inst in imagecache.in_flight_instances(
                    context, self._ext_host, nodename)
                    if inst.uuid not in known]
            except Exception:
                LOG.exception('Cannot list in-flight migrations; skipping '
                              'this image cache pass to keep base files.')
                return
            if extra:
                LOG.info('Keeping base images of %d migrating instance(s)',
                         len(extra))
                all_instances = list(all_instances) + extra
        return super().manage_image_cache(context, all_instances)


class _CappedGuest:
    """A libvirt guest whose migrations never exceed *cap* MiB/s."""

    def __init__(self, guest, cap):
        self._guest = guest
        self._cap = cap

    def __getattr__(self, name):
        return getattr(self._guest, name)

    def migrate(self, *args, bandwidth=0, **kwargs):
        # 0 is libvirt's "no limit": the cap wins; a smaller
        # [libvirt] live_migration_bandwidth wins over the cap.
        limit = min(bandwidth, self._cap) if bandwidth else self._cap
        return self._guest.migrate(*args, bandwidth=limit, **kwargs)
