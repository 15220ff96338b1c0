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
"""Loop devices over sparse files, with losetup (needs root).

The Cinder stand-in's only storage backend: /dev is shared by every lab
host, so a loop device set up here is a block device on each of them.
"""

import json
import os
import subprocess


def _losetup(*args):
    return subprocess.run(('losetup',) + args, check=True,
                          capture_output=True, text=True).stdout


def devices():
    """``{device: backing file}`` of every loop device in use."""
    data = json.loads(_losetup('--list', '--json', '--output',
                               'NAME,BACK-FILE') or '{}')
    return {entry['name']: entry.get('back-file') or ''
            for entry in data.get('loopdevices', [])}


def find(path):
    """A loop device backed by *path*, or None."""
    path = os.path.realpath(path)
    for device, backing in sorted(devices().items()):
        if backing == path:
            return device
    return None


def attach(path):
    """The loop device backed by *path*, set up if there is none."""
    return find(path) or _losetup('--find', '--show', path).strip()


def detach(path):
    """Detach every loop device backed by *path*."""
    path = os.path.realpath(path)
    for device, backing in devices().items():
        if backing == path:
            _losetup('--detach', device)


def create_file(path, size):
    """A sparse file of *size* bytes at *path*."""
    with open(path, 'wb') as f:
        f.truncate(size)
