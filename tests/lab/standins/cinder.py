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
"""A stand-in for Cinder's block storage API v3, on loop devices.

NOT Cinder. It answers what nova 34 (nova/volume/cinder.py) asks: the
version documents (``GET /`` and ``GET /v3/``, for microversion
negotiation), volumes (create, show, list, delete, and the
``os-begin_detaching``/``os-roll_detaching``/``os-reserve``/
``os-unreserve``/``os-reset_status``/``os-set_bootable`` actions), the
new-style attachments (create, update with a connector, ``os-complete``,
show, list, delete), volume types, limits and an empty snapshot list.

Each volume is a sparse file attached as a loop device; /dev is shared
by every lab host, so attachments hand out ``driver_volume_type: local``
with ``device_path: /dev/loopN`` (nova's LibvirtVolumeDriver; os-brick's
LocalConnector needs nothing else). Volumes are not scoped by project
(everyone is treated like Cinder's admin, as nova's service user is);
lists are, unless ``all_tenants`` is given.

Small volumes: ``size`` is in GiB and may be fractional here (``0.0625``
is 64 MiB), or the metadata key ``standin_size_mib`` gives the size in
MiB (``openstack volume create --size 1 --property standin_size_mib=64``).
The reported ``size`` is then rounded up to whole GiB, as Cinder's is an
integer. Anything the stand-in cannot do (volumes from images, snapshots,
backups or other volumes, extend, legacy attach) gets a 501 whose message
names it.
"""

from tests.lab.standins import volumes
from tests.lab.standins import wsgi

NAME = 'the Cinder stand-in of the nova-migration-ext lab'
MIN_VERSION = (3, 0)
MAX_VERSION = (3, 71)
HEADER = 'OpenStack-API-Version'
_FAULTS = {400: 'badRequest', 401: 'unauthorized', 403: 'forbidden',
           404: 'itemNotFound', 405: 'badMethod', 406: 'notAcceptable',
           409: 'conflictingRequest', 501: 'notImplemented'}
_P = '/v3/(?P<project_id>[^/]+)'
_ID = '(?P<item_id>[^/]+)'
_UNSUPPORTED_SOURCES = ('imageRef', 'snapshot_id', 'source_volid',
                        'backup_id', 'consistencygroup_id', 'group_id')


def _version_string(version):
    return '%d.%d' % version


def requested_version(req):
    """The microversion asked for (3.0 when none), 406 when unknown."""
    header = req.headers.get(HEADER, '')
    value = None
    for part in header.split(','):
        words = part.split()
        if len(words) == 2 and words[0].lower() == 'volume':
            value = words[1]
    if value is None:
        return MIN_VERSION
    if value == 'latest':
        return MAX_VERSION
    try:
        major, minor = (int(x) for x in value.split('.'))
    except ValueError:
        raise wsgi.Error(400, 'BadRequest', 'Invalid API version %r.' %
                         value)
    if not MIN_VERSION <= (major, minor) <= MAX_VERSION:
        raise wsgi.Error(406, 'VersionNotFoundForAPIMethod', 'Version %s '
                         'is not supported by the API (%s supports %s to '
                         '%s).' % (value, NAME,
                                   _version_string(MIN_VERSION),
                                   _version_string(MAX_VERSION)))
    return (major, minor)


def version_document(req):
    return {
        'id': 'v3.0', 'status': 'CURRENT',
        'version': _version_string(MAX_VERSION),
        'min_version': _version_string(MIN_VERSION),
        'updated': '2023-08-31T00:00:00Z',
        'links': [{'rel': 'self', 'href': req.host_url + '/v3/'}],
        'media-types': [{'base': 'application/json',
                         'type': 'application/vnd.openstack.volume+json;'
                                 'version=3'}],
    }


class CinderStandIn(wsgi.StandIn):
    """The WSGI application: Cinder's v3 API over a :class:`Store`."""

    NAME = NAME
    OPEN_PATHS = ('/', '/v3')
    ROUTES = (
        ('GET', '/', 'versions'),
        ('GET', '/v3', 'version'),
        ('GET', _P + '/volumes', 'list_volumes'),
        ('GET', _P + '/volumes/detail', 'list_volumes_detail'),
        ('POST', _P + '/volumes', 'create_volume'),
        ('GET', _P + '/volumes/' + _ID, 'show_volume'),
        ('PUT', _P + '/volumes/' + _ID, 'update_volume'),
        ('DELETE', _P + '/volumes/' + _ID, 'delete_volume'),
        ('POST', _P + '/volumes/%s/action' % _ID, 'volume_action'),
        ('GET', _P + '/attachments', 'list_attachments'),
        ('GET', _P + '/attachments/detail', 'list_attachments_detail'),
        ('POST', _P + '/attachments', 'create_attachment'),
        ('GET', _P + '/attachments/' + _ID, 'show_attachment'),
        ('PUT', _P + '/attachments/' + _ID, 'update_attachment'),
        ('DELETE', _P + '/attachments/' + _ID, 'delete_attachment'),
        ('POST', _P + '/attachments/%s/action' % _ID, 'attachment_action'),
        ('GET', _P + '/types', 'list_types'),
        ('GET', _P + '/types/' + _ID, 'show_type'),
        ('GET', _P + '/limits', 'limits'),
        ('GET', _P + '/snapshots', 'list_snapshots'),
        ('GET', _P + '/snapshots/detail', 'list_snapshots'),
        ('POST', _P + '/snapshots', 'not_implemented'),
        ('GET', _P + '/snapshots/' + _ID, 'show_snapshot'),
    )

    def __init__(self, store, require_token=True):
        super().__init__(require_token=require_token)
        self.store = store

    # -- plumbing ---------------------------------------------------------

    def error(self, status, kind, message):
        """Cinder's fault body, which cinderclient turns into exceptions."""
        return wsgi.reply(status, {_FAULTS.get(status, 'computeFault'): {
            'code': status, 'message': message}})

    def __call__(self, environ, start_response):
        with self.store.lock:
            return super().__call__(environ, start_response)

    def route(self, req):
        handler, kwargs = super().route(req)
        if kwargs.get('project_id') is None:
            return handler, kwargs

        def versioned(req, **kwargs):
            version = requested_version(req)
            response = handler(req, version=version, **kwargs)
            response.headers[HEADER] = 'volume ' + _version_string(version)
            response.headers['Vary'] = HEADER
            return response
        return versioned, kwargs

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except volumes.NotFound as exc:
            raise wsgi.Error(404, 'NotFound', str(exc))
        except volumes.Invalid as exc:
            raise wsgi.Error(400, 'InvalidVolume', str(exc))

    def not_implemented(self, req, **kwargs):
        raise wsgi.Error(501, 'NotImplemented', '%s %s is not implemented '
                         'by %s.' % (req.method, req.path, NAME))

    @staticmethod
    def _require(version, minimum, req):
        if version < minimum:
            raise wsgi.Error(404, 'NotFound', '%s %s needs microversion %s '
                             'or later.' % (req.method, req.path,
                                            _version_string(minimum)))

    # -- versions ---------------------------------------------------------

    def versions(self, req):
        return wsgi.reply(300, {'versions': [version_document(req)]})

    def version(self, req):
        return wsgi.reply(200, {'versions': [version_document(req)]})

    # -- views ------------------------------------------------------------

    def _volume_links(self, req, volume):
        href = '%s/v3/%s/volumes/%s' % (req.host_url, volume['project_id'],
                                        volume['id'])
        return [{'rel': 'self', 'href': href},
                {'rel': 'bookmark', 'href': href}]

    def _volume_summary(self, req, volume):
        return {'id': volume['id'], 'name': volume['name'],
                'links': self._volume_links(req, volume)}

    def _volume_detail(self, req, volume, version):
        attachments = [{
            'id': volume['id'], 'attachment_id': a['id'],
            'volume_id': volume['id'], 'server_id': a['instance_uuid'],
            'host_name': a['attached_host'], 'device': a['mountpoint'],
            'attached_at': a['attached_at']}
            for a in self.store.attachments_of(volume['id'])
            if a['status'] == 'attached']
        view = {
            'id': volume['id'], 'name': volume['name'],
            'description': volume['description'],
            'status': volume['status'], 'size': volume['size'],
            'availability_zone': volume['availability_zone'],
            'created_at': volume['created_at'],
            'updated_at': volume['updated_at'],
            'attachments': attachments,
            'volume_type': volumes.VOLUME_TYPE['name'],
            'snapshot_id': None, 'source_volid': None,
            'metadata': volume['metadata'],
            'bootable': str(volume['bootable']).lower(),
            'encrypted': False, 'multiattach': volume['multiattach'],
            'replication_status': None, 'consistencygroup_id': None,
            'user_id': volume['user_id'],
            'links': self._volume_links(req, volume),
            'migration_status': volume['migration_status'],
            'os-vol-tenant-attr:tenant_id': volume['project_id'],
            'os-vol-host-attr:host': 'lab-standin@loop#loop',
            'os-vol-mig-status-attr:migstat': volume['migration_status'],
            'os-vol-mig-status-attr:name_id': None,
        }
        if version >= (3, 13):
            view['group_id'] = None
        if version >= (3, 21):
            view['provider_id'] = None
        if version >= (3, 48):
            # One loop device per volume: targets are never shared.
            view['shared_targets'] = False
            view['service_uuid'] = self.store.service_uuid
        if version >= (3, 61):
            view['cluster_name'] = None
        if version >= (3, 63):
            view['volume_type_id'] = volumes.VOLUME_TYPE['id']
        if version >= (3, 65):
            view['consumes_quota'] = True
        return view

    @staticmethod
    def _attachment_summary(attachment):
        return {'id': attachment['id'], 'status': attachment['status'],
                'instance': attachment['instance_uuid'],
                'volume_id': attachment['volume_id']}

    def _attachment_detail(self, attachment):
        view = self._attachment_summary(attachment)
        view.update(attached_at=attachment['attached_at'],
                    detached_at=attachment['detached_at'],
                    attach_mode=attachment['attach_mode'],
                    connection_info=attachment['connection_info'] or {})
        return view

    # -- volumes ----------------------------------------------------------

    def _filtered_volumes(self, req, project_id):
        params = req.params
        found = []
        for volume in sorted(self.store.volumes.values(),
                             key=lambda v: v['created_at'], reverse=True):
            if (not params.get('all_tenants') and
                    volume['project_id'] != project_id):
                continue
            if params.get('status') and volume['status'] != params['status']:
                continue
            if params.get('name') and volume['name'] != params['name']:
                continue
            found.append(volume)
        return found

    def list_volumes(self, req, version, project_id):
        return wsgi.reply(200, {'volumes': [
            self._volume_summary(req, v)
            for v in self._filtered_volumes(req, project_id)]})

    def list_volumes_detail(self, req, version, project_id):
        return wsgi.reply(200, {'volumes': [
            self._volume_detail(req, v, version)
            for v in self._filtered_volumes(req, project_id)]})

    def show_volume(self, req, version, project_id, item_id):
        volume = self._call(self.store.volume, item_id)
        return wsgi.reply(200, {'volume': self._volume_detail(
            req, volume, version)})

    def create_volume(self, req, version, project_id):
        body = wsgi.json_body(req).get('volume')
        if not isinstance(body, dict) or body.get('size') is None:
            raise wsgi.Error(400, 'BadRequest', 'A volume with a size is '
                             'required.')
        for key in _UNSUPPORTED_SOURCES:
            if body.get(key):
                raise wsgi.Error(501, 'NotImplemented', 'Creating a volume '
                                 'from %s is not implemented by %s: only '
                                 'blank volumes.' % (key, NAME))
        volume_type = body.get('volume_type')
        if volume_type and volume_type not in (
                volumes.VOLUME_TYPE['name'], volumes.VOLUME_TYPE['id']):
            raise wsgi.Error(404, 'VolumeTypeNotFound', 'Volume type %s '
                             'could not be found (%s has only %s).' % (
                                 volume_type, NAME,
                                 volumes.VOLUME_TYPE['name']))
        if body.get('multiattach'):
            raise wsgi.Error(400, 'BadRequest', '%s has no multiattach '
                             'volumes.' % NAME)
        volume = self._call(
            self.store.create_volume, project_id, body['size'],
            name=body.get('name'), description=body.get('description'),
            metadata=body.get('metadata'),
            availability_zone=body.get('availability_zone'),
            user_id=req.headers.get('X-User-Id'))
        return wsgi.reply(202, {'volume': self._volume_detail(
            req, volume, version)})

    def update_volume(self, req, version, project_id, item_id):
        body = wsgi.json_body(req).get('volume') or {}
        fields = {key: body[key] for key in ('name', 'description',
                                             'metadata') if key in body}
        volume = self._call(self.store.update_volume, item_id, **fields)
        return wsgi.reply(200, {'volume': self._volume_detail(
            req, volume, version)})

    def delete_volume(self, req, version, project_id, item_id):
        self._call(self.store.delete_volume, item_id)
        return wsgi.reply(202)

    def volume_action(self, req, version, project_id, item_id):
        body = wsgi.json_body(req)
        if len(body) != 1:
            raise wsgi.Error(400, 'BadRequest', 'One action is expected.')
        action, info = next(iter(body.items()))
        info = info or {}
        store = self.store
        if action == 'os-begin_detaching':
            self._call(store.set_status, item_id, 'detaching', ('in-use',))
        elif action == 'os-roll_detaching':
            volume = self._call(store.volume, item_id)
            if volume['status'] == 'detaching':
                store.update_volume(item_id, status='in-use')
        elif action == 'os-reserve':
            self._call(store.set_status, item_id, 'attaching',
                       ('available',))
        elif action == 'os-unreserve':
            volume = self._call(store.volume, item_id)
            if volume['status'] == 'attaching':
                store.update_volume(item_id, status='available')
        elif action == 'os-reset_status':
            fields = {key: info[key] for key in ('status', 'migration_status')
                      if key in info}
            self._call(store.update_volume, item_id, **fields)
        elif action == 'os-set_bootable':
            bootable = str(info.get('bootable')).lower() in ('true', '1')
            self._call(store.update_volume, item_id, bootable=bootable)
        else:
            raise wsgi.Error(501, 'NotImplemented', 'Volume action %s is '
                             'not implemented by %s.' % (action, NAME))
        return wsgi.reply(202)

    # -- attachments ------------------------------------------------------

    def _attachments(self, req):
        instance = req.params.get('instance_id')
        volume_id = req.params.get('volume_id')
        status = req.params.get('status')
        return [a for a in sorted(self.store.attachments.values(),
                                  key=lambda a: a['created_at'])
                if (not instance or a['instance_uuid'] == instance) and
                (not volume_id or a['volume_id'] == volume_id) and
                (not status or a['status'] == status)]

    def list_attachments(self, req, version, project_id):
        self._require(version, (3, 27), req)
        return wsgi.reply(200, {'attachments': [
            self._attachment_summary(a) for a in self._attachments(req)]})

    def list_attachments_detail(self, req, version, project_id):
        self._require(version, (3, 27), req)
        return wsgi.reply(200, {'attachments': [
            self._attachment_detail(a) for a in self._attachments(req)]})

    def show_attachment(self, req, version, project_id, item_id):
        self._require(version, (3, 27), req)
        attachment = self._call(self.store.attachment, item_id)
        return wsgi.reply(200, {'attachment': self._attachment_detail(
            attachment)})

    def create_attachment(self, req, version, project_id):
        self._require(version, (3, 27), req)
        body = wsgi.json_body(req).get('attachment') or {}
        volume_id = body.get('volume_uuid')
        if not volume_id:
            raise wsgi.Error(400, 'BadRequest', 'volume_uuid is required.')
        mode = body.get('mode') if version >= (3, 54) else None
        attachment = self._call(
            self.store.create_attachment, volume_id,
            body.get('instance_uuid'), connector=body.get('connector'),
            mode=mode)
        return wsgi.reply(200, {'attachment': self._attachment_detail(
            attachment)})

    def update_attachment(self, req, version, project_id, item_id):
        self._require(version, (3, 27), req)
        connector = (wsgi.json_body(req).get('attachment') or {}).get(
            'connector')
        if not connector:
            raise wsgi.Error(400, 'BadRequest', 'A connector is required to '
                             'update an attachment.')
        attachment = self._call(self.store.update_attachment, item_id,
                                connector)
        return wsgi.reply(200, {'attachment': self._attachment_detail(
            attachment)})

    def delete_attachment(self, req, version, project_id, item_id):
        self._require(version, (3, 27), req)
        volume_id = self._call(self.store.delete_attachment, item_id)
        return wsgi.reply(200, {'attachments': [
            self._attachment_summary(a)
            for a in self.store.attachments_of(volume_id)]})

    def attachment_action(self, req, version, project_id, item_id):
        body = wsgi.json_body(req)
        if 'os-complete' not in body:
            raise wsgi.Error(501, 'NotImplemented', 'Attachment actions '
                             'other than os-complete are not implemented '
                             'by %s.' % NAME)
        self._require(version, (3, 44), req)
        self._call(self.store.complete_attachment, item_id)
        return wsgi.reply(204)

    # -- the rest ---------------------------------------------------------

    def list_types(self, req, version, project_id):
        return wsgi.reply(200, {'volume_types': [volumes.VOLUME_TYPE]})

    def show_type(self, req, version, project_id, item_id):
        if item_id not in ('default', volumes.VOLUME_TYPE['id'],
                           volumes.VOLUME_TYPE['name']):
            raise wsgi.Error(404, 'VolumeTypeNotFound', 'Volume type %s '
                             'could not be found.' % item_id)
        return wsgi.reply(200, {'volume_type': volumes.VOLUME_TYPE})

    def limits(self, req, version, project_id):
        mine = [v for v in self.store.volumes.values()
                if v['project_id'] == project_id]
        return wsgi.reply(200, {'limits': {'rate': [], 'absolute': {
            'maxTotalVolumes': 1000, 'totalVolumesUsed': len(mine),
            'maxTotalVolumeGigabytes': 10000,
            'totalGigabytesUsed': sum(v['size'] for v in mine),
            'maxTotalSnapshots': 0, 'totalSnapshotsUsed': 0,
            'maxTotalBackups': 0, 'totalBackupsUsed': 0,
            'maxTotalBackupGigabytes': 0, 'totalBackupGigabytesUsed': 0}}})

    def list_snapshots(self, req, version, project_id):
        return wsgi.reply(200, {'snapshots': []})

    def show_snapshot(self, req, version, project_id, item_id):
        raise wsgi.Error(404, 'SnapshotNotFound', 'Snapshot %s could not be '
                         'found (%s has no snapshots).' % (item_id, NAME))


def make_app(state_dir, log=None, require_token=True, authtoken_config=None,
             use_loop=True):
    """The Cinder stand-in over *state_dir*; returns ``(app, store)``."""
    store = volumes.Store(state_dir, use_loop=use_loop)
    app = CinderStandIn(store, require_token=require_token)
    if authtoken_config:
        app = wsgi.with_authtoken(app, authtoken_config)
    return wsgi.logged(app, log or wsgi.RequestLog()), store
