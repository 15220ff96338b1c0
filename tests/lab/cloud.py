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
"""The whole lab: control plane, compute hosts, guest images, flavors.

``Cloud(root).up()`` brings it up and leaves it running (its processes
are detached); any later process reaches it with ``Cloud(root)`` and
``down()`` ends it. The compute hosts are network + mount namespaces
(``tests.lab.hosts``), each running libvirtd, virtlogd, sshd and a real
``nova-compute`` with ``MigrationExtLibvirtDriver``.
"""

import json
import os
import shutil
import subprocess
import time

from tests.lab import config
from tests.lab import control
from tests.lab import hosts as lab_hosts
from tests.lab import procs
from tests.lab import sharedfs

REPO = config.REPO
DEFAULT_ROOT = os.environ.get('NMX_LAB_ROOT', '/var/tmp/nmx-lab')
COMPUTES = ('c1', 'c2', 'c3')
# A host whose instances filesystem is a small loop-mounted ext4 (a
# really too small destination); placement still sees 1 GiB there.
SMALL_HOST = 'c4'
SMALL_HOST_MB = 1200
# Two hosts whose instances path is one GlusterFS volume (sharedfs.py),
# for live migration without a disk copy.
SHARED_HOSTS = ('c5', 'c6')
RELAYED = ('keystone', 'glance', 'placement', 'cinder', 'neutron', 'rabbit')
MICROVERSION = '2.95'
FLAVORS = {
    # name: (vcpus, ram MiB, root GiB, ephemeral GiB)
    'lab.small': (1, 192, 1, 0),
    'lab.eph': (1, 192, 1, 1),
    'lab.big': (1, 192, 4, 0),
}


class Cloud(object):
    """The lab under *root* (``/var/tmp/nmx-lab`` by default)."""

    def __init__(self, root=DEFAULT_ROOT, token_expiration=3600):
        self.root = root
        self.repo = REPO
        os.makedirs(root, exist_ok=True)
        self.supervisor = procs.Supervisor(root)
        self.control = control.ControlPlane(root, self.supervisor,
                                            token_expiration)
        self.lab = lab_hosts.Lab(
            os.path.join(root, 'hosts'),
            relay_ports=[config.PORTS[name] for name in RELAYED])
        self.state_file = os.path.join(root, 'lab.json')

    # -- state ----------------------------------------------------------

    def state(self):
        try:
            with open(self.state_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _save(self, **values):
        state = self.state()
        state.update(values)
        with open(self.state_file, 'w') as f:
            json.dump(state, f, indent=2, sort_keys=True)

    def host(self, name):
        return self.lab.host(name)

    # -- guest -------------------------------------------------------------

    def guest_dir(self):
        return os.path.join(self.root, 'guest')

    def build_guest(self):
        procs.run([os.path.join(REPO, 'tests', 'lab', 'guest', 'build.sh'),
                   self.guest_dir()], timeout=900)

    # -- computes ----------------------------------------------------------

    def compute_config(self, name):
        return os.path.join(self.root, 'computes', name, 'nova.conf')

    def start_compute(self, name, migration_ext=None, service_user=True,
                      extra=None, wait=True):
        """(Re)write *name*'s nova.conf and (re)start its nova-compute.

        With *wait*, returns once it serves RPC.
        """
        host = self.host(name)
        mark = self.supervisor.log_mark('compute-' + name)
        path = self.compute_config(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # The leftover sweep looks at every resource update (20 s here)
        # and acts 10 s after a migration's last change, not 10 minutes.
        ext = {'cold_copy_remote_python': self._remote_python(),
               'resize_leftovers_interval': 0,
               'resize_leftovers_grace': 10}
        ext.update(migration_ext or {})
        with open(path, 'w') as f:
            f.write(config.nova_compute_conf(
                path, name, host.address, migration_ext=ext,
                service_user=service_user, extra=extra))
        self.supervisor.start(
            'compute-' + name,
            [config.venv_bin('nova-compute'), '--config-file', path],
            env={'PATH': os.path.dirname(config.venv_bin('python')) + ':' +
                 os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin'),
                 'PYTHONPATH': REPO},
            popen=host.popen)
        if wait:
            self.supervisor.wait_log(
                'compute-' + name,
                'Creating RPC server for service: nova-compute', mark,
                timeout=180, what='serving')

    def _remote_python(self):
        """The Python the disk copy's receiver runs with over ssh.

        The lab's nova-computes run this checkout (PYTHONPATH); so does
        the receiver they start on another host.
        """
        path = os.path.join(self.root, 'computes', 'remote-python')
        with open(path, 'w') as f:
            f.write('#!/bin/sh\nPYTHONPATH=%s exec %s "$@"\n' % (
                REPO, config.venv_bin('python')))
        os.chmod(path, 0o755)
        return path

    def stop_compute(self, name, grace=10):
        self.supervisor.stop('compute-' + name, grace=grace)

    def compute_log(self, name):
        return self.supervisor.log_path('compute-' + name)

    def wait_computes(self, names, timeout=300):
        """Wait until nova lists *names* up and placement knows them."""
        nova = self.nova()
        deadline = time.monotonic() + timeout
        while True:
            for name in names:
                self.supervisor.check('compute-' + name)
            up = {s.host for s in nova.services.list(binary='nova-compute')
                  if s.state == 'up'}
            hypervisors = {h.hypervisor_hostname
                           for h in nova.hypervisors.list()}
            if set(names) <= up and len(hypervisors) >= len(names):
                return
            if time.monotonic() > deadline:
                raise procs.LabError(
                    'computes %s not up within %ds (up: %s, hypervisors: '
                    '%s)' % (names, timeout, sorted(up), sorted(hypervisors)))
            time.sleep(2)

    # -- clients -----------------------------------------------------------

    def session(self):
        return self.control.admin_session()

    def nova(self, session=None):
        from novaclient import client
        return client.Client(MICROVERSION, session=session or self.session())

    def glance(self, session=None):
        from glanceclient import client
        return client.Client('2', session=session or self.session())

    def openstack(self, *args, timeout=120):
        """The ``openstack`` CLI as admin; its stdout."""
        env = {
            'OS_AUTH_URL': config.keystone_url(), 'OS_USERNAME': 'admin',
            'OS_PASSWORD': config.ADMIN_PASSWORD,
            'OS_PROJECT_NAME': 'admin', 'OS_USER_DOMAIN_ID': 'default',
            'OS_PROJECT_DOMAIN_ID': 'default',
            'OS_IDENTITY_API_VERSION': '3',
            'OS_COMPUTE_API_VERSION': MICROVERSION,
            'PYTHONWARNINGS': 'ignore'}
        return procs.run([config.venv_bin('openstack')] + list(args),
                         timeout=timeout, env=env)

    # -- images and flavors ------------------------------------------------

    def upload_image(self, name, path, disk_format, container_format,
                     **properties):
        glance = self.glance()
        image = glance.images.create(name=name, disk_format=disk_format,
                                     container_format=container_format,
                                     visibility='public', **properties)
        # With its length, not chunked: what uWSGI serves best.
        with open(path, 'rb') as f:
            self.session().put(
                '/v2/images/%s/file' % image.id, data=f.read(),
                headers={'Content-Type': 'application/octet-stream'},
                endpoint_filter={'service_type': 'image',
                                 'interface': 'public'})
        return image.id

    def make_root_image(self, name, fill_mb=0, guest_options=''):
        """A qcow2 root disk image booting the lab guest.

        Its base file on a host is ``_base/<sha1(image id)>``, one per
        image; *fill_mb* MiB of data (after the 32 MiB the guest may
        write) make that file really take that much space.
        *guest_options* go on the guest's kernel command line
        (``tests/lab/guest/README.md``).
        """
        state = self.state()
        path = os.path.join(self.root, 'images', name + '.qcow2')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        procs.run(['qemu-img', 'create', '-q', '-f', 'qcow2', path,
                   '%dM' % max(64, 40 + fill_mb)])
        if fill_mb:
            procs.run(['qemu-io', '-f', 'qcow2', '-c',
                       'write -P 0x5a 32M %dM' % fill_mb, path])
        return self.upload_image(
            name, path, 'qcow2', 'bare',
            kernel_id=state['images']['kernel'],
            ramdisk_id=state['images']['ramdisk'],
            os_command_line=('root=/dev/vda console=tty0 console=ttyS0 '
                             'nmx_claim_all=1 ' + guest_options).strip(),
            hw_disk_bus='virtio')

    def setup_images_and_flavors(self):
        guest = self.guest_dir()
        kernel = self.upload_image('nmx-kernel', os.path.join(
            guest, 'vmlinuz'), 'aki', 'aki')
        ramdisk = self.upload_image('nmx-ramdisk', os.path.join(
            guest, 'initrd.img'), 'ari', 'ari')
        self._save(images={'kernel': kernel, 'ramdisk': ramdisk})
        root = self.make_root_image('nmx-guest')
        self._save(images={'kernel': kernel, 'ramdisk': ramdisk,
                           'guest': root})
        nova = self.nova()
        for name, (vcpus, ram, disk, ephemeral) in FLAVORS.items():
            nova.flavors.create(name, ram, vcpus, disk, ephemeral=ephemeral)

    # -- all of it -----------------------------------------------------------

    def up(self, computes=COMPUTES + (SMALL_HOST,) + SHARED_HOSTS,
           log=print):
        """Bring the whole lab up; returns the seconds it took."""
        start = time.monotonic()
        self.down()
        shutil.rmtree(self.supervisor.log_dir, ignore_errors=True)
        os.makedirs(self.supervisor.log_dir)
        log('lab: guest kernel and initramfs')
        self.build_guest()
        self.control.up(log=log)
        log('lab: compute hosts %s' % ', '.join(computes))
        for name in computes:
            self.lab.add_host(name, instances_size_mb=(
                SMALL_HOST_MB if name == SMALL_HOST else None))
        shared = [self.host(name) for name in SHARED_HOSTS
                  if name in computes]
        if shared:
            log('lab: %s share a GlusterFS instances path'
                % ', '.join(h.name for h in shared))
            sharedfs.share_instances(shared)
        for name in computes:
            self.start_compute(name, wait=False)
        self._save(computes=list(computes), started=time.time())
        log('lab: images and flavors')
        self.setup_images_and_flavors()
        self.wait_computes(computes)
        elapsed = time.monotonic() - start
        self._save(bring_up_seconds=round(elapsed, 1))
        log('lab: up in %.0f s' % elapsed)
        return elapsed

    def down(self):
        for name in self.supervisor.names():
            if name.startswith('compute-'):
                self.supervisor.stop(name, grace=5)
        self.lab.stop()
        self.control.down()
        self.supervisor.stop_all()
        try:
            os.unlink(self.state_file)
        except FileNotFoundError:
            pass

    def run_in(self, name, argv, timeout=120):
        """Run *argv* inside host *name*; its stdout."""
        result = self.host(name).run(argv, check=False, timeout=timeout)
        if result.returncode:
            raise procs.LabError('%s on %s failed: %s%s' % (
                ' '.join(argv), name, result.stdout, result.stderr))
        return result.stdout

    def logs_with(self, pattern):
        """Lines of every lab log that contain *pattern*."""
        result = subprocess.run(
            ['grep', '-rh', '--', pattern, self.supervisor.log_dir],
            capture_output=True, text=True)
        return result.stdout.splitlines()
