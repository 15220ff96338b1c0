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
"""The source's side of a cold migration with a verified, two-phase copy.

Nova's ``migrate_disk_and_power_off`` powers the VM off, then copies each
disk with scp or rsync and trusts the result. ``VerifiedColdMigration``
keeps its order of steps and its clean-up, and changes three things:

* each disk goes through ``cold_copy`` (verified, resumable, sparse);
* with ``[migration_ext] cold_copy_two_phase`` a first pass copies the
  disks while the VM still runs, so the VM is down only while the second
  pass sends what it changed;
* a copy that fails puts the VM back on its source, running as before,
  and raises ``InstanceFaultRollback``: nova sets the instance back to its
  state instead of ERROR, and the message says what to do.

``confirm_migration`` deletes the source disks only if the copy record
says the destination verified every disk.
"""

import contextlib
import os
import time

from nova import block_device
from nova.compute import power_state
from nova.compute import utils as compute_utils
from nova.compute import vm_states
from nova import exception
from nova.virt import driver as virt_driver
from nova.virt.libvirt import utils as libvirt_utils
from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_serialization import jsonutils
from oslo_utils import excutils
from oslo_utils import fileutils

from nova_migration_ext.compute import cold_copy
from nova_migration_ext.compute import shutdown
from nova_migration_ext.compute import throttle

LOG = logging.getLogger(__name__)

# The instance action event our final copy records: Success means every
# disk was verified on the destination (the evacuator confirms only then).
VERIFIED_COPY_EVENT = 'migration_ext_verified_copy'


def refuse_unsupported(conf, instance, flavor, block_device_info,
                       booted_from_volume):
    """nova's own refusals, raised before anything changes."""
    ephemerals = virt_driver.block_device_info_get_ephemerals(
        block_device_info)
    eph_size = (block_device.get_bdm_ephemeral_disk_size(ephemerals) or
                instance.flavor.ephemeral_gb)
    root_down = flavor.root_gb < instance.flavor.root_gb
    if (root_down and not booted_from_volume) or \
            flavor.ephemeral_gb < eph_size:
        raise exception.InstanceFaultRollback(
            exception.ResizeError(reason='Unable to resize disk down.'))
    if conf.libvirt.images_type == 'lvm' and not booted_from_volume:
        raise exception.InstanceFaultRollback(
            exception.MigrationPreCheckError(
                reason='Migration is not supported for LVM backed '
                       'instances'))


# First passes of a two-phase copy before it gives up on a VM that keeps
# writing more than the link sends between two passes.
MAX_FIRST_PASSES = 5


class VerifiedColdMigration:
    """Mixed into the libvirt driver: the copy of a cold migration."""

    def _verified_migrate_disk_and_power_off(
            self, conf, context, instance, dest, flavor, network_info,
            block_device_info, timeout, retry_interval, cap):
        ext = conf.migration_ext
        refuse_unsupported(conf, instance, flavor, block_device_info,
                           self._is_booted_from_volume(block_device_info))
        inst_base = libvirt_utils.get_instance_path(instance)
        shared = self._is_path_shared_with(dest, inst_base)
        host = None if shared else dest
        host_name = self._cold_destination_host(context, instance, dest)
        if not shared:
            try:
                self._remotefs.create_dir(dest, inst_base)
            except processutils.ProcessExecutionError as e:
                # Nothing changed yet: the VM still runs here.
                raise exception.InstanceFaultRollback(exception.ResizeError(
                    reason=cold_copy.explain_unreachable(
                        e, dest, conf.host, host_name)))

        two_phase = (self._two_phase(ext, instance) and not shared and
                     instance.vm_state == vm_states.ACTIVE)
        # The passes of a two-phase copy share one ssh connection: the
        # final one, with the VM down, does not wait for a new one.
        with (cold_copy.shared_connection(host) if two_phase
              else contextlib.nullcontext(())) as ssh_options:
            return self._copy_and_power_off(
                conf, context, instance, dest, network_info,
                block_device_info, timeout, retry_interval, cap, two_phase,
                shared, host_name, ssh_options)

    def _copy_and_power_off(self, conf, context, instance, dest,
                            network_info, block_device_info, timeout,
                            retry_interval, cap, two_phase, shared,
                            host_name, ssh_options):
        inst_base = libvirt_utils.get_instance_path(instance)
        inst_base_resize = inst_base + '_resize'
        host = None if shared else dest

        def on_execute(process):
            self.job_tracker.add_job(instance, process.pid)

        def on_completion(process):
            self.job_tracker.remove_job(instance, process.pid)

        def copy(from_path, to_path, precopy=False):
            # Two phases go through the page cache: the final pass reads
            # every chunk again on both hosts, from memory then.
            return cold_copy.copy_disk(
                conf.migration_ext, from_path, to_path, host, conf.host,
                cap=cap, precopy=precopy, page_cache=two_phase,
                on_execute=on_execute, on_completion=on_completion,
                host_name=host_name, ssh_options=ssh_options,
                chunk=(cold_copy.TWO_PHASE_CHUNK if two_phase
                       else cold_copy.ONE_PHASE_CHUNK))

        def send_disk_info(folder):
            path = os.path.join(folder, 'disk.info')
            if os.path.exists(path):
                libvirt_utils.copy_image(
                    path, os.path.join(inst_base, 'disk.info'), host=host,
                    on_execute=on_execute, on_completion=on_completion)

        if two_phase:
            try:
                self._precopy_until_short(
                    conf.migration_ext, instance, block_device_info, copy,
                    host_name or dest, conf.host)
                # It does not change while the VM runs: sent now, not
                # while the VM is down.
                send_disk_info(inst_base)
            except (cold_copy.CopyFailed,
                    processutils.ProcessExecutionError) as exc:
                # The VM never stopped and its folder here was never
                # moved aside (nova's _cleanup_remote_migration cleans
                # the destination only after that): drop what reached it.
                self._remove_remote_copy(dest, inst_base, instance)
                reason = (str(exc) if isinstance(exc, cold_copy.CopyFailed)
                          else cold_copy.explain_unreachable(
                              exc, dest, conf.host, host_name))
                raise exception.InstanceFaultRollback(
                    exception.MigrationError(reason=reason))
            self._power_off_promptly(instance, timeout, retry_interval)
        else:
            self.power_off(instance, timeout, retry_interval)
        self.unplug_vifs(instance, network_info)
        for vol in virt_driver.block_device_info_get_mapping(
                block_device_info):
            self._disconnect_volume(context, vol['connection_info'],
                                    instance)
        disk_info = self._get_instance_disk_info(instance, block_device_info)
        try:
            self._cleanup_failed_instance_base(inst_base_resize)
            os.rename(inst_base, inst_base_resize)
            if shared:
                fileutils.ensure_tree(inst_base)
            with compute_utils.EventReporter(
                    context, VERIFIED_COPY_EVENT, conf.host, instance.uuid,
                    graceful_exit=True):
                reports = [copy(os.path.join(inst_base_resize, name),
                                info['path'])
                           for name, info in cold_copy.disks_to_copy(
                               disk_info)]
            if not two_phase:
                send_disk_info(inst_base_resize)
            libvirt_utils.save_and_migrate_vtpm_dir(
                instance.uuid, inst_base_resize, inst_base, host,
                on_execute, on_completion)
            cold_copy.write_record(inst_base_resize, reports)
        except cold_copy.CopyFailed as exc:
            self._cleanup_remote_migration(host, inst_base,
                                           inst_base_resize, shared)
            self._restart_on_source(context, instance, network_info,
                                    block_device_info)
            raise exception.InstanceFaultRollback(
                exception.MigrationError(reason=str(exc)))
        except Exception:
            with excutils.save_and_reraise_exception():
                self._cleanup_remote_migration(host, inst_base,
                                               inst_base_resize, shared)
        return jsonutils.dumps(disk_info)

    def _power_off_promptly(self, instance, timeout, retry_interval):
        """nova's ``power_off``, seeing the guest go down within 0.1 s.

        The clean shutdown is ``shutdown.wait_for_shutdown``'s; what is
        left (destroying the domain, shut off by then) is nova's.
        """
        def is_off():
            try:
                guest = self._host.get_guest(instance)
            except exception.InstanceNotFound:
                return True
            return guest.get_power_state(self._host) in (
                power_state.SHUTDOWN, power_state.CRASHED)

        def request():
            try:
                self._host.get_guest(instance).shutdown()
            except Exception as exc:   # gone or going: the next look says
                LOG.debug('Ignoring the answer to a shutdown request: %s',
                          exc, instance=instance)

        if timeout:
            took = shutdown.wait_for_shutdown(request, is_off, timeout,
                                              retry_interval)
            if took is None:
                LOG.info('Instance failed to shutdown in %d seconds.',
                         timeout, instance=instance)
            else:
                LOG.info('Instance shut down cleanly in %.1f s.', took,
                         instance=instance)
        self.power_off(instance)

    def _precopy_until_short(self, ext, instance, block_device_info, copy,
                             dest_name, source_host):
        """First passes while the VM runs, until the last one was short.

        A pass reads every disk and sends what changed since the one
        before, so the final pass, with the VM off, lasts about as long
        as the last one did. With ``cold_copy_max_downtime`` set, passes
        go on until one lasts no longer than that; a pass no shorter
        than the one before means the VM writes faster than its disks
        can be sent: the copy stops, and the VM never stopped.

        :raises cold_copy.CopyFailed: when a copy fails or never gets
            short enough.
        """
        limit = ext.cold_copy_max_downtime
        disks = cold_copy.disks_to_copy(self._get_instance_disk_info(
            instance, block_device_info))
        durations = []
        while True:
            started = time.monotonic()
            sent = sum(copy(info['path'], info['path'],
                            precopy=True).get('bytes_sent', 0)
                       for _name, info in disks)
            durations.append(time.monotonic() - started)
            LOG.info('First pass %d of a two-phase copy: %d bytes in %.1f '
                     's', len(durations), sent, durations[-1],
                     instance=instance)
            if not limit or durations[-1] <= limit:
                break
            if len(durations) > 1 and durations[-1] >= durations[-2] or \
                    len(durations) >= MAX_FIRST_PASSES:
                raise cold_copy.CopyFailed(cold_copy.explain_not_converging(
                    durations, limit, dest_name, source_host),
                    cold_copy.NOT_CONVERGING)
        LOG.info('Two-phase copy: powering off for the final pass',
                 instance=instance)

    def _remove_remote_copy(self, dest, inst_base, instance):
        try:
            self._remotefs.remove_dir(dest, inst_base)
        except processutils.ProcessExecutionError as exc:
            LOG.warning('Cannot remove the partial copy in %s on %s: %s',
                        inst_base, dest, exc, instance=instance)

    @staticmethod
    def _two_phase(ext, instance):
        """Two phases by configuration, or as the evacuator signed it."""
        if ext.cold_copy_two_phase:
            return True
        try:
            return bool(throttle.verified_cap(
                instance.metadata, ext.bandwidth_cap_secret, instance.uuid,
                key=throttle.TWO_PHASE_KEY))
        except throttle.InvalidCap as exc:
            LOG.warning('Ignoring %s: %s. Only the evacuator sets it.',
                        throttle.TWO_PHASE_KEY, exc, instance=instance)
            return False

    def _restart_on_source(self, context, instance, network_info,
                           block_device_info):
        """Run the VM here again as it ran before (a stopped VM stays off)."""
        if instance.vm_state != vm_states.ACTIVE:
            return
        try:
            self.power_on(context, instance, network_info,
                          block_device_info)
            LOG.info('The VM runs again on this host after its disk copy '
                     'failed', instance=instance)
        except Exception:
            LOG.exception('The disk copy failed and the VM could not be '
                          'started again here: its disks are back in place; '
                          'start it with "openstack server start" or '
                          '"reboot --hard".', instance=instance)

    def _keeps_unverified_source(self, conf, instance):
        """True if resize-confirm must not delete the source's disks."""
        if conf.migration_ext.cold_copy != 'verified':
            return False
        folder = libvirt_utils.get_instance_path(instance) + '_resize'
        if not os.path.exists(folder):
            return False
        record = cold_copy.read_record(folder)
        if record and record.get('verified'):
            return False
        kept = folder + '_unverified'
        os.rename(folder, kept)
        LOG.error('Resize confirmed, but the copy of this VM\'s disks was '
                  'never verified (%s): its source disks are kept in %s. '
                  'Check the VM on its new host, then delete that folder.',
                  'no copy record' if record is None else 'record says '
                  'unverified', kept, instance=instance)
        return True
