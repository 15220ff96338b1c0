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
"""The lab's configuration files, rendered from plain dictionaries.

Pure functions: what each service's configuration says, in one place, as
devstack's ``lib/`` scripts would write it.
"""

import os
import sys

PORTS = {
    'keystone': 5000,
    'glance': 9292,
    'placement': 8778,
    'nova': 8774,
    'cinder': 8776,
    'neutron': 9696,
    'rabbit': 5682,     # the lab's own node (broker.py)
    'host-drain': 9779,     # nova-migration-ext-api, started by a drain
}
HOST = '127.0.0.1'
REGION = 'RegionOne'
PASSWORD = 'lab-secret'
ADMIN_PASSWORD = 'lab-admin'
DB_PREFIX = 'nmxlab_'
VHOST = 'nmxlab'
SERVICE_USERS = ('nova', 'glance', 'placement', 'cinder', 'neutron')


REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def venv_bin(name):
    """A command of the virtualenv this Python runs from."""
    return os.path.join(os.path.dirname(sys.executable), name)


def venv_etc(*parts):
    """A file the virtualenv's packages installed under ``<venv>/etc``."""
    return os.path.join(os.path.dirname(os.path.dirname(sys.executable)),
                        'etc', *parts)


def url(service, path=''):
    return 'http://%s:%d%s' % (HOST, PORTS[service], path)


def keystone_url():
    return url('keystone', '/v3')


def db_url(name):
    return 'mysql+pymysql://root@%s/%s%s?charset=utf8' % (
        HOST, DB_PREFIX, name)


def transport_url():
    return 'rabbit://guest:guest@%s:%d/%s' % (HOST, PORTS['rabbit'], VHOST)


def render(sections):
    """INI text of ``{section: {option: value}}`` (lists joined by ',')."""
    lines = []
    for section, options in sections.items():
        lines.append('[%s]' % section)
        for key, value in options.items():
            if isinstance(value, (list, tuple)):
                value = ','.join(str(v) for v in value)
            elif isinstance(value, bool):
                value = 'true' if value else 'false'
            lines.append('%s = %s' % (key, value))
        lines.append('')
    return '\n'.join(lines)


def service_auth(user, **extra):
    """keystoneauth password options of service user *user*."""
    options = {
        'auth_type': 'password',
        'auth_url': keystone_url(),
        'username': user,
        'password': PASSWORD,
        'project_name': 'service',
        'user_domain_name': 'Default',
        'project_domain_name': 'Default',
        'region_name': REGION,
    }
    options.update(extra)
    return options


def authtoken(user):
    options = service_auth(user, www_authenticate_uri=keystone_url(),
                           service_token_roles_required=True)
    options.pop('region_name')
    return options


def keystone_conf(root, token_expiration):
    return render({
        'DEFAULT': {'debug': False},
        'database': {'connection': db_url('keystone')},
        'fernet_tokens': {'key_repository': root + '/fernet-keys'},
        'fernet_receipts': {'key_repository': root + '/fernet-keys'},
        'credential': {'key_repository': root + '/credential-keys'},
        'token': {'provider': 'fernet', 'expiration': token_expiration},
    })


def glance_conf(root):
    return render({
        'DEFAULT': {'debug': False, 'enabled_backends': 'file1:file',
                    'bind_host': HOST, 'bind_port': PORTS['glance'],
                    'image_cache_dir': root + '/cache',
                    'transport_url': transport_url()},
        'database': {'connection': db_url('glance')},
        'glance_store': {'default_backend': 'file1'},
        'file1': {'filesystem_store_datadir': root + '/images'},
        'os_glance_staging_store': {
            'filesystem_store_datadir': root + '/staging'},
        'os_glance_tasks_store': {
            'filesystem_store_datadir': root + '/tasks'},
        'keystone_authtoken': authtoken('glance'),
        'paste_deploy': {'flavor': 'keystone'},
        'oslo_concurrency': {'lock_path': root + '/locks'},
    })


def placement_conf(root):
    return render({
        'DEFAULT': {'debug': False},
        'placement_database': {'connection': db_url('placement')},
        'api': {'auth_strategy': 'keystone'},
        'keystone_authtoken': authtoken('placement'),
    })


# The key the lab's evacuations sign their bandwidth cap with.
BANDWIDTH_CAP_SECRET = 'nmx-lab-bandwidth-cap'


def _nova_common(state_path, migration_ext=None):
    sections = {
        'DEFAULT': {
            'debug': True,
            'transport_url': transport_url(),
            'state_path': state_path,
            'shutdown_timeout': 2,
        },
        'api': {'auth_strategy': 'keystone'},
        'keystone_authtoken': authtoken('nova'),
        'placement': service_auth('nova'),
        'glance': {'region_name': REGION},
        'neutron': service_auth('neutron'),
        'cinder': dict(service_auth('nova'), os_region_name=REGION,
                       catalog_info='block-storage:cinderv3:publicURL'),
        'service_user': dict(service_auth('nova'),
                             send_service_user_token=True),
        'oslo_concurrency': {'lock_path': state_path + '/locks'},
        'notifications': {'notification_format': 'both'},
        'oslo_messaging_notifications': {'driver': 'messagingv2'},
        'oslo_messaging_rabbit': {'heartbeat_timeout_threshold': 60},
        'vnc': {'enabled': False},
        'scheduler': {'discover_hosts_in_cells_interval': 5},
        'filter_scheduler': {'track_instance_changes': True},
    }
    sections['neutron'].pop('region_name')
    sections['neutron']['region_name'] = REGION
    if migration_ext is not None:
        sections['migration_ext'] = migration_ext
    return sections


def nova_control_conf(root):
    sections = _nova_common(root + '/nova')
    sections['api_database'] = {'connection': db_url('nova_api')}
    sections['database'] = {'connection': db_url('nova_cell1')}
    sections['wsgi'] = {'api_paste_config': venv_etc('nova',
                                                     'api-paste.ini')}
    sections['conductor'] = {'workers': 1}
    sections['scheduler']['workers'] = 1
    return render(sections)


PRIVSEP_SECTIONS = ('nova_sys_admin', 'privsep_osbrick',
                    'vif_plug_ovs_privileged',
                    'vif_plug_linux_bridge_privileged')


def nova_compute_conf(path, host, address, migration_ext=None,
                      service_user=True, extra=None):
    """nova.conf of the compute service of lab host *host*.

    *path* is where the file lands; privsep helpers read it too.
    """
    ext = {'bandwidth_cap_secret': BANDWIDTH_CAP_SECRET}
    ext.update(migration_ext or {})
    sections = _nova_common('/var/lib/nova', ext)
    sections['DEFAULT'].update({
        'host': host,
        'my_ip': address,
        'compute_driver': 'migration_ext.MigrationExtLibvirtDriver',
        'instances_path': '/var/lib/nova/instances',
        'use_cow_images': True,
        'force_config_drive': False,
        'default_ephemeral_format': 'ext4',
        'update_resources_interval': 20,
        'heal_instance_info_cache_interval': -1,
        'sync_power_state_interval': 30,
    })
    sections['libvirt'] = {
        'virt_type': 'qemu',
        'cpu_mode': 'none',
        'live_migration_scheme': 'tcp',
        'live_migration_inbound_addr': address,
        'live_migration_completion_timeout': 0,
        'images_type': 'qcow2',
    }
    sections['compute'] = {'live_migration_wait_for_vif_plug': False}
    # The guest's kernel (an aki image) starts with a boot sector that
    # nova's format inspector reads as an MBR with a bad boot flag; nova
    # skips the check when it boots a VM but not when pre_live_migration
    # fetches the kernel on the destination (nova's own inconsistency).
    sections['workarounds'] = {'disable_deep_image_inspection': True}
    sections['image_cache'] = {'manager_interval': -1}
    for section in PRIVSEP_SECTIONS:
        sections[section] = {'helper_command': '%s --config-file %s' % (
            venv_bin('privsep-helper'), path)}
    if not service_user:
        sections['service_user'] = {'send_service_user_token': False}
    for section, options in (extra or {}).items():
        sections.setdefault(section, {}).update(options)
    return render(sections)
