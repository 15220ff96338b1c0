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
"""Keep base images of migrating instances where they are needed.

* :class:`BaseImageSeeder` copies a base file to or from a peer before a
  migration starts, through a temporary name renamed into place, so a
  half-copied file is never taken for a complete one.
* :func:`in_flight_instances` lists the instances with a migration in
  progress on a host, so the image cache manager keeps their base files.
"""

import os
import shutil

from nova.compute import task_states
from nova.compute import vm_states
from nova import exception
from nova import objects
from nova.virt.libvirt import utils as libvirt_utils
from oslo_concurrency import processutils
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

PART_SUFFIX = '.part'


class SshTransport:
    """Copies files between compute hosts the way nova's resize does.

    Copies use nova's ``[libvirt] remote_filesystem_transport`` (ssh or
    rsync); the final rename runs over ssh with ``mv -n`` so an existing
    base file in use on the peer is never overwritten.
    """

    def push(self, host, local_path, remote_path):
        remote_dir = os.path.dirname(remote_path)
        processutils.execute('ssh', '-o', 'BatchMode=yes', host,
                             'mkdir', '-p', remote_dir)
        tmp = remote_path + PART_SUFFIX
        libvirt_utils.copy_image(local_path, tmp, host=host)
        processutils.execute('ssh', '-o', 'BatchMode=yes', host,
                             'mv', '-n', tmp, remote_path)
        processutils.execute('ssh', '-o', 'BatchMode=yes', host,
                             'rm', '-f', tmp)

    def pull(self, host, remote_path, local_path):
        os.makedirs(os.path.dirname(local_path), exist_ok=True)
        tmp = local_path + PART_SUFFIX
        libvirt_utils.copy_image(remote_path, tmp, host=host, receive=True)
        _rename_no_clobber(tmp, local_path)


def _rename_no_clobber(tmp, final):
    try:
        os.link(tmp, final)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


class BaseImageSeeder:
    """Copy base files between this host's image cache and a peer's.

    :param storage: this host's :class:`~nova_migration_ext.compute.facts.
        LocalStorage`.
    :param transport: object with ``push`` and ``pull``; defaults to
        :class:`SshTransport`.
    """

    def __init__(self, storage, transport=None):
        self.storage = storage
        self.transport = transport or SshTransport()

    def _remote_path(self, name, remote_instances_path):
        """Where *host* keeps ``_base/<name>`` (same layout as here)."""
        return os.path.join(
            remote_instances_path or self.storage.instances_path,
            os.path.basename(self.storage.base_dir), name)

    def push(self, host, name, remote_instances_path=None):
        """Copy ``_base/<name>`` to *host* unless it is there already."""
        local = self.storage.base_image_path(name)
        remote = self._remote_path(name, remote_instances_path)
        LOG.info('Seeding base image %s on %s before the migration',
                 name, host)
        self.transport.push(host, local, remote)

    def pull(self, host, name, remote_instances_path=None):
        """Copy ``_base/<name>`` from *host* into the local image cache."""
        local = self.storage.base_image_path(name)
        if os.path.exists(local):
            return
        remote = self._remote_path(name, remote_instances_path)
        LOG.info('Seeding base image %s from %s before the migration',
                 name, host)
        self.transport.pull(host, remote, local)


class LocalDirTransport:
    """Transport between hosts whose instance paths are local folders.

    For all-in-one test beds and the embedded demo, where every "host" is a
    folder on one machine: *paths* maps host name to instances path and
    *aliases* maps addresses (nova names a resize destination by IP) to
    host names.
    """

    def __init__(self, paths, aliases=None):
        self.paths = paths
        self.aliases = aliases if aliases is not None else {}

    def _rebase(self, host, path):
        host = self.aliases.get(host, host)
        for root in self.paths.values():
            if path.startswith(root.rstrip('/') + '/'):
                return os.path.join(self.paths[host], path[len(root) + 1:])
        return path

    def push(self, host, local_path, remote_path):
        remote = self._rebase(host, remote_path)
        os.makedirs(os.path.dirname(remote), exist_ok=True)
        tmp = remote + PART_SUFFIX
        shutil.copyfile(local_path, tmp)
        _rename_no_clobber(tmp, remote)

    def pull(self, host, remote_path, local_path):
        os.makedirs(os.path.dirname(local_path), exist_ok=True)
        tmp = local_path + PART_SUFFIX
        shutil.copyfile(self._rebase(host, remote_path), tmp)
        _rename_no_clobber(tmp, local_path)


def in_flight_instances(context, host, nodename):
    """Instances with a migration in progress from or to this node.

    Resizes waiting for confirmation (``finished``, the VM resized) count
    too: reverting one needs the base file on the source. So do reverts
    on their way
    back here: nova marks the migration ``reverted`` on the destination
    before the source re-creates the guest, and records the instance on
    the source only after that (seen in the lab: the source's cache pass
    in between removed the only copy of a deleted image's base file).
    """
    # nova's "in progress" includes 'finished' (waiting for confirmation).
    in_progress = objects.MigrationList.get_in_progress_by_host_and_node(
        context, host, nodename)
    moving = {m.instance_uuid for m in in_progress
              if m.status != 'finished'}
    moving.update(_reverting_to(context, host, nodename))
    finished = {m.instance_uuid for m in objects.MigrationList.get_by_filters(
        context, {'host': host, 'status': 'finished'})}
    uuids = sorted(moving | finished)
    if not uuids:
        return []
    instances = objects.InstanceList.get_by_filters(
        context, {'uuid': uuids, 'deleted': False})
    # A finished migration whose VM no longer waits in VERIFY_RESIZE (an
    # ERROR reset to ACTIVE) can never be reverted: its base is free.
    return [inst for inst in instances if inst.uuid in moving or
            inst.vm_state == vm_states.RESIZED or inst.task_state]


def _reverting_to(context, host, nodename):
    """UUIDs of instances whose resize is being reverted to this node."""
    reverting = objects.InstanceList.get_by_filters(
        context, {'task_state': [task_states.RESIZE_REVERTING],
                  'deleted': False},
        expected_attrs=['migration_context'])
    for instance in reverting:
        if instance.migration_context is None:
            continue
        try:
            migration = objects.Migration.get_by_id(
                context, instance.migration_context.migration_id)
        except exception.MigrationNotFound:
            continue
        if (migration.source_compute, migration.source_node) == \
                (host, nodename):
            yield instance.uuid
