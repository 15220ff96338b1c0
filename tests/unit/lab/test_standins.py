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
"""The Neutron and Cinder stand-ins, driven by nova's own client code.

Each stand-in serves real HTTP on 127.0.0.1 (an ephemeral port) in a
thread; nova.network.neutron.API and nova.volume.cinder.API talk to it
through keystoneauth with a fake token, the way nova-compute and
nova-conductor would. Only nova's database is mocked out. The Cinder
tests set up real loop devices (root only) and remove them again.
"""

import json
import os
import shutil
import tempfile
import threading
from unittest import mock
import uuid

import fixtures
from keystoneauth1 import token_endpoint
from oslo_config import fixture as config_fixture
from oslotest import base
import requests

from tests.lab.standins import __main__ as runner
from tests.lab.standins import cinder
from tests.lab.standins import loop
from tests.lab.standins import neutron
from tests.lab.standins import volumes
from tests.lab.standins import wsgi
from tests import services

PROJECT = 'c0ffee00c0ffee00c0ffee00c0ffee00'
TOKEN = 'lab-fake-token'
INSTANCE = '5f1c2a0e-8d7b-4c3e-9f21-0a6b7c8d9e10'
CONNECTOR = {'host': 'c1', 'ip': '10.0.0.1', 'platform': 'x86_64',
             'os_type': 'linux', 'multipath': False,
             'initiator': 'iqn.2004-10.com.example:c1'}
DEST_CONNECTOR = dict(CONNECTOR, host='c2', ip='10.0.0.2',
                      initiator='iqn.2004-10.com.example:c2')


def serve(test, app):
    """Serve *app* on 127.0.0.1 for the test's lifetime; its base URL."""
    server = wsgi.make_server(app, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(10)
    test.addCleanup(stop)
    return 'http://%s:%d' % (wsgi.HOST, server.server_port)


class NovaClientMixin(object):
    """nova's configuration, auth and objects, pointed at the stand-ins."""

    def nova_setup(self, catalog, **groups):
        import nova.conf
        from nova import context as nova_context
        from nova import objects
        from nova import service_auth

        objects.register_all()
        conf = self.useFixture(config_fixture.Config(nova.conf.CONF))
        for group, options in groups.items():
            conf.config(group=group, **options)
        nova_context.reset_globals()
        self.addCleanup(nova_context.reset_globals)
        # The service user of the [neutron]/[cinder] sections: a fixed
        # token, as keystoneauth's admin_token plugin would send.
        self.useFixture(fixtures.MockPatchObject(service_auth, '_AUTHS', {
            group: token_endpoint.Token(options.get('endpoint_override'),
                                        TOKEN)
            for group, options in groups.items()}))
        self.context = nova_context.RequestContext(
            user_id='lab-user', project_id=PROJECT, auth_token=TOKEN,
            is_admin=False, roles=['member'], service_catalog=catalog)

    def instance(self, host='c1'):
        from nova.network import model as network_model
        from nova import objects

        return objects.Instance(
            uuid=INSTANCE, project_id=PROJECT, host=host, deleted=False,
            availability_zone='nova', migration_context=None,
            info_cache=objects.InstanceInfoCache(
                instance_uuid=INSTANCE,
                network_info=network_model.NetworkInfo([])))


class TestNeutronStandIn(base.BaseTestCase, NovaClientMixin):

    def setUp(self):
        super().setUp()
        self.log = wsgi.RequestLog()
        self.url = serve(self, neutron.make_app(log=self.log))
        self.nova_setup(
            [{'type': 'network', 'name': 'neutron',
              'endpoints': [{'publicURL': self.url, 'internalURL': self.url,
                             'region': 'RegionOne'}]}],
            neutron={'endpoint_override': self.url})
        from nova.network import neutron as neutron_api
        from nova import objects

        self.api = neutron_api.API()
        # nova's database is not here: the info cache and the virtual
        # interfaces are the only rows these paths touch.
        for target in (
                (objects.InstanceInfoCache, 'save'),
                (objects.VirtualInterface, 'delete_by_instance_uuid'),
                (objects.VirtualInterfaceList, 'get_by_instance_uuid')):
            self.useFixture(fixtures.MockPatchObject(*target))
        self.useFixture(fixtures.MockPatch(
            'nova.compute.utils.refresh_info_cache_for_instance'))

    def requests(self):
        return [(m, p.split('?')[0], s) for m, p, s in self.log.entries]

    def test_extensions(self):
        self.assertTrue(self.api.has_port_binding_extension(self.context))
        for check in (self.api.has_dns_extension,
                      self.api.has_multi_provider_extension,
                      self.api.has_extended_resource_request_extension,
                      self.api.has_substr_port_filtering_extension,
                      self.api.has_segment_extension,
                      self.api.has_fip_port_details_extension,
                      self.api.has_vnic_index_extension,
                      self.api.has_sg_shared_filter_extension):
            self.assertFalse(check(self.context), check.__name__)
        self.assertEqual([('GET', '/v2.0/extensions', 200)],
                         self.requests())

    def test_boot_without_networks(self):
        from nova import objects

        instance = self.instance()
        nw_info = self.api.allocate_for_instance(
            self.context, instance, objects.NetworkRequestList(objects=[]))
        self.assertEqual([], list(nw_info))
        self.assertIn(('GET', '/v2.0/networks', 200), self.requests())
        self.assertEqual((None, [], None), self.api.create_resource_requests(
            self.context, objects.NetworkRequestList(
                objects=[objects.NetworkRequest(network_id='none')]), None))

    def test_requested_network_does_not_exist(self):
        from nova import exception
        from nova import objects

        requested = objects.NetworkRequestList(objects=[
            objects.NetworkRequest(network_id=str(uuid.uuid4()))])
        self.assertRaises(exception.NetworkNotFound,
                          self.api.allocate_for_instance, self.context,
                          self.instance(), requested)

    def test_network_info_refresh(self):
        instance = self.instance()
        self.assertEqual([], list(self.api.get_instance_nw_info(
            self.context, instance)))
        # _heal_instance_info_cache forces a refresh from Neutron.
        self.assertEqual([], list(self.api.get_instance_nw_info(
            self.context, instance, force_refresh=True)))
        ports = [e for e in self.log.entries if e[1].startswith(
            '/v2.0/ports?')]
        self.assertEqual(2, len(ports))
        self.assertIn('device_id=%s' % INSTANCE, ports[0][1])

    def test_live_migration(self):
        from nova import objects

        instance = self.instance()
        migration = objects.Migration(
            source_compute='c1', dest_compute='c2', status='running',
            migration_type='live-migration')
        self.assertEqual({}, self.api.bind_ports_to_host(
            self.context, instance, 'c2'))
        self.api.setup_networks_on_host(self.context, instance, 'c2')
        self.api.migrate_instance_start(self.context, instance, migration)
        self.api.migrate_instance_finish(self.context, instance, migration,
                                         None)
        self.api.setup_networks_on_host(self.context, instance, 'c1',
                                        teardown=True)
        self.api.delete_port_binding(self.context, str(uuid.uuid4()), 'c1')
        self.assertEqual(
            ([], mock.ANY),
            self.api.get_requested_resource_for_instance(self.context,
                                                         INSTANCE))
        self.assertFalse(self.api.instance_has_extended_resource_request(
            INSTANCE))
        self.assertTrue(all(s in (200, 404) for _m, _p, s in
                            self.log.entries), self.log.entries)

    def test_cold_migration_and_revert(self):
        from nova import objects

        instance = self.instance()
        migration = objects.Migration(
            source_compute='c1', dest_compute='c2', status='finished',
            migration_type='resize')
        self.api.migrate_instance_start(self.context, instance, migration)
        self.api.setup_networks_on_host(self.context, instance, 'c2')
        self.api.migrate_instance_finish(self.context, instance, migration,
                                         None)
        self.api.setup_instance_network_on_host(self.context, instance, 'c1')
        self.api.cleanup_instance_network_on_host(self.context, instance,
                                                  'c2')
        self.api.setup_networks_on_host(self.context, instance,
                                        teardown=True)

    def test_delete(self):
        self.api.deallocate_for_instance(self.context, self.instance())
        self.assertEqual([('GET', '/v2.0/ports', 200)], self.requests())

    def test_server_security_groups(self):
        from nova.network import security_group_api

        self.assertEqual({}, security_group_api.
                         get_instances_security_groups_bindings(
                             self.context, [{'id': INSTANCE}]))

    def test_missing_port(self):
        from nova import exception

        self.assertRaises(exception.PortNotFound, self.api.show_port,
                          self.context, str(uuid.uuid4()))

    def test_create_is_refused_naming_the_standin(self):
        response = requests.post(self.url + '/v2.0/ports', json={
            'port': {'network_id': str(uuid.uuid4())}},
            headers={'X-Auth-Token': TOKEN})
        self.assertEqual(501, response.status_code)
        self.assertIn('stand-in', response.json()['NeutronError']['message'])

    def test_token_required_except_versions(self):
        self.assertEqual(200, requests.get(self.url + '/').status_code)
        self.assertEqual(401, requests.get(
            self.url + '/v2.0/ports').status_code)


class LoopTestCase(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0 or not shutil.which('losetup'):
            services.skip_missing(self, services.ROOT,
                                  'loop devices need root and losetup')
        self.state_dir = tempfile.mkdtemp(prefix='lab-cinder-')
        self.addCleanup(shutil.rmtree, self.state_dir, True)


class TestCinderStandIn(LoopTestCase, NovaClientMixin):

    def setUp(self):
        super().setUp()
        self.log_path = os.path.join(self.state_dir, 'requests.log')
        self.log = wsgi.RequestLog(path=self.log_path)
        app, self.store = cinder.make_app(self.state_dir, log=self.log)
        self.addCleanup(self.store.cleanup)
        self.url = serve(self, app)
        endpoint = '%s/v3/%s' % (self.url, PROJECT)
        self.nova_setup(
            [{'type': 'block-storage', 'name': 'cinderv3',
              'endpoints': [{'publicURL': endpoint, 'region': 'RegionOne'}]}],
            cinder={'catalog_info': 'block-storage:cinderv3:publicURL',
                    'os_region_name': 'RegionOne'})
        from nova.volume import cinder as cinder_api
        self.api = cinder_api.API()

    def create(self, mib=16):
        volume = self.api.create(self.context, 1, 'lab-vol', 'test', metadata={
            volumes.SIZE_MIB_KEY: str(mib)})
        self.assertEqual('available', volume['status'])
        return volume['id']

    def test_volume_create_and_delete(self):
        volume_id = self.create()
        record = self.store.volumes[volume_id]
        self.assertTrue(record['device'].startswith('/dev/loop'))
        self.assertEqual(record['device'], loop.find(record['file']))
        self.assertEqual(16 * volumes.MiB, os.path.getsize(record['file']))
        volume = self.api.get(self.context, volume_id, microversion='3.69')
        self.assertEqual(1, volume['size'])
        self.assertFalse(volume['shared_targets'])
        self.assertEqual(self.store.service_uuid, volume['service_uuid'])
        self.assertFalse(volume['multiattach'])
        self.assertIn(volume_id, [v['id'] for v in self.api.get_all(
            self.context)])
        self.api.delete(self.context, volume_id)
        self.assertIsNone(loop.find(record['file']))
        self.assertFalse(os.path.exists(record['file']))
        self.assertEqual(('POST', '/v3/%s/volumes' % PROJECT, 202),
                         self.log.entries[0])
        logged = wsgi.RequestLog.parse(open(self.log_path).read())
        self.assertEqual(list(self.log.entries), logged)

    def test_microversions(self):
        from nova import exception
        from nova.volume import cinder as cinder_api

        cinder_api.is_microversion_supported(self.context, '3.71')
        self.assertRaises(exception.CinderAPIVersionNotAvailable,
                          cinder_api.is_microversion_supported,
                          self.context, '3.72')
        self.assertIn(('GET', '/', 300), self.log.entries)

    def attach(self, volume_id, connector=CONNECTOR):
        """nova's attach: reserve in the API, update, complete."""
        attachment = self.api.attachment_create(self.context, volume_id,
                                                INSTANCE)
        self.assertEqual('reserved', attachment['status'])
        self.assertEqual('reserved', self.status(volume_id))
        attachment = self.api.attachment_update(
            self.context, attachment['id'], connector, mountpoint='/dev/vdb')
        self.assertEqual('attaching', self.status(volume_id))
        self.api.attachment_complete(self.context, attachment['id'])
        self.assertEqual('in-use', self.status(volume_id))
        return attachment

    def status(self, volume_id):
        return self.api.get(self.context, volume_id)['status']

    def test_attach_and_detach(self):
        from nova.virt.libvirt.volume import volume as libvirt_volume
        from os_brick.initiator.connectors import local

        volume_id = self.create()
        attachment = self.attach(volume_id)
        device = self.store.volumes[volume_id]['device']
        info = attachment['connection_info']
        self.assertEqual('local', info['driver_volume_type'])
        self.assertEqual(device, info['data']['device_path'])
        self.assertEqual(volume_id, info['data']['volume_id'])
        self.assertEqual('rw', info['data']['access_mode'])
        # What nova-compute's libvirt driver and os-brick make of it.
        self.assertEqual({'type': 'local', 'path': device},
                         local.LocalConnector(None).connect_volume(
                             info['data']))
        host = mock.Mock()
        host.find_secret.return_value = None
        conf = libvirt_volume.LibvirtVolumeDriver(host).get_config(
            dict(info, serial=volume_id),
            {'type': 'disk', 'dev': 'vdb', 'bus': 'virtio'})
        self.assertEqual(('block', device), (conf.source_type,
                                             conf.source_path))
        volume = self.api.get(self.context, volume_id)
        self.assertEqual(attachment['id'],
                         volume['attachments'][INSTANCE]['attachment_id'])
        self.assertEqual(attachment['id'], self.api.attachment_get(
            self.context, attachment['id'])['id'])
        self.assertEqual([attachment['id']], [a['id'] for a in
                                              self.api.attachment_get_all(
                                                  self.context, INSTANCE)])
        # Detach: the API begins, the compute deletes the attachment.
        self.api.begin_detaching(self.context, volume_id)
        self.assertEqual('detaching', self.status(volume_id))
        self.api.roll_detaching(self.context, volume_id)
        self.assertEqual('in-use', self.status(volume_id))
        self.api.begin_detaching(self.context, volume_id)
        self.api.attachment_delete(self.context, attachment['id'])
        volume = self.api.get(self.context, volume_id)
        self.assertEqual(('available', 'detached'),
                         (volume['status'], volume['attach_status']))

    def test_live_migration(self):
        volume_id = self.create()
        old = self.attach(volume_id)
        # pre_live_migration on the destination: a second attachment with
        # the destination's connector, completed there.
        new = self.api.attachment_create(self.context, volume_id, INSTANCE,
                                         connector=DEST_CONNECTOR,
                                         mountpoint='/dev/vdb')
        self.assertEqual('local', new['connection_info'][
            'driver_volume_type'])
        self.assertEqual('in-use', self.status(volume_id))
        self.api.attachment_complete(self.context, new['id'])
        # post_live_migration on the source: the old one goes.
        self.api.attachment_delete(self.context, old['id'])
        volume = self.api.get(self.context, volume_id)
        self.assertEqual('in-use', volume['status'])
        self.assertEqual(new['id'],
                         volume['attachments'][INSTANCE]['attachment_id'])
        self.assertIsNone(volume['migration_status'])
        # Deleting it again is a warning in nova, not an error.
        self.api.attachment_delete(self.context, old['id'])

    def test_cold_migration_and_revert(self):
        volume_id = self.create()
        old = self.attach(volume_id)
        for connector in (DEST_CONNECTOR, CONNECTOR):
            # _terminate_volume_connections on the host left behind...
            new = self.api.attachment_create(self.context, volume_id,
                                             INSTANCE)
            self.api.attachment_delete(self.context, old['id'])
            self.assertEqual('reserved', self.status(volume_id))
            # ...then _update_volume_attachments and
            # _complete_volume_attachments on the other.
            self.api.attachment_update(self.context, new['id'], connector,
                                       '/dev/vdb')
            self.api.attachment_complete(self.context, new['id'])
            self.assertEqual('in-use', self.status(volume_id))
            old = new

    def test_refusals(self):
        from nova import exception

        volume_id = self.create()
        self.attach(volume_id)
        self.assertRaises(exception.InvalidInput,
                          self.api.attachment_create, self.context,
                          volume_id, str(uuid.uuid4()))
        self.assertRaises(exception.InvalidInput, self.api.delete,
                          self.context, volume_id)
        self.assertRaises(exception.VolumeNotFound, self.api.get,
                          self.context, str(uuid.uuid4()))
        self.assertRaises(exception.VolumeAttachmentNotFound,
                          self.api.attachment_get, self.context,
                          str(uuid.uuid4()))
        response = requests.post(
            '%s/v3/%s/volumes' % (self.url, PROJECT), headers={
                'X-Auth-Token': TOKEN}, json={'volume': {
                    'size': 1, 'imageRef': str(uuid.uuid4())}})
        self.assertEqual(501, response.status_code)
        self.assertIn('stand-in', response.json()['notImplemented'][
            'message'])

    def test_plain_http_fractional_size(self):
        response = requests.post(
            '%s/v3/%s/volumes' % (self.url, PROJECT),
            headers={'X-Auth-Token': TOKEN,
                     'OpenStack-API-Version': 'volume 3.48'},
            json={'volume': {'size': 0.0625, 'name': 'small'}})
        self.assertEqual(202, response.status_code)
        self.assertEqual('volume 3.48',
                         response.headers['OpenStack-API-Version'])
        volume = response.json()['volume']
        self.assertEqual((1, False), (volume['size'],
                                      volume['shared_targets']))
        self.assertEqual(64 * volumes.MiB, os.path.getsize(
            self.store.volumes[volume['id']]['file']))


class TestCinderState(LoopTestCase):

    def test_restart_reattaches_and_down_cleans_up(self):
        store = volumes.Store(self.state_dir)
        self.addCleanup(store.cleanup)
        volume = store.create_volume(PROJECT, 0.01)
        attachment = store.create_attachment(volume['id'], INSTANCE,
                                             connector=CONNECTOR)
        loop.detach(volume['file'])
        self.assertIsNone(loop.find(volume['file']))

        again = volumes.Store(self.state_dir)
        record = again.volumes[volume['id']]
        self.assertEqual(loop.find(volume['file']), record['device'])
        self.assertEqual('attaching', record['status'])
        self.assertIn(attachment['id'], again.attachments)
        with open(os.path.join(self.state_dir, 'cinder.json')) as f:
            self.assertIn(volume['id'], json.load(f)['volumes'])

        self.assertEqual(0, runner.main(['cinder', 'down', '--state-dir',
                                         self.state_dir]))
        self.assertIsNone(loop.find(volume['file']))
        self.assertEqual([], os.listdir(self.state_dir))


class TestRunner(base.BaseTestCase):

    def test_keystonemiddleware_switch(self):
        path = self.useFixture(fixtures.TempDir()).join('authtoken.conf')
        with open(path, 'w') as f:
            f.write('[keystone_authtoken]\n'
                    'www_authenticate_uri = http://127.0.0.1:1/v3\n'
                    'auth_type = password\n'
                    'auth_url = http://127.0.0.1:1/v3\n')
        log = wsgi.RequestLog()
        url = serve(self, neutron.make_app(log=log, authtoken_config=path))
        self.assertEqual(401, requests.get(url + '/v2.0/ports').status_code)
        self.assertEqual([('GET', '/v2.0/ports', 401)], list(log.entries))

    def test_arguments(self):
        args = runner.parse_args(['cinder', '--port', '8776', '--state-dir',
                                  '/tmp/x', '--log', '/tmp/x/r.log'])
        self.assertEqual(('cinder', 'serve', 8776, '/tmp/x', '/tmp/x/r.log'),
                         (args.service, args.action, args.port,
                          args.state_dir, args.log))
