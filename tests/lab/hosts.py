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
"""Make and remove the lab's compute hosts on this one machine.

A host is a network namespace ``<prefix>-<name>`` plus a private mount and
UTS namespace held by a long-lived process. Inside it run its own
virtlogd, libvirtd (QEMU/TCG, TCP on port 16509) and sshd; its own
``/run``, ``/etc/libvirt``, ``/var/lib/libvirt``, ``/var/lib/nova``,
``/etc/ssh`` and ``/etc/hosts`` are folders under ``root_dir/<name>/``.
Hosts reach each other through a bridge in the namespace ``<prefix>-sw``;
nothing is added to the machine's own network and no lab namespace has a
default route. Services on the machine's 127.0.0.1 are relayed into each
host's 127.0.0.1 through unix sockets. Every client must run inside a
host (``LabHost.run``/``popen``/``virsh``).

Usage::

    lab = Lab('/var/tmp/nmx-lab', relay_ports=[5672])
    c1 = lab.add_host('c1')
    c1.run(['ssh', lab.host('c2').address, 'hostname']).stdout
    lab.stop()

or ``python -m tests.lab.hosts up --root DIR --hosts c1,c2 [--relay P]``
and ``python -m tests.lab.hosts down --root DIR``.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid

from tests.lab import procs

REAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      'reaper.py')

SWITCH = 'sw'
BRIDGE = 'br0'
FIRST_OCTET = 10
LIBVIRT_PORT = 16509
NAME_RE = re.compile(r'^[a-z][a-z0-9]{0,11}$')
SBIN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# Private folder of root_dir/<name>/ -> where it is mounted in the host.
MOUNTS = (
    ('run', '/run'),
    ('etc-libvirt', '/etc/libvirt'),
    ('lib-libvirt', '/var/lib/libvirt'),
    ('log-libvirt', '/var/log/libvirt'),
    ('cache-libvirt', '/var/cache/libvirt'),
    ('nova', '/var/lib/nova'),
    ('etc-ssh', '/etc/ssh'),
)
# Directories of the machine copied into a host's private /etc/libvirt.
LIBVIRT_DEFAULTS = ('libvirt.conf', 'libvirt-admin.conf')
# root_dir may not lie under a path a host mounts over.
HIDDEN = ('/run', '/etc', '/var/lib/libvirt', '/var/log/libvirt',
          '/var/cache/libvirt', '/var/lib/nova', '/root')


# A lab host could not be made or did not behave.
LabError = procs.LabError


class CommandError(subprocess.CalledProcessError):
    """A command run inside a host failed; str() shows its output."""

    def __str__(self):
        return '%s\nstdout: %s\nstderr: %s' % (
            super(CommandError, self).__str__(),
            (self.stdout or '')[-2000:], (self.stderr or '')[-2000:])


# -- pure helpers -------------------------------------------------------------

def check_name(name):
    """Raise ValueError unless *name* suits a host (hostname, netns)."""
    if not NAME_RE.match(name or '') or name == SWITCH:
        raise ValueError('bad lab host name %r: want [a-z][a-z0-9]{0,11}, '
                         'not %r' % (name, SWITCH))
    return name


def netns_name(prefix, name):
    """The network namespace of host *name* (or of the switch)."""
    return '%s-%s' % (prefix, name)


def host_address(subnet, index):
    """The address of the *index*-th host (1-based): ``<subnet>.<10+i>``."""
    octet = FIRST_OCTET + index
    if index < 1 or octet > 254:
        raise ValueError('host index %r out of range' % index)
    parts = subnet.split('.')
    if len(parts) != 3 or not all(p.isdigit() and int(p) < 256
                                  for p in parts):
        raise ValueError('subnet %r is not like 10.213.0' % subnet)
    return '%s.%d' % (subnet, octet)


def free_index(used):
    """The smallest host index (from 1) not in *used*."""
    used = set(used)
    index = 1
    while index in used:
        index += 1
    host_address('0.0.0', index)
    return index


def host_uuid(prefix, name):
    """A stable, distinct, non-degenerate libvirt host_uuid for a host."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS,
                          '%s.%s.nova-migration-ext.lab' % (name, prefix)))


def render_hosts(addresses):
    """/etc/hosts for a lab host; *addresses* maps every host to its IP."""
    lines = ['127.0.0.1\tlocalhost',
             '::1\tlocalhost ip6-localhost ip6-loopback']
    for name, address in sorted(addresses.items(),
                                key=lambda item: item[1]):
        lines.append('%s\t%s' % (address, name))
    return '\n'.join(lines) + '\n'


def render_libvirtd_conf(uuid_):
    """libvirtd.conf: unauthenticated TCP (lab only), private sockets."""
    return '\n'.join([
        'listen_tcp = 1',
        'listen_tls = 0',
        'tcp_port = "%d"' % LIBVIRT_PORT,
        'auth_tcp = "none"',
        'auth_unix_ro = "none"',
        'auth_unix_rw = "none"',
        'unix_sock_group = "root"',
        'unix_sock_rw_perms = "0770"',
        'host_uuid = "%s"' % uuid_,
        'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"',
        'max_clients = 64',
        '']) + '\n'


def render_qemu_conf():
    """qemu.conf: QEMU as root, no security driver, no cgroups, no ns."""
    return '\n'.join([
        'user = "root"',
        'group = "root"',
        'dynamic_ownership = 0',
        'remember_owner = 0',
        'security_driver = "none"',
        'namespaces = [ ]',
        # Two hosts would otherwise share /sys/fs/cgroup/*/machine/...
        'cgroup_controllers = [ ]',
        'vnc_listen = "127.0.0.1"',
        '']) + '\n'


def render_sshd_config(address, log_level='INFO'):
    """sshd_config of a host; paths are as seen inside the host."""
    return '\n'.join([
        'ListenAddress %s:22' % address,
        'ListenAddress 127.0.0.1:22',
        'HostKey /etc/ssh/ssh_host_ed25519_key',
        'PidFile /run/sshd.pid',
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'AuthorizedKeysFile /etc/ssh/authorized_keys',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'UseDNS no',
        'MaxStartups 100:30:200',
        'MaxSessions 100',
        'LogLevel %s' % log_level,
        'AcceptEnv LANG LC_*',
        'Subsystem sftp /usr/lib/openssh/sftp-server',
        '']) + '\n'


def render_ssh_config(identity):
    """ssh client config: the lab key, no prompts, no known_hosts."""
    return '\n'.join([
        'Host *',
        '    IdentityFile %s' % identity,
        '    IdentitiesOnly yes',
        '    StrictHostKeyChecking no',
        '    UserKnownHostsFile /dev/null',
        '    GlobalKnownHostsFile /dev/null',
        '    LogLevel ERROR',
        '    BatchMode yes',
        '    ConnectTimeout 10',
        '']) + '\n'


# -- process helpers -------------------------------------------------------

def _run(argv, check=True, timeout=120, **kw):
    result = subprocess.run(argv, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and result.returncode:
        raise CommandError(result.returncode, argv, result.stdout,
                           result.stderr)
    return result


def _netns_inode(netns):
    try:
        return os.stat('/run/netns/' + netns).st_ino
    except OSError:
        return None


def _pids_in_netns(netns):
    """Pids of every live process whose network namespace is *netns*."""
    inode = _netns_inode(netns)
    if inode is None:
        return []
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            if os.stat('/proc/%s/ns/net' % entry).st_ino == inode:
                pids.append(int(entry))
        except OSError:
            pass
    return pids


def _pids_with_arg(fragment):
    """Pids whose command line contains *fragment* (bytes)."""
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                if fragment in f.read():
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


def _kill_all(find, grace=5.0):
    """SIGTERM what find() returns, then SIGKILL until it returns none.

    Zombies are not found (their namespaces and command lines are gone).
    """
    deadline = time.monotonic() + grace
    signum = signal.SIGTERM
    for _ in range(200):
        pids = find()
        if not pids:
            return
        if time.monotonic() > deadline:
            signum = signal.SIGKILL
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    raise LabError('processes %s do not die' % find())


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(') ', 1)[-1][:1] not in ('Z', 'X')
    except OSError:
        return False


def _write(path, text, mode=0o644):
    """Write *text* in place (keeps the inode of a bind-mounted file)."""
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)


def _ensure_libvirt_users():
    """libvirtd's QEMU driver resolves these before reading qemu.conf."""
    if _run(['getent', 'group', 'kvm'], check=False).returncode:
        _run(['groupadd', '-r', 'kvm'])
    if _run(['getent', 'group', 'libvirt-qemu'], check=False).returncode:
        _run(['groupadd', '-r', 'libvirt-qemu'])
    if _run(['getent', 'passwd', 'libvirt-qemu'], check=False).returncode:
        _run(['useradd', '-r', '-g', 'libvirt-qemu', '-G', 'kvm', '-d',
              '/var/lib/libvirt', '-s', '/usr/sbin/nologin',
              'libvirt-qemu'])


# -- hosts -------------------------------------------------------------------

class LabHost(object):
    """One compute host: namespaces, its daemons and its private files."""

    def __init__(self, lab, name, index, pid=None):
        self.lab = lab
        self.name = name
        self.index = index
        self.address = host_address(lab.subnet, index)
        self.netns = netns_name(lab.prefix, name)
        self.root = os.path.join(lab.root_dir, name)
        self.pid = pid
        self._holder = None
        self._procs = []

    def __repr__(self):
        return '<LabHost %s %s pid=%s>' % (self.name, self.address, self.pid)

    # -- state on disk, so other processes can use a running host ---------

    @property
    def state_file(self):
        return os.path.join(self.root, 'host.json')

    def _save(self):
        with open(self.state_file, 'w') as f:
            json.dump({'name': self.name, 'index': self.index,
                       'address': self.address, 'netns': self.netns,
                       'pid': self.pid}, f)

    def alive(self):
        """Whether the holder still runs in this host's network ns."""
        if not self.pid or not _alive(self.pid):
            return False
        try:
            return (os.stat('/proc/%d/ns/net' % self.pid).st_ino ==
                    _netns_inode(self.netns))
        except OSError:
            return False

    # -- running things inside ---------------------------------------------

    def _argv(self, argv):
        if not self.pid:
            raise LabError('host %s is not running' % self.name)
        return ['nsenter', '-t', str(self.pid), '-m', '-u', '-n',
                '--'] + list(argv)

    def _env(self, env):
        full = dict(os.environ)
        full.update({'HOME': '/root', 'PATH': SBIN_PATH + ':' +
                     os.environ.get('PATH', '')})
        full.update(env or {})
        return full

    def run(self, argv, check=True, timeout=60, env=None, **kw):
        """Run *argv* inside the host to its end; text output captured."""
        kw.setdefault('cwd', '/')
        kw.setdefault('stdin', subprocess.DEVNULL)
        if 'stdout' not in kw and 'stderr' not in kw:
            kw['capture_output'] = True
        kw.setdefault('text', True)
        full = self._argv(argv)
        result = subprocess.run(full, timeout=timeout, env=self._env(env),
                                **kw)
        if check and result.returncode:
            raise CommandError(result.returncode, list(argv), result.stdout,
                               result.stderr)
        return result

    def popen(self, argv, **kw):
        """Start *argv* inside the host; stop() will kill it."""
        kw.setdefault('cwd', '/')
        kw['env'] = self._env(kw.get('env'))
        process = subprocess.Popen(self._argv(argv), **kw)
        self._procs.append(process)
        return process

    def virsh(self, *args):
        """``virsh -c qemu:///system ARGS`` inside the host; its stdout."""
        return self.run(['virsh', '-c', 'qemu:///system'] + list(args),
                        timeout=300).stdout

    def tx_bytes(self):
        """Bytes this host has sent on its link to the lab's switch."""
        stats = json.loads(_run(['ip', '-n', self.netns, '-j', '-s', 'link',
                                 'show', 'eth0']).stdout)
        return stats[0]['stats64']['tx']['bytes']

    # -- making it -----------------------------------------------------------

    def _path(self, *parts):
        return os.path.join(self.root, *parts)

    def _prepare_files(self, instances_size_mb):
        lab = self.lab
        if os.path.exists(self.root):
            shutil.rmtree(self.root)
        for folder, _target in MOUNTS:
            os.makedirs(self._path(folder))
        os.makedirs(self._path('log'))
        os.makedirs(self._path('nova', 'instances'))
        for sub in ('libvirt', 'libvirt/qemu', 'sshd', 'lock'):
            os.makedirs(self._path('run', sub))
        os.chmod(self._path('run', 'sshd'), 0o755)
        etc = self._path('etc-libvirt')
        for name in LIBVIRT_DEFAULTS:
            source = os.path.join('/etc/libvirt', name)
            if os.path.exists(source):
                shutil.copy(source, etc)
        _write(os.path.join(etc, 'libvirtd.conf'), render_libvirtd_conf(
            host_uuid(lab.prefix, self.name)))
        _write(os.path.join(etc, 'qemu.conf'), render_qemu_conf())
        _write(os.path.join(etc, 'virtlogd.conf'),
               'log_outputs = "3:file:/var/log/libvirt/virtlogd.log"\n')
        # ssh: own host key, lab key for the client, authorized_keys.
        ssh = self._path('etc-ssh')
        os.chmod(ssh, 0o755)
        if os.path.exists('/etc/ssh/moduli'):
            shutil.copy('/etc/ssh/moduli', ssh)
        _run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C',
              'host-' + self.name, '-f',
              os.path.join(ssh, 'ssh_host_ed25519_key')])
        _write(os.path.join(ssh, 'sshd_config'),
               render_sshd_config(self.address))
        _write(os.path.join(ssh, 'ssh_config'),
               render_ssh_config('/etc/ssh/lab_id_ed25519'))
        key, public = lab.key_pair()
        shutil.copy(key, os.path.join(ssh, 'lab_id_ed25519'))
        os.chmod(os.path.join(ssh, 'lab_id_ed25519'), 0o600)
        _write(os.path.join(ssh, 'authorized_keys'), public, 0o600)
        # The same as ~/.ssh, mounted over /root/.ssh if the machine has
        # one (its own must not apply inside; it is never modified).
        dot = self._path('dotssh')
        os.makedirs(dot, 0o700)
        shutil.copy(key, os.path.join(dot, 'id_ed25519'))
        os.chmod(os.path.join(dot, 'id_ed25519'), 0o600)
        _write(os.path.join(dot, 'id_ed25519.pub'), public)
        _write(os.path.join(dot, 'authorized_keys'), public, 0o600)
        _write(os.path.join(dot, 'config'),
               render_ssh_config('~/.ssh/id_ed25519'), 0o600)
        _write(self._path('hosts'), render_hosts(lab.addresses()))
        # libvirtd probes QEMU for ~6 s unless its cache is valid; a
        # cache from a previous host of this machine is (it checks).
        caps = self._path('cache-libvirt', 'qemu', 'capabilities')
        os.makedirs(caps)
        if os.path.isdir(lab.caps_cache):
            for entry in os.listdir(lab.caps_cache):
                shutil.copy(os.path.join(lab.caps_cache, entry), caps)
        if instances_size_mb:
            image = self._path('instances.img')
            with open(image, 'wb') as f:
                f.truncate(int(instances_size_mb) * 1024 * 1024)
            _run(['mkfs.ext4', '-q', '-F', '-L', 'nmx-' + self.name,
                  image])

    def _make_network(self):
        lab = self.lab
        switch = netns_name(lab.prefix, SWITCH)
        veth = 'v%d' % self.index
        _run(['ip', 'netns', 'add', self.netns])
        _run(['ip', '-n', switch, 'link', 'del', veth], check=False)
        _run(['ip', '-n', switch, 'link', 'add', veth, 'type', 'veth',
              'peer', 'name', 'eth0', 'netns', self.netns])
        _run(['ip', '-n', switch, 'link', 'set', veth, 'master', BRIDGE,
              'up'])
        _run(['ip', '-n', self.netns, 'link', 'set', 'lo', 'up'])
        _run(['ip', '-n', self.netns, 'addr', 'add',
              self.address + '/24', 'dev', 'eth0'])
        _run(['ip', '-n', self.netns, 'link', 'set', 'eth0', 'up'])
        routes = _run(['ip', '-n', self.netns, 'route', 'show',
                       'default']).stdout.strip()
        if routes:
            raise LabError('%s has a default route: %s' % (self.netns,
                                                           routes))

    def _start_holder(self):
        own_mnt = os.stat('/proc/self/ns/mnt').st_ino
        self._holder = subprocess.Popen(
            ['nsenter', '--net=/run/netns/' + self.netns, '--', 'unshare',
             '--mount', '--uts', '--propagation', 'private', '--',
             'sleep', 'infinity'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, cwd='/')
        self.pid = self._holder.pid
        deadline = time.monotonic() + 10
        while True:
            try:
                with open('/proc/%d/comm' % self.pid) as f:
                    comm = f.read().strip()
                if (comm == 'sleep' and os.stat(
                        '/proc/%d/ns/mnt' % self.pid).st_ino != own_mnt):
                    break
            except OSError:
                pass
            if self._holder.poll() is not None or \
                    time.monotonic() > deadline:
                raise LabError('namespace holder of %s did not start'
                               % self.name)
            time.sleep(0.02)
        self._save()

    def _mount(self, instances_size_mb):
        for _folder, target in MOUNTS:
            # Empty mount points in the machine's tree (Debian ships no
            # /var/lib/libvirt without libvirt-daemon-system).
            os.makedirs(target, exist_ok=True)
        # Copies of the machine's /run/netns mounts would pin every lab
        # network namespace for as long as this host lives.
        script = ['set -e', 'hostname %s' % self.name,
                  'if mountpoint -q /run/netns; then umount -l /run/netns; fi']
        for folder, target in MOUNTS:
            script.append('mount --bind %s %s' % (self._path(folder),
                                                  target))
        script.append('mount --bind %s /etc/hosts' % self._path('hosts'))
        # A sysfs of the host's own network namespace (as `ip netns exec`
        # mounts), keeping the machine's cgroup mounts visible below it.
        script += ['mkdir -p /run/.sys', 'mount -t sysfs sysfs /run/.sys',
                   'mount --rbind /sys/fs/cgroup /run/.sys/fs/cgroup',
                   'mount --move /run/.sys /sys', 'rmdir /run/.sys']
        if os.path.isdir('/root/.ssh'):
            script.append('mount --bind %s /root/.ssh' % self._path(
                'dotssh'))
        if instances_size_mb:
            script.append('mount -o loop %s /var/lib/nova/instances'
                          % self._path('instances.img'))
        self.run(['sh', '-c', '\n'.join(script)])

    def start_sshd(self, wait=True):
        """Start the host's sshd (after :meth:`stop_sshd`, or at start)."""
        self.run(['/usr/sbin/sshd', '-f', '/etc/ssh/sshd_config', '-E',
                  os.path.join(self._path('log'), 'sshd.log')])
        if wait:
            self._wait_port(self.address, 22)

    def stop_sshd(self):
        """Stop the host's sshd: new ssh connections are refused."""
        self.run(['sh', '-c', 'pid=$(cat /run/sshd.pid) && kill $pid && '
                  'while kill -0 $pid 2>/dev/null; do sleep 0.2; done'],
                 timeout=30)

    def _start_daemons(self):
        self.run(['virtlogd', '-d'])
        # Its QEMU probe records the CPUID of the CPU it ran on; pinned,
        # every host's probe matches and the capabilities cache is reused.
        # (libvirt gives each QEMU all CPUs again.)
        # Below a subreaper: each QEMU's exit is seen at once (reaper.py).
        self.run(['taskset', '-c', '0', sys.executable, REAPER, 'libvirtd',
                  '-d', '--listen'])
        self.start_sshd(wait=False)
        deadline = time.monotonic() + 120
        while True:
            result = self.run(['virsh', '-c', 'qemu:///system',
                               'capabilities'], check=False, timeout=120)
            if not result.returncode:
                break
            if time.monotonic() > deadline:
                raise LabError('libvirtd of %s does not answer: %s\n%s' % (
                    self.name, result.stderr, procs.tail(self._path(
                        'log-libvirt', 'libvirtd.log'))))
            time.sleep(0.5)
        for port in (LIBVIRT_PORT, 22):
            self._wait_port(self.address, port)
        caps = self._path('cache-libvirt', 'qemu', 'capabilities')
        if not os.path.isdir(self.lab.caps_cache) and os.listdir(caps):
            shutil.copytree(caps, self.lab.caps_cache)

    def _wait_port(self, address, port, timeout=30):
        deadline = time.monotonic() + timeout
        probe = 'exec 3<>/dev/tcp/%s/%d' % (address, port)
        while self.run(['bash', '-c', probe], check=False).returncode:
            if time.monotonic() > deadline:
                raise LabError('%s: nothing listens on %s:%d' % (
                    self.name, address, port))
            time.sleep(0.2)

    def start_relay(self, port):
        """Serve 127.0.0.1:*port* here from the machine's, via a socket."""
        log = open(self._path('log', 'relay-%d.log' % port), 'ab')
        with log:
            self.popen(['socat',
                        'TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr' % port,
                        'UNIX-CONNECT:%s' % self.lab.relay_socket(port)],
                       stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                       start_new_session=True)
        self._wait_port('127.0.0.1', port)

    def start(self, instances_size_mb=None):
        """Create the host's namespaces, files and daemons."""
        self._prepare_files(instances_size_mb)
        self._make_network()
        self._start_holder()
        self._mount(instances_size_mb)
        self._start_daemons()
        for port in self.lab.relay_ports:
            self.start_relay(port)

    # -- removing it ----------------------------------------------------------

    def stop(self):
        """Kill everything in the host, drop its namespaces and loop."""
        cleanup_host(self.lab.prefix, self.lab.root_dir, self.name,
                     index=self.index)
        for process in self._procs + [self._holder]:
            if process is not None:
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
        self._procs = []
        self._holder = None
        self.pid = None
        if self in self.lab.hosts:
            self.lab.hosts.remove(self)
            self.lab.write_hosts_files()


def cleanup_host(prefix, root_dir, name, index=None):
    """Remove whatever is left of host *name*, running or crashed."""
    netns = netns_name(prefix, name)
    _kill_all(lambda: _pids_in_netns(netns))
    _run(['ip', 'netns', 'del', netns], check=False)
    if index is not None:
        _run(['ip', '-n', netns_name(prefix, SWITCH), 'link', 'del',
              'v%d' % index], check=False)
    image = os.path.join(root_dir, name, 'instances.img')
    if os.path.exists(image):
        # The loop device clears itself once its mount namespace is gone.
        deadline = time.monotonic() + 10
        while True:
            devices = [line.split(':')[0] for line in _run(
                ['losetup', '-j', image]).stdout.splitlines()]
            if not devices:
                break
            if time.monotonic() > deadline:
                for device in devices:
                    _run(['losetup', '-d', device], check=False)
                break
            time.sleep(0.2)
    try:
        os.unlink(os.path.join(root_dir, name, 'host.json'))
    except OSError:
        pass


class Lab(object):
    """The set of lab hosts under *root_dir*, named ``<prefix>-*``."""

    def __init__(self, root_dir, prefix='nmx', subnet='10.213.0',
                 relay_ports=()):
        self.root_dir = os.path.abspath(root_dir)
        for hidden in HIDDEN:
            if (self.root_dir + '/').startswith(hidden + '/'):
                raise ValueError('root_dir %s is hidden inside hosts by %s'
                                 % (root_dir, hidden))
        if not re.match(r'^[a-z][a-z0-9]{0,7}$', prefix):
            raise ValueError('bad prefix %r' % prefix)
        host_address(subnet, 1)
        self.prefix = prefix
        self.subnet = subnet
        self.relay_ports = [int(p) for p in relay_ports]
        self.hosts = []
        self._relays = {}
        self._load()

    def __repr__(self):
        return '<Lab %s %s>' % (self.root_dir, self.hosts)

    def _load(self):
        """Adopt hosts a previous process left running under root_dir."""
        if not os.path.isdir(self.root_dir):
            return
        known = {h.name for h in self.hosts}
        for name in sorted(os.listdir(self.root_dir)):
            if name in known:
                continue
            try:
                with open(os.path.join(self.root_dir, name,
                                       'host.json')) as f:
                    state = json.load(f)
            except (OSError, ValueError):
                continue
            host = LabHost(self, state['name'], state['index'],
                           state['pid'])
            if host.alive():
                self.hosts.append(host)

    def addresses(self):
        """Every host's name -> address."""
        return {h.name: h.address for h in self.hosts}

    def host(self, name):
        """The running host *name* (also one another process started)."""
        for host in self.hosts:
            if host.name == name:
                return host
        self._load()
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError('no lab host %r under %s' % (name, self.root_dir))

    def key_pair(self):
        """The lab's ssh key (path) and its public half (text)."""
        key = os.path.join(self.root_dir, 'ssh', 'id_ed25519')
        if not os.path.exists(key):
            os.makedirs(os.path.dirname(key), mode=0o700, exist_ok=True)
            _run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C',
                  'nmx-lab', '-f', key])
        with open(key + '.pub') as f:
            return key, f.read()

    def _ensure_switch(self):
        switch = netns_name(self.prefix, SWITCH)
        if _netns_inode(switch) is None:
            _run(['ip', 'netns', 'add', switch])
            _run(['ip', '-n', switch, 'link', 'add', BRIDGE, 'type',
                  'bridge'])
            _run(['ip', '-n', switch, 'link', 'set', BRIDGE, 'up'])
            _run(['ip', '-n', switch, 'link', 'set', 'lo', 'up'])

    def add_host(self, name, instances_size_mb=None):
        """Create and start host *name*; replaces a leftover of that name."""
        check_name(name)
        for host in list(self.hosts):
            if host.name == name:
                host.stop()
        cleanup_host(self.prefix, self.root_dir, name)
        os.makedirs(self.root_dir, exist_ok=True)
        _ensure_libvirt_users()
        self._ensure_switch()
        for port in self.relay_ports:
            self._start_root_relay(port)
        host = LabHost(self, name, free_index(h.index for h in self.hosts))
        self.hosts.append(host)
        try:
            host.start(instances_size_mb)
        except Exception:
            host.stop()
            raise
        self.write_hosts_files()
        return host

    def write_hosts_files(self):
        """Rewrite every host's /etc/hosts (in place: it is mounted)."""
        for host in self.hosts:
            _write(host._path('hosts'), render_hosts(self.addresses()))

    # -- relays ------------------------------------------------------------

    @property
    def caps_cache(self):
        """Where the first host's QEMU capabilities are kept for others."""
        return os.path.join(self.root_dir, 'qemu-caps')

    def relay_socket(self, port):
        return os.path.join(self.root_dir, 'relay', '%d.sock' % port)

    def _start_root_relay(self, port):
        sock = self.relay_socket(port)
        process = self._relays.get(port)
        if process is not None and process.poll() is None:
            return
        _kill_all(lambda: _pids_with_arg(('UNIX-LISTEN:%s,' % sock)
                                         .encode()))
        os.makedirs(os.path.dirname(sock), exist_ok=True)
        if os.path.exists(sock):
            os.unlink(sock)
        log = open(os.path.join(os.path.dirname(sock), '%d.log' % port),
                   'ab')
        with log:
            self._relays[port] = subprocess.Popen(
                ['socat', 'UNIX-LISTEN:%s,fork,reuseaddr,mode=600' % sock,
                 'TCP:127.0.0.1:%d' % port], stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            if self._relays[port].poll() is not None or \
                    time.monotonic() > deadline:
                raise LabError('relay of port %d did not start' % port)
            time.sleep(0.05)

    def add_relay(self, port):
        """Relay the machine's 127.0.0.1:*port* into every host."""
        port = int(port)
        if port not in self.relay_ports:
            self.relay_ports.append(port)
        self._start_root_relay(port)
        for host in self.hosts:
            host.start_relay(port)

    # -- removing it all ---------------------------------------------------

    def stop(self):
        """Remove every host and relay, also a crashed run's leftovers."""
        names = {h.name: h.index for h in self.hosts}
        if os.path.isdir(self.root_dir):
            for name in os.listdir(self.root_dir):
                if os.path.exists(os.path.join(self.root_dir, name,
                                               'host.json')):
                    names.setdefault(name, None)
        for host in list(self.hosts):
            host.stop()
        for name, index in names.items():
            cleanup_host(self.prefix, self.root_dir, name, index)
        leftover = [line.split()[0] for line in _run(
            ['ip', 'netns', 'list']).stdout.splitlines() if line.strip()]
        for netns in leftover:
            if netns.startswith(self.prefix + '-'):
                name = netns[len(self.prefix) + 1:]
                if name != SWITCH:
                    cleanup_host(self.prefix, self.root_dir, name)
        switch = netns_name(self.prefix, SWITCH)
        _kill_all(lambda: _pids_in_netns(switch))
        _run(['ip', 'netns', 'del', switch], check=False)
        relay_dir = os.path.join(self.root_dir, 'relay') + '/'
        _kill_all(lambda: _pids_with_arg(
            ('UNIX-LISTEN:%s' % relay_dir).encode()))
        for process in self._relays.values():
            process.poll()
        self._relays = {}
        if os.path.isdir(relay_dir):
            for entry in os.listdir(relay_dir):
                if entry.endswith('.sock'):
                    os.unlink(os.path.join(relay_dir, entry))
        self.hosts = []
        _forget_netns_dir()


def _is_mount(path):
    """Whether *path* is a mount point (also a bind mount of one fs)."""
    with open('/proc/self/mountinfo') as f:
        return any(line.split()[4] == path for line in f)


def _forget_netns_dir():
    """Unmount iproute2's /run/netns once no namespace is left in it."""
    for _ in range(5):  # iproute2 may have stacked its bind mounts
        try:
            if os.listdir('/run/netns') or not _is_mount('/run/netns'):
                return
        except OSError:
            return
        # Not lazy: fails harmlessly if someone just added one.
        if _run(['umount', '/run/netns'], check=False).returncode:
            return


# -- command line -----------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m tests.lab.hosts',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('action', choices=('up', 'down'))
    parser.add_argument('--root', default='/var/tmp/nmx-lab')
    parser.add_argument('--prefix', default='nmx')
    parser.add_argument('--subnet', default='10.213.0')
    parser.add_argument('--hosts', default='c1,c2',
                        help='comma-separated host names')
    parser.add_argument('--relay', type=int, action='append', default=[],
                        help='a port of 127.0.0.1 to relay (repeatable)')
    parser.add_argument('--instances-size-mb', default='',
                        help='name=MB,... hosts with a small instances fs')
    args = parser.parse_args(argv)
    lab = Lab(args.root, args.prefix, args.subnet, args.relay)
    if args.action == 'down':
        lab.stop()
        return 0
    sizes = dict(item.split('=') for item in
                 args.instances_size_mb.split(',') if item)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    try:
        lab.stop()
        for name in args.hosts.split(','):
            if stop:
                break
            host = lab.add_host(name, sizes.get(name) and int(sizes[name]))
            print('%s %s netns=%s pid=%s' % (host.name, host.address,
                                             host.netns, host.pid),
                  flush=True)
        if not stop:
            print('lab up; Ctrl-C or SIGTERM stops it', flush=True)
        while not stop:
            time.sleep(0.5)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        lab.stop()
        print('lab down', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
