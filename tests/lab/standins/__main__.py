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
"""Run a stand-in on 127.0.0.1, or tear the Cinder stand-in's volumes down.

``python -m tests.lab.standins neutron --port 9696 --state-dir D``
``python -m tests.lab.standins cinder --port 8776 --state-dir D --log F``
``python -m tests.lab.standins cinder down --state-dir D``
"""

import argparse
import os
import signal
import sys

from tests.lab.standins import cinder
from tests.lab.standins import neutron
from tests.lab.standins import volumes
from tests.lab.standins import wsgi

PORTS = {'neutron': 9696, 'cinder': 8776}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='python -m tests.lab.standins',
        description='Serve a lab stand-in (NOT the real service).')
    parser.add_argument('service', choices=sorted(PORTS))
    parser.add_argument('action', nargs='?', default='serve',
                        choices=('serve', 'down'),
                        help='down: detach the Cinder stand-in\'s loop '
                             'devices and remove its files')
    parser.add_argument('--port', type=int)
    parser.add_argument('--state-dir', required=True)
    parser.add_argument('--log', help='request log file (default: stderr)')
    parser.add_argument('--no-token', action='store_true',
                        help='do not require an X-Auth-Token header')
    parser.add_argument('--authtoken-config',
                        help='validate tokens with keystonemiddleware, '
                             'configured by this file\'s '
                             '[keystone_authtoken] section')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(args.state_dir, exist_ok=True)
    if args.action == 'down':
        if args.service == 'cinder':
            volumes.Store(args.state_dir, use_loop=True).cleanup()
        return 0
    log = wsgi.RequestLog(path=args.log,
                          stream=None if args.log else sys.stderr)
    options = dict(log=log, require_token=not args.no_token,
                   authtoken_config=args.authtoken_config)
    if args.service == 'cinder':
        app, _store = cinder.make_app(args.state_dir, **options)
    else:
        app = neutron.make_app(**options)
    server = wsgi.make_server(app, args.port or PORTS[args.service])

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    sys.stderr.write('%s stand-in serving on http://%s:%d\n' % (
        args.service, wsgi.HOST, server.server_port))
    sys.stderr.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
