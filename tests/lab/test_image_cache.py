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
"""The image cache manager runs while a VM waits in VERIFY_RESIZE.

Nova's cache manager counts as users of a base file only the instances
whose ``host`` is this host. Once a cold migration finishes, the VM's
host is the destination, so on the source the base file under the
``<uuid>_resize`` disks looks unused; for an image deleted from Glance
it is the only copy a revert can use. Both hosts here run the cache
manager every few seconds and remove unused base files at once (age 0),
the worst case of an operator's settings. With our protection
(``[migration_ext] protect_in_flight_base_images``) the source keeps the
file and the revert brings the VM back with its data; the control run,
with the protection off, shows nova removing it. Measured there: the
file can even go between the source's power-off and the destination's
fetch from the source (nova's ``fallback_from_host``), and the move ends
in ERROR with the only copy of the base gone.
"""

import time

import testtools.content

from tests.lab import base

HOSTS = ('c1', 'c2')
PASS_SECONDS = 3


def eager_image_cache(protect):
    """nova.conf sections: the cache manager removes unused bases at once."""
    return {
        'DEFAULT': {'periodic_fuzzy_delay': '0'},
        'image_cache': {
            'manager_interval': str(PASS_SECONDS),
            'remove_unused_base_images': 'True',
            'remove_unused_original_minimum_age_seconds': '0',
            'remove_unused_resized_minimum_age_seconds': '0',
        },
        'migration_ext': {
            'protect_in_flight_base_images': str(protect),
        },
    }


class ImageCacheDuringResizeTest(base.LabTestCase):

    def restart_computes(self, protect):
        for host in HOSTS:
            self.addCleanup(self.cloud.start_compute, host)
            self.cloud.start_compute(host, extra=eager_image_cache(protect))

    def wait_for_passes(self, host, mark, passes=2):
        """*host*'s log since *mark* once it shows *passes* cache passes."""
        deadline = time.monotonic() + 30 * PASS_SECONDS
        while time.monotonic() < deadline:
            log = self.compute_log_since(host, mark)
            if log.count('Verify base images') >= passes:
                return log
            time.sleep(1)
        self.fail('%s ran fewer than %d image cache passes in %d s' % (
            host, passes, 30 * PASS_SECONDS))

    def removal_line(self):
        return ('Removing base, swap or ephemeral file: '
                '/var/lib/nova/instances/_base/%s' % self.base_name)

    def test_source_keeps_the_base_file_and_revert_works(self):
        self.restart_computes(protect=True)
        server = self.boot_orphan('c1')
        before = self.console(server)
        mark = self.log_mark('c1')
        self.nova.servers.migrate(server, host='c2')
        server = self.wait_status(server, 'VERIFY_RESIZE')
        log = self.wait_for_passes('c1', self.log_mark('c1'))
        # Our driver counted the migrating VM as a user on the source ...
        self.assertIn('Keeping base images of 1 migrating instance(s)', log)
        self.assertNotIn(self.removal_line(),
                         self.compute_log_since('c1', mark))
        # ... so the file a revert needs is still there.
        self.assertTrue(self.has_base('c1'))
        self.nova.servers.revert_resize(server)
        server = self.wait_status(server, 'ACTIVE')
        self.assertEqual('c1', self.host_of(server))
        after = self.wait_console(server, 'nmx-ready')
        self.verify_data(server, [before, after])

    def test_control_without_protection_loses_the_base_file(self):
        self.restart_computes(protect=False)
        server = self.boot_orphan('c1')
        mark = self.log_mark('c1')
        self.nova.servers.migrate(server, host='c2')
        # Depending on when the passes fall, the move fails (the base
        # went before the destination fetched it from the source) or
        # reaches VERIFY_RESIZE with nothing left to revert to.
        deadline = time.monotonic() + 300
        while True:
            server = self.nova.servers.get(server.id)
            task = getattr(server, 'OS-EXT-STS:task_state')
            if server.status in ('VERIFY_RESIZE', 'ERROR') and not task:
                break
            self.assertLess(time.monotonic(), deadline, server.status)
            time.sleep(1)
        log = self.wait_for_passes('c1', mark)
        self.addDetail('outcome', testtools.content.text_content(
            '%s: %s' % (server.status, getattr(server, 'fault', ''))))
        self.assertNotIn('Keeping base images of', log)
        # Stock nova removed the base file of the moving VM from the
        # source, and Glance no longer has the image to fetch it again.
        self.assertIn(self.removal_line(), log)
        self.assertFalse(self.has_base('c1'))
