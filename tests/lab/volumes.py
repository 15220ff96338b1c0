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
"""Volumes of the lab's Cinder stand-in, attached through nova's API."""

import json
import os
import time

from tests.lab import procs

MICROVERSION = '3.44'
SIZE_MIB_KEY = 'standin_size_mib'


class Volumes(object):
    """Create, attach, find and delete volumes as an admin would."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.session = cloud.session()
        self.nova = cloud.nova(self.session)

    def _call(self, method, path, **kwargs):
        response = self.session.request(
            path, method, endpoint_filter={
                'service_type': 'block-storage', 'interface': 'public'},
            headers={'OpenStack-API-Version': 'volume ' + MICROVERSION},
            raise_exc=True, **kwargs)
        return response.json() if response.content else None

    def create(self, size_mib=64, name='lab-volume'):
        volume = self._call('POST', '/volumes', json={'volume': {
            'size': 1, 'name': name,
            'metadata': {SIZE_MIB_KEY: str(size_mib)}}})['volume']
        self.wait(volume['id'], 'available')
        return volume['id']

    def get(self, volume_id):
        return self._call('GET', '/volumes/%s' % volume_id)['volume']

    def wait(self, volume_id, status, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            volume = self.get(volume_id)
            if volume['status'] == status:
                return volume
            if time.monotonic() > deadline:
                raise procs.LabError('volume %s is %s, not %s' % (
                    volume_id, volume['status'], status))
            time.sleep(1)

    def attach(self, server, volume_id):
        self.nova.volumes.create_server_volume(server.id, volume_id)
        return self.wait(volume_id, 'in-use')

    def create_and_attach(self, server, size_mib=64):
        volume_id = self.create(size_mib)
        self.attach(server, volume_id)
        return volume_id

    def device(self, volume_id):
        """The loop device behind *volume_id*.

        Read from the stand-in's own state: what a storage admin would
        look up on the array, not something Cinder's API shows.
        """
        path = os.path.join(self.cloud.root, 'control', 'cinder',
                            'cinder.json')
        with open(path) as f:
            device = json.load(f)['volumes'][volume_id]['device']
        if not device:
            raise procs.LabError('volume %s has no loop device' % volume_id)
        return device

    def delete(self, volume_id):
        """Delete *volume_id* once no server holds it (best effort).

        Delete its servers first: a detach from a running lab guest is
        slow (the guest keeps reopening its disks).
        """
        try:
            volume = self.get(volume_id)
            if volume.get('attachments'):
                self.wait(volume_id, 'available', timeout=180)
            self._call('DELETE', '/volumes/%s' % volume_id)
        except Exception:
            pass
