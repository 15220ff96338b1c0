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
"""The lab's control plane, as real processes on 127.0.0.1.

Keystone, Glance (file store), Placement, nova-api (uWSGI),
nova-conductor and nova-scheduler, on this machine's MariaDB and RabbitMQ
(databases ``nmxlab_*``, virtual host ``nmxlab``), the way devstack lays
them out; plus the Cinder and Neutron stand-ins (``tests.lab.standins``),
the only parts that are not the real service.
"""

import os
import shutil
import sys

import pymysql

from tests.lab import broker
from tests.lab import config
from tests.lab import procs

DATABASES = ('keystone', 'glance', 'placement', 'nova_api', 'nova_cell0',
             'nova_cell1')
UWSGI_ARGS = ['--master', '--processes', '1', '--threads', '4',
              '--die-on-term', '--lazy-apps', '--need-app',
              '--buffer-size', '65535', '--thunder-lock',
              '--http-chunked-input', '--http-raw-body',
              '--http-auto-chunked', '--add-header', 'Connection: close',
              '--hook-master-start', 'unix_signal:15 gracefully_kill_them_all']
# Catalog: service type, name, URL (cinder's carries the project).
CATALOG = (
    ('compute', 'nova', config.url('nova', '/v2.1')),
    ('image', 'glance', config.url('glance')),
    ('placement', 'placement', config.url('placement')),
    ('block-storage', 'cinderv3',
     config.url('cinder', '/v3/$(project_id)s')),
    ('network', 'neutron', config.url('neutron')),
    ('host-drain', 'host-drain', config.url('host-drain')),
)


class ControlPlane(object):
    """Brings the control plane up and down under *root*/control."""

    def __init__(self, root, supervisor, token_expiration=3600):
        self.root = os.path.join(root, 'control')
        self.supervisor = supervisor
        self.token_expiration = token_expiration
        self.broker = broker.Broker(self.root, supervisor)

    # -- helpers -----------------------------------------------------

    def _dir(self, *parts):
        path = os.path.join(self.root, *parts)
        os.makedirs(path, exist_ok=True)
        return path

    def _write(self, service, name, text):
        path = os.path.join(self._dir(service), name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def _uwsgi(self, name, module, env):
        argv = [config.venv_bin('uwsgi'), '--http-socket', '%s:%d' % (
            config.HOST, config.PORTS[name]), '--module', module,
            '--procname-prefix', 'nmxlab-%s-' % name] + UWSGI_ARGS
        self.supervisor.start(name, argv, env=env)

    # -- backing services ---------------------------------------------

    def reset_databases(self):
        connection = pymysql.connect(host=config.HOST, user='root')
        try:
            with connection.cursor() as cursor:
                for name in DATABASES:
                    db = config.DB_PREFIX + name
                    cursor.execute('DROP DATABASE IF EXISTS %s' % db)
                    cursor.execute('CREATE DATABASE %s CHARACTER SET utf8'
                                   % db)
        finally:
            connection.close()

    # -- Keystone ------------------------------------------------------

    def keystone_config(self):
        return os.path.join(self.root, 'keystone', 'keystone.conf')

    def setup_keystone(self):
        base = self._dir('keystone')
        for folder in ('fernet-keys', 'credential-keys'):
            self._dir('keystone', folder)
        conf = self._write('keystone', 'keystone.conf', config.keystone_conf(
            base, self.token_expiration))
        manage = [config.venv_bin('keystone-manage'), '--config-file', conf]
        owner = ['--keystone-user', 'root', '--keystone-group', 'root']
        procs.run(manage + ['db_sync'])
        procs.run(manage + ['fernet_setup'] + owner)
        procs.run(manage + ['credential_setup'] + owner)
        endpoint = config.keystone_url()
        procs.run(manage + [
            'bootstrap', '--bootstrap-password', config.ADMIN_PASSWORD,
            '--bootstrap-username', 'admin',
            '--bootstrap-project-name', 'admin',
            '--bootstrap-role-name', 'admin',
            '--bootstrap-service-name', 'keystone',
            '--bootstrap-region-id', config.REGION,
            '--bootstrap-admin-url', endpoint,
            '--bootstrap-internal-url', endpoint,
            '--bootstrap-public-url', endpoint])
        self.start_keystone()

    def start_keystone(self, token_expiration=None):
        """(Re)start Keystone, optionally with a new token lifetime."""
        if token_expiration is not None:
            self.token_expiration = token_expiration
            self._write('keystone', 'keystone.conf', config.keystone_conf(
                os.path.join(self.root, 'keystone'), token_expiration))
        self._uwsgi('keystone', 'keystone.wsgi.api:application',
                    {'OS_KEYSTONE_CONFIG_FILES': self.keystone_config()})
        self.supervisor.wait_http('keystone', config.keystone_url())

    def admin_session(self):
        from keystoneauth1.identity import v3
        from keystoneauth1 import session
        auth = v3.Password(auth_url=config.keystone_url(), username='admin',
                           password=config.ADMIN_PASSWORD,
                           project_name='admin', user_domain_id='default',
                           project_domain_id='default')
        return session.Session(auth=auth)

    def register_services(self):
        """Service project, users and the catalog."""
        from keystoneclient.v3 import client
        keystone = client.Client(session=self.admin_session(),
                                 interface='public')
        project = keystone.projects.create('service', 'default')
        admin_role = keystone.roles.find(name='admin')
        # keystone-manage bootstrap made it (with member and reader).
        service_role = keystone.roles.find(name='service')
        for name in config.SERVICE_USERS:
            user = keystone.users.create(name, domain='default',
                                         password=config.PASSWORD)
            keystone.roles.grant(admin_role, user=user, project=project)
            keystone.roles.grant(service_role, user=user, project=project)
        for kind, name, url in CATALOG:
            service = keystone.services.create(name, type=kind)
            for interface in ('public', 'internal', 'admin'):
                keystone.endpoints.create(service, url, interface=interface,
                                          region=config.REGION)

    # -- Glance, Placement ---------------------------------------------

    def setup_glance(self):
        base = self._dir('glance')
        for folder in ('images', 'staging', 'tasks', 'cache', 'locks'):
            self._dir('glance', folder)
        self._write('glance', 'glance-api.conf', config.glance_conf(base))
        shutil.copy(config.venv_etc('glance', 'glance-api-paste.ini'),
                    os.path.join(base, 'glance-api-paste.ini'))
        procs.run([config.venv_bin('glance-manage'), '--config-file',
                   os.path.join(base, 'glance-api.conf'), 'db_sync'])
        self._uwsgi('glance', 'glance.wsgi.api:application',
                    {'OS_GLANCE_CONFIG_DIR': base})

    def setup_placement(self):
        base = self._dir('placement')
        conf = self._write('placement', 'placement.conf',
                           config.placement_conf(base))
        procs.run([config.venv_bin('placement-manage'), '--config-file',
                   conf, 'db', 'sync'])
        self._uwsgi('placement', 'placement.wsgi.api:application',
                    {'OS_PLACEMENT_CONFIG_DIR': base})

    # -- nova ------------------------------------------------------------

    def nova_config(self):
        return os.path.join(self.root, 'nova', 'nova.conf')

    def nova_manage(self, *args, timeout=300):
        return procs.run([config.venv_bin('nova-manage'), '--config-file',
                          self.nova_config()] + list(args), timeout=timeout)

    def setup_nova(self):
        base = self._dir('nova')
        self._dir('nova', 'locks')
        self._write('nova', 'nova.conf', config.nova_control_conf(
            self.root))
        self.nova_manage('api_db', 'sync')
        self.nova_manage('cell_v2', 'map_cell0', '--database_connection',
                         config.db_url('nova_cell0'))
        self.nova_manage('cell_v2', 'create_cell', '--name', 'cell1')
        self.nova_manage('db', 'sync')
        shutil.copy(config.venv_etc('nova', 'api-paste.ini'), base)
        # nova's WSGI loads its paste pipeline from the first file.
        env = {'OS_NOVA_CONFIG_DIR': base,
               'OS_NOVA_CONFIG_FILES': 'api-paste.ini;nova.conf'}
        self._uwsgi('nova', 'nova.wsgi.osapi_compute:application', env)
        for service in ('conductor', 'scheduler'):
            self.supervisor.start('nova-' + service, [
                config.venv_bin('nova-' + service), '--config-file',
                self.nova_config()])

    # -- stand-ins -------------------------------------------------------

    def start_standins(self, names=('cinder', 'neutron')):
        """Cinder and Neutron stand-ins, checking tokens with Keystone.

        They validate tokens with keystonemiddleware as the real services
        do, so an expired user token is refused there too unless a valid
        service token comes with it.
        """
        for name in names:
            state = self._dir(name)
            auth = self._write(name, 'authtoken.conf', config.render(
                {'keystone_authtoken': config.authtoken(name)}))
            self.supervisor.start(name, [
                sys.executable, '-m', 'tests.lab.standins', name,
                '--port', str(config.PORTS[name]), '--state-dir', state,
                '--log', os.path.join(state, 'requests.log'),
                '--authtoken-config', auth],
                cwd=config.REPO)

    def stop_standins(self):
        self.supervisor.stop('neutron')
        self.supervisor.stop('cinder')
        state = os.path.join(self.root, 'cinder')
        if os.path.isdir(state):
            procs.run([sys.executable, '-m', 'tests.lab.standins', 'cinder',
                       'down', '--state-dir', state], timeout=120,
                      cwd=config.REPO)

    # -- all of it -------------------------------------------------------

    def up(self, log=print):
        os.makedirs(self.root, exist_ok=True)
        log('control: databases and the lab\'s RabbitMQ node')
        self.reset_databases()
        self.broker.start()
        log('control: keystone')
        self.setup_keystone()
        self.register_services()
        log('control: glance, placement, stand-ins')
        self.setup_glance()
        self.setup_placement()
        self.start_standins()
        log('control: nova')
        self.setup_nova()
        for name in ('glance', 'placement', 'cinder', 'neutron', 'nova'):
            self.supervisor.wait_http(name, config.url(name),
                                      accept=(200, 300, 401, 404))
        for name in ('nova-conductor', 'nova-scheduler'):
            self.supervisor.check(name)

    def down(self):
        for name in ('nova-scheduler', 'nova-conductor', 'nova'):
            self.supervisor.stop(name)
        self.stop_standins()
        for name in ('placement', 'glance', 'keystone'):
            self.supervisor.stop(name)
        self.broker.stop()
