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
"""Serve a WSGI application on 127.0.0.1 with one thread per request.

Run with the Horizon virtualenv's python by tests/functional/horizon_stack:

    python serve_wsgi.py keystone.wsgi.api:application PORT

stdlib only (wsgiref), so it needs nothing the Horizon venv lacks.
"""

import importlib
import socketserver
import sys
from wsgiref import simple_server


class ThreadingWSGIServer(socketserver.ThreadingMixIn,
                          simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class Handler(simple_server.WSGIRequestHandler):

    def log_message(self, format, *args):
        sys.stderr.write('%s %s\n' % (self.log_date_time_string(),
                                      format % args))
        sys.stderr.flush()


def main():
    target, port = sys.argv[1], int(sys.argv[2])
    # oslo.config (keystone) would parse our arguments as its own.
    del sys.argv[1:]
    module, attr = target.split(':')
    application = getattr(importlib.import_module(module), attr)
    server = simple_server.make_server(
        '127.0.0.1', port, application,
        server_class=ThreadingWSGIServer, handler_class=Handler)
    sys.stderr.write('serving %s on port %d\n' % (target, port))
    sys.stderr.flush()
    server.serve_forever()


if __name__ == '__main__':
    main()
