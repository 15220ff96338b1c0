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
"""Source disks that a cold move left behind without a confirm.

nova deletes a source's ``<uuid>_resize`` folder only at resize-confirm,
which it accepts from VERIFY_RESIZE alone. A VM that went to ERROR after
its disks moved (a confirm that failed half-way, a finish that failed
after the copy) and was then reset to ACTIVE on its destination can never
be confirmed: its old disks, its domain definition on the source and, if
the migration stayed ``finished``, the source's claim stay for ever.

:func:`verdict` decides, from nova's records alone, whether such a folder
may go; it never lets one go while nova may still move, confirm or revert
the VM, nor when the destination's copy was not verified.
"""

import os
import time

from nova import context as nova_context
from nova import exception
from nova import objects
from nova.scheduler.client import report
from nova import utils
from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import uuidutils

from nova_migration_ext.compute import cold_copy

LOG = logging.getLogger(__name__)

SUFFIX = '_resize'
# Migration states after which nova does nothing more with a migration.
ENDED = ('confirmed', 'reverted', 'error', 'failed', 'completed', 'done',
         'cancelled')
# Ended without a confirm: what a confirm would have cleaned is still here.
UNCONFIRMED = ('finished', 'error')
COLD_TYPES = ('migration', 'resize')
RESTING = ('active', 'stopped')


def folders(instances_path):
    """(instance uuid, path) of each ``<uuid>_resize`` folder."""
    try:
        names = os.listdir(instances_path)
    except OSError:
        return []
    found = []
    for name in sorted(names):
        uuid = name[:-len(SUFFIX)]
        path = os.path.join(instances_path, name)
        if name.endswith(SUFFIX) and uuidutils.is_uuid_like(uuid) and \
                os.path.isdir(path):
            found.append((uuid, path))
    return found


def latest_migration(migrations):
    """The VM's newest migration record."""
    return max(migrations, key=lambda m: (m.created_at, m.id))


def verdict(host, instance, migrations, record, grace_seconds, now=None):
    """Why the folder must stay, or None if it may go.

    :param host: this compute host, where the folder is
    :param instance: the VM (``host``, ``vm_state``, ``task_state``)
    :param migrations: every migration record of the VM
    :param record: the copy record in the folder (``cold_copy.RECORD``)
    :param grace_seconds: how long after the migration's last change
        nothing is done
    """
    if instance.host == host:
        return 'the VM lives on this host'
    if instance.task_state:
        return 'the VM has a task under way (%s)' % instance.task_state
    if instance.vm_state not in RESTING:
        return ('the VM is %s: nova may still confirm or revert, or the '
                'operator must look' % instance.vm_state)
    if not migrations:
        return 'nova has no migration of the VM'
    moving = [m for m in migrations if m.status not in ENDED + UNCONFIRMED]
    if moving:
        return 'migration %s is %s' % (moving[0].id, moving[0].status)
    latest = latest_migration(migrations)
    if latest.migration_type not in COLD_TYPES or \
            latest.status not in UNCONFIRMED or \
            latest.source_compute != host or \
            latest.dest_compute != instance.host:
        return ('the last migration (%s, %s %s from %s to %s) is not an '
                'unconfirmed cold move from here to where the VM is'
                % (latest.id, latest.migration_type, latest.status,
                   latest.source_compute, latest.dest_compute))
    changed = timeutils.normalize_time(latest.updated_at or
                                       latest.created_at)
    age = timeutils.delta_seconds(changed, now or timeutils.utcnow())
    if age < grace_seconds:
        return ('migration %s changed %d s ago; waiting %d s'
                % (latest.id, age, grace_seconds))
    if record is None:
        return ('no copy record (nova\'s stock copy): check the VM on %s, '
                'then delete the folder' % instance.host)
    if not record.get('verified'):
        return ('the copy to %s was not verified: check the VM there, then '
                'delete the folder' % instance.host)
    return None


class ResizeLeftoverSweeper:
    """Driver mixin: finish what a confirm would have done on this source.

    Runs from the resource tracker's periodic call, at most once per
    ``[migration_ext] resize_leftovers_interval``. Under the VM's lock
    (the one nova's confirm and revert take), with nova's records read
    again, it does a confirm's source-side work: the ``_resize`` folder,
    the domain left defined here and its vifs (the driver's
    ``_cleanup_resize``), the source's claim held by the migration in
    Placement, the migration's state and the stashed flavors.
    """

    _leftovers_next_sweep = 0.0
    _leftovers_kept = None

    def sweep_resize_leftovers(self, conf, host, instances_path):
        if not conf.migration_ext.remove_resize_leftovers:
            return
        if time.monotonic() < self._leftovers_next_sweep:
            return
        self._leftovers_next_sweep = (
            time.monotonic() + conf.migration_ext.resize_leftovers_interval)
        if self._leftovers_kept is None:
            self._leftovers_kept = {}
        context = nova_context.get_admin_context()
        for uuid, path in folders(instances_path):
            try:
                self._sweep_leftover(context, conf, host, uuid, path)
            except Exception:
                LOG.exception('Cannot decide on %s; it stays', path)

    def _sweep_leftover(self, context, conf, host, uuid, path):
        @utils.synchronized(uuid)
        def locked():
            try:
                instance = objects.Instance.get_by_uuid(
                    context, uuid,
                    expected_attrs=['info_cache', 'system_metadata',
                                    'flavor'])
            except exception.InstanceNotFound:
                return 'the VM is deleted (nova cleans up after those)'
            migrations = objects.MigrationList.get_by_filters(
                context, {'instance_uuid': uuid})
            reason = verdict(host, instance, migrations,
                             cold_copy.read_record(path),
                             conf.migration_ext.resize_leftovers_grace)
            if reason is None:
                self._confirm_leftover(context, instance,
                                       latest_migration(migrations), path)
            return reason

        reason = locked()
        if reason is None:
            self._leftovers_kept.pop(path, None)
        elif self._leftovers_kept.get(path) != reason:
            LOG.info('Keeping %s: %s', path, reason)
            self._leftovers_kept[path] = reason

    def _confirm_leftover(self, context, instance, migration, path):
        """A confirm's work on the source, for a VM that can't be confirmed."""
        LOG.warning('%s holds the source disks of migration %s (%s) of a '
                    'VM that now rests %s on %s and can no longer be '
                    'confirmed through nova; its copy there was verified: '
                    'doing what a confirm does on this host',
                    path, migration.id, migration.status,
                    instance.vm_state, instance.host, instance=instance)
        # A confirm that failed half-way has already dropped the stashed
        # flavors, which the driver's clean-up reads (vTPM): the VM runs
        # with its current flavor, so that is both the old and the new.
        if instance.old_flavor is None:
            instance.old_flavor = instance.flavor
        if instance.new_flavor is None:
            instance.new_flavor = instance.flavor
        self._cleanup_resize(context, instance, instance.get_network_info())
        try:
            report.report_client_singleton().delete_allocation_for_instance(
                context, migration.uuid, consumer_type='migration')
        except Exception as exc:
            LOG.error('The claim of migration %s on this host stays in '
                      'Placement (%s): "openstack resource provider '
                      'allocation delete %s"', migration.uuid, exc,
                      migration.uuid, instance=instance)
        if migration.status == 'finished':
            migration.status = 'confirmed'
            migration.save()
        instance.old_flavor = None
        instance.new_flavor = None
        instance.system_metadata.pop('old_vm_state', None)
        instance.save(expected_task_state=[None])
        LOG.warning('Removed %s and what migration %s held here', path,
                    migration.id, instance=instance)
