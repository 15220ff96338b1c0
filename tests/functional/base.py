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
"""Nova's functional harness with our driver on every compute.

Real nova-api, conductor, scheduler, placement and compute services run in
one process; the libvirt driver runs against nova's fake libvirt. What a
single process cannot be is several hosts with their own disks, so each
compute gets its own instances folder and the few calls that would ssh to
a peer (nova's remote filesystem and our base-image copier) copy between
those folders instead. Disk files are real qcow2 images made with qemu-img.
"""

import contextlib
import hashlib
import os
import shutil
import subprocess
import time

import fixtures
import nova.conf
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.fixtures import libvirt_imagebackend as imagebackend_fixture
from nova.tests.functional import integrated_helpers
from nova.tests.functional.libvirt import base as libvirt_base
from oslo_messaging.notify import _impl_test as test_notifier

from nova_migration_ext.compute import cold_copy
from nova_migration_ext.compute import imagecache
from nova_migration_ext import conf as ext_conf

DRIVER = 'migration_ext.MigrationExtLibvirtDriver'
# nova's own driver, for control runs: what happens without our code.
STOCK_DRIVER = 'libvirt.LibvirtDriver'
MiB = 1024 * 1024
MIGRATION_WAIT = 60    # seconds


class HostFolders:
    """Maps each fake host to its instances folder."""

    def __init__(self, root, shared=False):
        self.root = root
        self.shared = shared
        self.paths = {}
        self.aliases = {}

    def add(self, host):
        """Give *host* its folder (one folder for all when shared)."""
        path = os.path.join(self.root, 'shared' if self.shared else host)
        os.makedirs(path, exist_ok=True)
        self.paths[host] = path
        return path

    def alias(self, address, host):
        """nova addresses a migration's destination by its IP."""
        self.aliases[address] = host

    def rebase(self, host, path):
        host = self.aliases.get(host, host)
        for root in self.paths.values():
            if path == root or path.startswith(root + '/'):
                return self.paths[host] + path[len(root):]
        return path


class FakeRemoteFilesystem:
    """nova's RemoteFilesystem for hosts that are folders."""

    def __init__(self, folders):
        self.folders = folders

    def create_dir(self, host, path, on_execute=None, on_completion=None):
        os.makedirs(self.folders.rebase(host, path), exist_ok=True)

    def remove_dir(self, host, path, on_execute=None, on_completion=None):
        shutil.rmtree(self.folders.rebase(host, path), ignore_errors=True)

    def create_file(self, host, path, on_execute=None, on_completion=None):
        open(self.folders.rebase(host, path), 'a').close()

    def remove_file(self, host, path, on_execute=None, on_completion=None):
        try:
            os.unlink(self.folders.rebase(host, path))
        except FileNotFoundError:
            pass


class MigrationExtTestBase(libvirt_base.LibvirtMigrationMixin,
                           libvirt_base.ServersTestBase,
                           integrated_helpers.InstanceHelperMixin):
    """Two or more computes running MigrationExtLibvirtDriver."""

    microversion = 'latest'
    ADMIN_API = True
    # Casts stay casts, as in production: a refused migration shows up as
    # an instance fault and an action event, not as an API error.
    CAST_AS_CALL = False
    shared_instance_path = False

    def setUp(self):
        super().setUp()
        self.folders = HostFolders(self.useFixture(fixtures.TempDir()).path,
                                   shared=self.shared_instance_path)
        self.flags(driver=['test'], group='oslo_messaging_notifications')
        # Each compute measures its folder's disk at start-up: a few MiB
        # here, where dozens of computes start. (The options are there
        # once the driver is imported; the demo sets up before that.)
        ext_conf.register_opts(nova.conf.CONF)
        self.flags(disk_probe_mib=4, group='migration_ext')
        test_notifier.reset()
        self.addCleanup(test_notifier.reset)
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.LibvirtDriver._check_shared_storage_test_file',
            side_effect=lambda *a, **k: self.shared_instance_path))
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.LibvirtDriver._is_path_shared_with',
            side_effect=lambda *a, **k: self.shared_instance_path))
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.utils.copy_image',
            side_effect=self._copy_image))
        # Our verified copy runs for real (sender and receiver processes),
        # with the receiver on this machine writing to the host's folder.
        real_copy_disk = cold_copy.copy_disk

        def copy_disk(conf, from_path, to_path, host, *args, **kwargs):
            to_path = self.folders.rebase(host, to_path) if host else to_path
            return real_copy_disk(conf, from_path, to_path, None, *args,
                                  **kwargs)
        self.useFixture(fixtures.MockPatch(
            'nova_migration_ext.compute.cold_copy.copy_disk',
            side_effect=copy_disk))
        # No ssh between these computes: no connection to share (the lab
        # tests share one).
        self.useFixture(fixtures.MockPatch(
            'nova_migration_ext.compute.cold_copy.shared_connection',
            side_effect=lambda host: contextlib.nullcontext(())))
        # The fake image backend describes every disk as raw; with nova's
        # default use_cow_images the real one makes qcow2 overlays, which
        # is what make_disks() creates.
        fake_info = imagebackend_fixture.LibvirtImageBackendFixture.\
            _fake_libvirt_info

        def qcow2_libvirt_info(fixture, disk, *args, **kwargs):
            info = fake_info(fixture, disk, *args, **kwargs)
            if not info.source_path.endswith('disk.config'):
                info.driver_format = 'qcow2'
            return info
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt_imagebackend.'
            'LibvirtImageBackendFixture._fake_libvirt_info',
            qcow2_libvirt_info))

    def _setup_compute_service(self):
        self.flags(compute_driver=DRIVER)

    def start_compute(self, hostname='compute1', driver=DRIVER, **kwargs):
        """Start *hostname* with our driver, or *driver* (STOCK_DRIVER)."""
        path = self.folders.add(hostname)
        self.flags(instances_path=path, compute_driver=driver)
        hostname = super().start_compute(hostname=hostname, **kwargs)
        self.flags(compute_driver=DRIVER)
        compute_driver = self.computes[hostname].driver
        compute_driver._remotefs = FakeRemoteFilesystem(self.folders)
        if hasattr(compute_driver, '_seeder'):
            compute_driver._seeder.transport = imagecache.LocalDirTransport(
                self.folders.paths, self.folders.aliases)
        return hostname

    def use_host_paths(self, hostname):
        """Point nova's own code at *hostname*'s folder."""
        self.flags(instances_path=self.folders.paths[hostname])

    def _copy_image(self, src, dest, host=None, receive=False,
                    on_execute=None, on_completion=None, compression=True):
        if host and receive:
            src = self.folders.rebase(host, src)
        elif host:
            dest = self.folders.rebase(host, dest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(src, dest)

    # -- servers with real disks --------------------------------------------

    def boot(self, host, image_uuid=None, flavor_id=None, name=None):
        self.use_host_paths(host)
        server = self._create_server(
            name=name, host=host, networks='none', image_uuid=image_uuid,
            flavor_id=flavor_id)
        self.make_disks(server, host)
        return server

    def domain(self, host, server_id):
        conn = self.computes[host].driver._host.get_connection()
        return conn.lookupByUUIDString(server_id)

    def base_name(self, server):
        return hashlib.sha1(server['image']['id'].encode()).hexdigest()

    def base_path(self, host, server):
        return os.path.join(self.folders.paths[host], '_base',
                            self.base_name(server))

    def make_disks(self, server, host, data_mib=4, base_mib=8):
        """Create the base file and qcow2 overlay the domain XML names."""
        base = self.base_path(host, server)
        os.makedirs(os.path.dirname(base), exist_ok=True)
        if not os.path.exists(base):
            subprocess.check_call(
                ['qemu-img', 'create', '-q', '-f', 'raw', base,
                 '%dM' % base_mib])
            _write_random(base, base_mib)
        for path in self.local_disk_paths(host, server):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            subprocess.check_call(
                ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw',
                 '-b', base, path, '1G'])
            if data_mib:
                subprocess.check_call(
                    ['qemu-io', '-c', 'write -P 0x5a 0 %dM' % data_mib,
                     path], stdout=subprocess.DEVNULL)

    def local_disk_paths(self, host, server):
        guest = self.computes[host].driver._host.get_guest(
            _InstanceRef(server['id']))
        return [d.source_path for d in guest.get_all_disks()
                if d.source_type == 'file' and d.source_path]

    def live_migrate(self, server, host, **kwargs):
        """Live-migrate; nova's code on the destination sees its folder.

        nova derives instance folders from the global instances_path, which
        in one process can name only one host: the destination's, as
        pre_live_migration runs there and the source reads its disks from
        the domain XML.
        """
        self.use_host_paths(host)
        return self._live_migrate(server, host=host, **kwargs)

    def cold_migrate(self, server, host, **kwargs):
        """Cold-migrate; nova's code on the source sees its folder."""
        self.use_host_paths(server['OS-EXT-SRV-ATTR:host'])
        self.folders.alias(self.flags_my_ip(), host)
        return self._migrate_server(server, host=host, **kwargs)

    @staticmethod
    def flags_my_ip():
        from nova import conf
        return conf.CONF.my_ip

    # -- notifications -------------------------------------------------------

    def _wait_for_migration_status(self, server, expected_statuses,
                                   timeout=MIGRATION_WAIT):
        """nova's helper, with a deadline that survives a loaded machine.

        nova's own gives a migration 5 s: on two busy cores (CI runs two
        test processes) a live migration of real disks can take longer.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                return super()._wait_for_migration_status(
                    server, expected_statuses)
            except self.failureException:
                if time.monotonic() > deadline:
                    raise

    def assert_untouched_on_source(self, server, source='src'):
        """ACTIVE and running on *source*, with every local disk there."""
        server = self.api.get_server(server['id'])
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual(source, server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(
            fakelibvirt.VIR_DOMAIN_RUNNING,
            self.domain(source, server['id']).info()[0])
        for disk in self.local_disk_paths(source, server):
            self.assertTrue(os.path.exists(disk), disk)
        return server

    @staticmethod
    def precheck_notifications():
        return [(n[1]['publisher_id'], n[1]['event_type'], n[1]['payload'])
                for n in test_notifier.NOTIFICATIONS
                if n[1]['event_type'].startswith('migration_ext.precheck')]

    def last_fault(self, server):
        server = self.api.get_server(server['id'])
        return server.get('fault', {}).get('message', '')

    def action_event_details(self, server):
        """Result and error message of every event of every action."""
        texts = []
        actions = self.api.get_instance_actions(server['id'])
        for action in actions:
            detail = self.api.api_get(
                '/servers/%s/os-instance-actions/%s' % (
                    server['id'], action['request_id'])).body
            for event in detail['instanceAction'].get('events', []):
                texts.append('%s %s %s' % (event['event'], event['result'],
                                           event.get('details') or ''))
        return texts


class _InstanceRef:
    def __init__(self, uuid):
        self.uuid = uuid
        self.name = 'instance-' + uuid


def _write_random(path, mib):
    with open(path, 'r+b') as f:
        for _ in range(mib):
            f.write(os.urandom(MiB))
