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
"""``python -m tests.lab up|down|status`` (``tools/lab.sh`` wraps it)."""

import argparse
import json
import sys

from tests.lab import cloud as lab_cloud
from tests.lab import procs


def main(argv=None):
    parser = argparse.ArgumentParser(prog='tests.lab')
    parser.add_argument('command', choices=('up', 'down', 'status'))
    parser.add_argument('--root', default=lab_cloud.DEFAULT_ROOT)
    args = parser.parse_args(argv)
    cloud = lab_cloud.Cloud(args.root)
    if args.command == 'up':
        try:
            cloud.up()
        except procs.LabError as exc:
            print('lab: could not start: %s' % exc, file=sys.stderr)
            return 1
    elif args.command == 'down':
        cloud.down()
        print('lab: down')
    else:
        state = cloud.state()
        running = {name: bool(cloud.supervisor.pid(name))
                   for name in cloud.supervisor.names()}
        print(json.dumps({'state': state, 'processes': running},
                         indent=2, sort_keys=True))
        return 0 if state.get('bring_up_seconds') and all(
            running.values()) else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
