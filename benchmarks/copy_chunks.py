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
"""The verified copy's chunk size and read-ahead, against the link.

On a running lab (``tools/lab.sh up``), as root, nothing else running::

    PYTHONPATH=. .venv/bin/python benchmarks/copy_chunks.py \\
        --rounds 5 1:8 4:8 4:4 4:2

Each variant, ``MiB:chunks read ahead``, copies the raw disk of
``cold_copy.py`` (1.6 GB, mixed data) from c1 to c2 with our sender, page
cache dropped, right after its own measure of the link; the variants
alternate within each round, so the machine's drift falls on all alike.
It ends with each variant's median share of the link and copy time.
"""

import argparse
import json
import statistics

from benchmarks import cold_copy as bench
from tests.lab import cloud as lab_cloud

MiB = 1 << 20
# The sender's module with its read-ahead set, then its own main.
SENDER = ('import sys; from nova_migration_ext.compute.diskcopy import '
          'sender; sender._READ_AHEAD = int(sys.argv[1]); '
          'sender._READ_AHEAD_BYTES = sender._READ_AHEAD * int(sys.argv[2]); '
          'sys.exit(sender.main(sys.argv[3:]))')


def copy(cloud, path, dest, chunk, ahead):
    python = cloud._remote_python()
    out = cloud.run_in('c1', [
        python, '-c', SENDER, str(ahead), str(chunk), '--host', dest,
        '--chunk', str(chunk), '--remote-python', python, path, path],
        timeout=1800)
    return json.loads(out.strip().splitlines()[-1])


def variant(text):
    mib, ahead = text.split(':')
    return int(mib) * MiB, int(ahead)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--size-mib', type=int, default=1600)
    parser.add_argument('variants', nargs='+', type=variant,
                        help='MiB:chunks read ahead, e.g. 4:4')
    args = parser.parse_args()
    cloud = lab_cloud.Cloud()
    dest = cloud.host('c2').address
    path = bench.make_disks(cloud, args.size_mib)['raw'][0]
    results = {v: [] for v in args.variants}
    try:
        for round_ in range(args.rounds):
            for chunk, ahead in args.variants:
                bench.sh(cloud, 'c2', 'rm -f %s' % path)
                link = bench.link_limit(cloud, dest)
                seconds, report = bench.timed(
                    lambda: copy(cloud, path, dest, chunk, ahead))
                wire = report['bytes_sent'] / seconds / bench.MB
                results[(chunk, ahead)].append((wire / link, seconds))
                print('round %d, %d MiB, %d ahead: link %.0f MB/s, ours '
                      '%.2f s = %.0f MB/s, %.0f%% of the link, verified %s'
                      % (round_, chunk // MiB, ahead, link, seconds, wire,
                         100 * wire / link, report['verified']), flush=True)
    finally:
        bench.sh(cloud, 'c1', 'rm -rf %s' % bench.WORK)
        bench.sh(cloud, 'c2', 'rm -rf %s' % bench.WORK)
    for (chunk, ahead), runs in results.items():
        print('%d MiB, %d ahead: %.0f%% of the link (%s), %.2f s' % (
            chunk // MiB, ahead,
            100 * statistics.median(share for share, _ in runs),
            ' '.join('%.0f' % (100 * share) for share, _ in runs),
            statistics.median(seconds for _, seconds in runs)))


if __name__ == '__main__':
    main()
