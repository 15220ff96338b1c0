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
"""The Cinder stand-in's volumes and attachments, kept in a JSON file.

NOT Cinder's database: a dictionary of volumes and one of attachments in
``<state dir>/cinder.json``, rewritten (atomically) after every change,
and one sparse file per volume under ``<state dir>/volumes``, set up as a
loop device. A restart reloads the file and sets the loop devices up
again where they are missing. Status transitions follow Cinder's new-style
attachment API (microversion 3.44):

* attachment create: the volume goes ``available`` -> ``reserved``; a
  second attachment by the same instance (live or cold migration) is
  allowed while the volume is ``in-use`` or ``reserved`` and leaves its
  status alone. The attachment is ``reserved``.
* attachment update (with a connector): the attachment is ``attaching``
  and has connection info; the volume goes ``attaching`` unless it is
  already ``in-use`` (the migration case).
* attachment complete: the attachment is ``attached``, the volume
  ``in-use``.
* attachment delete: the volume takes the status of the "highest"
  remaining attachment (attached > attaching > detaching > reserved),
  ``available`` when none is left.
* begin/roll detaching: ``in-use`` <-> ``detaching``.
"""

import datetime
import json
import math
import os
import threading
import uuid

from tests.lab.standins import loop

GiB = 1024 ** 3
MiB = 1024 ** 2
SIZE_MIB_KEY = 'standin_size_mib'
VOLUME_TYPE = {'id': '9c7d3f55-2a0b-4c0e-8f4e-6f1c0d2b7a11',
               'name': 'lab-loop',
               'description': 'Loop devices of the lab Cinder stand-in',
               'is_public': True, 'extra_specs': {}, 'qos_specs_id': None}
DELETABLE = ('available', 'error', 'error_restoring', 'error_extending',
             'error_managing')
_PRECEDENCE = (('attached', 'in-use'), ('attaching', 'attaching'),
               ('detaching', 'detaching'), ('reserved', 'reserved'))


class Invalid(Exception):
    """The request conflicts with a volume's or attachment's state."""


class NotFound(Exception):
    """No such volume or attachment."""


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        '%Y-%m-%dT%H:%M:%S.%f')


def size_in_bytes(size, metadata=None):
    """Bytes of a new volume.

    ``size`` GiB (fractions allowed), or the ``standin_size_mib`` metadata
    hint in MiB when given.
    """
    hint = (metadata or {}).get(SIZE_MIB_KEY)
    try:
        if hint not in (None, ''):
            value = int(float(hint) * MiB)
        else:
            value = int(float(size) * GiB)
    except (TypeError, ValueError):
        raise Invalid('Invalid size %r / %s %r: a number is required.' % (
            size, SIZE_MIB_KEY, hint))
    if value < MiB:
        raise Invalid('Volume size must be at least 1 MiB.')
    return value


class Store(object):
    """Volumes and attachments of the Cinder stand-in, under *state_dir*."""

    def __init__(self, state_dir, use_loop=True):
        self.state_dir = os.path.abspath(state_dir)
        self.data_dir = os.path.join(self.state_dir, 'volumes')
        self.path = os.path.join(self.state_dir, 'cinder.json')
        self.use_loop = use_loop
        self.lock = threading.RLock()
        os.makedirs(self.data_dir, exist_ok=True)
        self.volumes = {}
        self.attachments = {}
        self.service_uuid = str(uuid.uuid4())
        if os.path.exists(self.path):
            with open(self.path) as f:
                state = json.load(f)
            self.volumes = state['volumes']
            self.attachments = state['attachments']
            self.service_uuid = state['service_uuid']
        self.restore_devices()

    # -- persistence ----------------------------------------------------

    def save(self):
        tmp = self.path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump({'volumes': self.volumes,
                       'attachments': self.attachments,
                       'service_uuid': self.service_uuid}, f, indent=1,
                      sort_keys=True)
        os.replace(tmp, self.path)

    def restore_devices(self):
        """Set loop devices up again for volumes whose device is gone."""
        if not self.use_loop:
            return
        with self.lock:
            changed = False
            for volume in self.volumes.values():
                if not os.path.exists(volume['file']):
                    if volume['status'] != 'error':
                        volume['status'] = 'error'
                        changed = True
                    continue
                device = loop.attach(volume['file'])
                if device != volume['device']:
                    volume['device'] = device
                    changed = True
            if changed:
                self.save()

    def cleanup(self):
        """Detach every loop device, remove the files and the state."""
        with self.lock:
            for volume in self.volumes.values():
                if self.use_loop:
                    loop.detach(volume['file'])
                if os.path.exists(volume['file']):
                    os.unlink(volume['file'])
            self.volumes = {}
            self.attachments = {}
            if os.path.exists(self.path):
                os.unlink(self.path)
            if os.path.isdir(self.data_dir) and not os.listdir(
                    self.data_dir):
                os.rmdir(self.data_dir)

    # -- volumes ----------------------------------------------------------

    def volume(self, volume_id):
        try:
            return self.volumes[volume_id]
        except KeyError:
            raise NotFound('Volume %s could not be found.' % volume_id)

    def create_volume(self, project_id, size, name=None, description=None,
                      metadata=None, availability_zone=None, user_id=None):
        metadata = dict(metadata or {})
        size_bytes = size_in_bytes(size, metadata)
        volume_id = str(uuid.uuid4())
        path = os.path.join(self.data_dir, volume_id + '.img')
        loop.create_file(path, size_bytes)
        volume = {
            'id': volume_id, 'name': name, 'description': description,
            'project_id': project_id, 'user_id': user_id,
            'size': max(1, int(math.ceil(size_bytes / float(GiB)))),
            'size_bytes': size_bytes, 'metadata': metadata,
            'availability_zone': availability_zone or 'nova',
            'status': 'creating', 'bootable': False, 'multiattach': False,
            'created_at': now(), 'updated_at': None, 'file': path,
            'device': None, 'migration_status': None,
        }
        with self.lock:
            self.volumes[volume_id] = volume
            try:
                if self.use_loop:
                    volume['device'] = loop.attach(path)
                volume['status'] = 'available'
            except Exception:
                volume['status'] = 'error'
                raise
            finally:
                self.save()
        return volume

    def update_volume(self, volume_id, **fields):
        with self.lock:
            volume = self.volume(volume_id)
            volume.update(fields)
            volume['updated_at'] = now()
            self.save()
            return volume

    def delete_volume(self, volume_id):
        with self.lock:
            volume = self.volume(volume_id)
            if volume['status'] not in DELETABLE or self.attachments_of(
                    volume_id):
                raise Invalid(
                    'Invalid volume: Volume status must be %s and must not '
                    'be attached (volume %s is %s).' % (
                        ' or '.join(DELETABLE), volume_id, volume['status']))
            if self.use_loop:
                loop.detach(volume['file'])
            if os.path.exists(volume['file']):
                os.unlink(volume['file'])
            del self.volumes[volume_id]
            self.save()

    def set_status(self, volume_id, status, expected):
        """Conditional status change (begin/roll detaching, reserve)."""
        with self.lock:
            volume = self.volume(volume_id)
            if volume['status'] not in expected:
                raise Invalid('Invalid volume: Volume %s status must be %s, '
                              'but it is %s.' % (volume_id,
                                                 ' or '.join(expected),
                                                 volume['status']))
            return self.update_volume(volume_id, status=status)

    # -- attachments ------------------------------------------------------

    def attachment(self, attachment_id):
        try:
            return self.attachments[attachment_id]
        except KeyError:
            raise NotFound('Volume attachment %s could not be found.' %
                           attachment_id)

    def attachments_of(self, volume_id):
        return sorted((a for a in self.attachments.values()
                       if a['volume_id'] == volume_id),
                      key=lambda a: a['created_at'])

    def create_attachment(self, volume_id, instance_uuid, connector=None,
                          mode=None):
        with self.lock:
            volume = self.volume(volume_id)
            if 'error' in volume['status']:
                raise Invalid('Volume attachments can not be created if the '
                              'volume is in an error state (%s).' % volume_id)
            allowed = ('available', 'downloading')
            same_instance = instance_uuid and any(
                a['instance_uuid'] == instance_uuid
                for a in self.attachments_of(volume_id))
            if volume['status'] in allowed:
                volume['status'] = 'reserved'
            elif not (same_instance and
                      volume['status'] in ('in-use', 'reserved')):
                raise Invalid('Volume %s status must be available or '
                              'downloading to reserve, but the current '
                              'status is %s.' % (volume_id,
                                                 volume['status']))
            attachment = {
                'id': str(uuid.uuid4()), 'volume_id': volume_id,
                'instance_uuid': instance_uuid, 'status': 'reserved',
                'attach_mode': mode or 'null', 'connector': None,
                'connection_info': None, 'attached_host': None,
                'mountpoint': None, 'created_at': now(),
                'attached_at': None, 'detached_at': None,
            }
            self.attachments[attachment['id']] = attachment
            if connector:
                self.update_attachment(attachment['id'], connector)
            self.save()
            return attachment

    def update_attachment(self, attachment_id, connector):
        with self.lock:
            attachment = self.attachment(attachment_id)
            volume = self.volume(attachment['volume_id'])
            host = connector.get('host')
            for other in self.attachments_of(volume['id']):
                if (other['id'] != attachment_id and other['connector'] and
                        other['connector'].get('host') == host and
                        not volume['multiattach']):
                    raise Invalid('duplicate connectors detected on volume '
                                  '%s (host %s)' % (volume['id'], host))
            mode = connector.get('mode') or 'rw'
            if attachment['attach_mode'] != 'null':
                mode = attachment['attach_mode']
            attachment.update({
                'status': 'attaching', 'connector': connector,
                'attach_mode': mode, 'attached_host': host,
                'mountpoint': connector.get('mountpoint'),
                'connection_info': {
                    'driver_volume_type': 'local',
                    'device_path': volume['device'],
                    'volume_id': volume['id'],
                    'attachment_id': attachment_id,
                    'access_mode': mode,
                    'encrypted': False,
                    'qos_specs': None,
                    'discard': False,
                    'cacheable': False,
                },
            })
            if volume['status'] != 'in-use':
                volume['status'] = 'attaching'
            self.save()
            return attachment

    def complete_attachment(self, attachment_id):
        with self.lock:
            attachment = self.attachment(attachment_id)
            attachment['status'] = 'attached'
            attachment['attached_at'] = now()
            self.volume(attachment['volume_id'])['status'] = 'in-use'
            self.save()
            return attachment

    def delete_attachment(self, attachment_id):
        with self.lock:
            attachment = self.attachments.pop(attachment_id, None)
            if attachment is None:
                raise NotFound('Volume attachment %s could not be found.' %
                               attachment_id)
            volume = self.volumes.get(attachment['volume_id'])
            if volume is not None:
                remaining = {a['status'] for a in self.attachments_of(
                    volume['id'])}
                volume['status'] = 'available'
                for attach_status, volume_status in _PRECEDENCE:
                    if attach_status in remaining:
                        volume['status'] = volume_status
                        break
            self.save()
            return attachment['volume_id']
