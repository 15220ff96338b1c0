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
"""A GlusterFS volume that lab hosts share as their instances path.

Live migration without a disk copy needs storage both hosts see as one.
libvirt checks that it really is a shared filesystem (NFS, GlusterFS,
CephFS...), not a folder bind-mounted into two hosts, and this machine's
kernel has no NFS client. GlusterFS runs in user space and mounts over
FUSE: the first host of the group serves the volume from a brick of its
own, and every host of the group mounts it at ``/var/lib/nova/instances``
with direct I/O, so nova gives the disks ``cache=none`` (which libvirt
wants of a shared disk). All of it runs inside the lab's namespaces.
"""

import os
import time

from tests.lab import procs

VOLUME = 'nmx-instances'
INSTANCES = '/var/lib/nova/instances'


def _private(host, folder, target):
    """A folder of *host*'s own mounted over a machine folder *target*."""
    path = os.path.join(host.root, folder)
    os.makedirs(path, exist_ok=True)
    return 'mkdir -p %s && mount --bind %s %s' % (target, path, target)


def serve(host):
    """Start glusterd in *host* and a volume on a brick of its own."""
    brick = os.path.join(host.root, 'brick')
    os.makedirs(brick, exist_ok=True)
    host.run(['sh', '-c', ' && '.join([
        _private(host, 'glusterd', '/var/lib/glusterd'),
        _private(host, 'glusterfs-log', '/var/log/glusterfs'),
        'glusterd -p /run/glusterd.pid'])], timeout=60)
    deadline = time.monotonic() + 60
    while host.run(['gluster', 'peer', 'status'], check=False,
                   timeout=30).returncode:
        if time.monotonic() > deadline:
            raise procs.LabError('glusterd did not start in %s' % host.name)
        time.sleep(0.5)
    gluster = ['gluster', '--mode=script', 'volume']
    host.run(gluster + ['create', VOLUME, '%s:%s' % (host.name, brick),
                        'force'], timeout=60)
    host.run(gluster + ['start', VOLUME], timeout=60)


def mount(host, server):
    """Mount the volume served by *server* as *host*'s instances path."""
    host.run(['mount', '-t', 'glusterfs', '-o', 'direct-io-mode=enable',
              '%s:/%s' % (server.name, VOLUME), INSTANCES], timeout=60)
    fs_type = host.run(['stat', '-f', '-c', '%T', INSTANCES],
                       timeout=30).stdout.strip()
    if fs_type != 'fuseblk' and 'fuse' not in fs_type:
        raise procs.LabError('%s: %s is %s, not the GlusterFS volume'
                             % (host.name, INSTANCES, fs_type))


def share_instances(hosts):
    """Give *hosts* one instances path: a volume the first one serves."""
    serve(hosts[0])
    for host in hosts:
        mount(host, hosts[0])


def bytes_served_to(server, client):
    """Bytes *server*'s brick has sent to *client*'s GlusterFS mount."""
    out = server.run(['gluster', 'volume', 'status', VOLUME, 'clients'],
                     timeout=60).stdout
    address = client.address + ':'
    return sum(int(line.split()[2]) for line in out.splitlines()
               if line.startswith(address))
