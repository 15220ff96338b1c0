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
"""Per-path migration time, bytes and downtime of one VM, in the lab.

The same lab guest (root + 1 GiB ephemeral disk) is moved c1 -> c2 by a
block live migration, then c2 -> c3 by a cold migration (confirmed); a
guest of the same flavor is live-migrated c5 -> c6, two hosts sharing
their instances path (GlusterFS), with no disk copy. Prints one line per
path. The baseline for the fast-copy work. Run on a running lab
(``tools/lab.sh up``):

    PYTHONPATH=. .venv/bin/python benchmarks/lab_paths.py
"""

import re
import threading
import time

from tests.lab import cloud as lab_cloud
from tests.lab import guests as lab_guests
from tests.lab import sharedfs

TICK = re.compile(r'^nmx-tick \d+ \d+ (\d+)', re.M)


def rtc_ticks(text):
    return [int(value) for value in TICK.findall(text)]


def allocated_mib(cloud, host, server_id):
    out = cloud.run_in(host, ['du', '-sk', '/var/lib/nova/instances/%s'
                              % server_id])
    return int(out.split()[0]) / 1024.0


def live_numbers(wall, job):
    """A live migration's time, downtime and memory, from libvirt's job."""
    return ('%.1f s by the API, libvirt %.1f s, downtime %s ms, memory %s %s'
            % (wall, job['Time elapsed'][0] / 1000.0,
               job.get('Total downtime', ('?',))[0],
               *job.get('Memory processed', ('?', ''))))


def shared_live(cloud, guests):
    """Live migration c5 -> c6 on their shared instances path."""
    nova = guests.nova
    server = guests.boot('bench-shared-%s' % time.strftime('%H%M%S'),
                         'c5', flavor='lab.eph')
    try:
        c5, c6 = cloud.host('c5'), cloud.host('c6')
        sent = c5.tx_bytes()
        served = sharedfs.bytes_served_to(c5, c6)
        start = time.monotonic()
        nova.servers.live_migrate(server, host='c6', block_migration=False)
        server = guests.wait_status(server, 'ACTIVE')
        wall = time.monotonic() - start
        served = sharedfs.bytes_served_to(c5, c6) - served
        sent = c5.tx_bytes() - sent
        job = guests.job_info(server)
        print('live migration c5->c6 (shared storage): %s, c5 sent %.1f '
              'MiB of which GlusterFS reads of c6 %.1f MiB' % (
                  live_numbers(wall, job), sent / 1048576.0,
                  served / 1048576.0))
    finally:
        guests.delete(server.id)


def main():
    cloud = lab_cloud.Cloud()
    guests = lab_guests.Guests(cloud)
    nova = guests.nova
    shared_live(cloud, guests)
    server = guests.boot('bench-%s' % time.strftime('%H%M%S'), 'c1',
                         flavor='lab.eph')
    try:
        local = allocated_mib(cloud, 'c1', server.id)
        start = time.monotonic()
        nova.servers.live_migrate(server, host='c2', block_migration=True)
        server = guests.wait_status(server, 'ACTIVE')
        wall = time.monotonic() - start
        job = guests.job_info(server)
        print('block live migration c1->c2: %s, disks %s %s (local disks '
              'allocated %.1f MiB)' % (
                  live_numbers(wall, job),
                  *job.get('File processed', ('?', '')), local))
        consoles = []
        done = threading.Event()

        def follow():
            # The source's console, until nova hands the VM to c3.
            while not done.is_set():
                current = nova.servers.get(server.id)
                task = getattr(current, 'OS-EXT-STS:task_state')
                if current.status == 'VERIFY_RESIZE' or task in (
                        'resize_migrated', 'resize_finish'):
                    return
                try:
                    consoles.append(guests.console(server))
                except Exception:
                    pass
                time.sleep(0.5)

        watcher = threading.Thread(target=follow, daemon=True)
        watcher.start()
        start = time.monotonic()
        nova.servers.migrate(server, host='c3')
        server = guests.wait_status(server, 'VERIFY_RESIZE')
        wall = time.monotonic() - start
        done.set()
        watcher.join()
        before = max((c for c in consoles if rtc_ticks(c)),
                     key=lambda c: rtc_ticks(c)[-1])
        nova.servers.confirm_resize(server)
        server = guests.wait_status(server, 'ACTIVE')
        after = guests.wait_console(server, 'nmx-ready')
        down = rtc_ticks(after)[0] - rtc_ticks(before)[-1]
        print('cold migration c2->c3: %.1f s to VERIFY_RESIZE, guest down '
              '%d s (last tick on c2 to first tick on c3, guest clock), '
              '%.1f MiB allocated copied' % (
                  wall, down, allocated_mib(cloud, 'c3', server.id)))
    finally:
        guests.delete(server.id)


if __name__ == '__main__':
    main()
