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
"""WSGI plumbing shared by the lab's stand-ins.

A small router base class (:class:`StandIn`), the request log every
stand-in writes (one line per request: method, path, status), optional
Keystone token validation and a threaded server bound to 127.0.0.1.
"""

import collections
import datetime
import json
import re
import socketserver
import sys
import threading
import traceback
from wsgiref import simple_server

import webob

HOST = '127.0.0.1'


class Error(Exception):
    """An HTTP error a stand-in answers with, in its API's error format."""

    def __init__(self, status, kind, message):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


def reply(status, body=None, headers=None):
    """A JSON response (no body for ``None``)."""
    response = webob.Response(status=status)
    if body is not None:
        response.content_type = 'application/json'
        response.charset = 'utf-8'
        response.text = json.dumps(body)
    else:
        response.content_type = None
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def json_body(req):
    """The request's JSON body as a dict; 400 if it is not one."""
    if not req.body:
        return {}
    try:
        body = json.loads(req.body)
    except ValueError:
        raise Error(400, 'BadRequest', 'Malformed request body: not JSON.')
    if not isinstance(body, dict):
        raise Error(400, 'BadRequest', 'Malformed request body: not an '
                    'object.')
    return body


class StandIn(object):
    """Base of a stand-in: routes requests to methods, renders errors.

    Subclasses list ``ROUTES`` as ``(method, regex, handler name)``; the
    regex's named groups become the handler's keyword arguments. Paths in
    ``OPEN_PATHS`` (version documents) need no token; all others need an
    ``X-Auth-Token`` header when ``require_token`` is set (the token is
    only checked when :func:`with_authtoken` wraps the application).
    """

    NAME = 'stand-in'
    ROUTES = ()
    OPEN_PATHS = ('/',)

    def __init__(self, require_token=True):
        self.require_token = require_token
        self._routes = [(method, re.compile('^%s$' % pattern), name)
                        for method, pattern, name in self.ROUTES]

    def error(self, status, kind, message):
        """Render an error the way the real service would; override."""
        return reply(status, {'error': {'type': kind, 'message': message}})

    def not_found(self, req):
        return Error(404, 'NotFound', 'The resource could not be found: '
                     '%s %s (%s).' % (req.method, req.path, self.NAME))

    def route(self, req):
        path = req.path_info.rstrip('/') or '/'
        allowed = False
        for method, regex, name in self._routes:
            match = regex.match(path)
            if match is None:
                continue
            if method != req.method:
                allowed = True
                continue
            return getattr(self, name), match.groupdict()
        if allowed:
            raise Error(405, 'HTTPMethodNotAllowed', 'Method %s is not '
                        'allowed on %s (%s).' % (req.method, req.path,
                                                 self.NAME))
        raise self.not_found(req)

    def __call__(self, environ, start_response):
        req = webob.Request(environ)
        try:
            path = req.path_info.rstrip('/') or '/'
            if (self.require_token and path not in self.OPEN_PATHS and
                    not req.headers.get('X-Auth-Token')):
                raise Error(401, 'Unauthorized', 'The request you have made '
                            'requires authentication (%s).' % self.NAME)
            handler, kwargs = self.route(req)
            response = handler(req, **kwargs)
        except Error as exc:
            response = self.error(exc.status, exc.kind, exc.message)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            response = self.error(500, 'InternalError', '%s failed: %s' % (
                self.NAME, exc))
        return response(environ, start_response)


class RequestLog(object):
    """One line per request (time, method, path, status), file and memory.

    ``entries`` keeps the last ``keep`` requests as ``(method, path,
    status)`` tuples for in-process tests.
    """

    def __init__(self, path=None, stream=None, keep=1000):
        self.path = path
        self.stream = stream
        self.entries = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def write(self, method, path, status):
        line = '%s %s %s %d\n' % (
            datetime.datetime.now(datetime.timezone.utc).strftime(
                '%Y-%m-%dT%H:%M:%S.%fZ'), method, path, status)
        with self._lock:
            self.entries.append((method, path, status))
            if self.path:
                with open(self.path, 'a') as f:
                    f.write(line)
            if self.stream is not None:
                self.stream.write(line)
                self.stream.flush()

    @staticmethod
    def parse(text):
        """``(method, path, status)`` tuples of a log file's text."""
        entries = []
        for line in text.splitlines():
            parts = line.split(' ')
            if len(parts) == 4:
                entries.append((parts[1], parts[2], int(parts[3])))
        return entries


def logged(app, log):
    """Wrap *app* so that every request lands in *log* with its status."""

    def middleware(environ, start_response):
        seen = {}

        def _start_response(status, headers, exc_info=None):
            seen['status'] = int(status.split(' ', 1)[0])
            return start_response(status, headers, exc_info)

        path = environ.get('PATH_INFO', '') or '/'
        if environ.get('QUERY_STRING'):
            path += '?' + environ['QUERY_STRING']
        try:
            return app(environ, _start_response)
        finally:
            log.write(environ['REQUEST_METHOD'], path, seen.get('status', 0))

    return middleware


def with_authtoken(app, config_file):
    """Validate tokens with keystonemiddleware, configured by *config_file*.

    *config_file* is an INI file with a ``[keystone_authtoken]`` section
    (as in nova.conf). Optional: without it the stand-ins only require that
    a token be present.
    """
    from keystonemiddleware import auth_token
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf([], project='lab-standin', default_config_files=[config_file])
    return auth_token.AuthProtocol(app, {'oslo_config_config': conf})


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(simple_server.WSGIRequestHandler):

    def log_message(self, *args):
        """The stand-ins keep their own request log."""


def make_server(app, port, host=HOST):
    """A threaded wsgiref server for *app* on *host*:*port* (not started)."""
    return simple_server.make_server(host, port, app, server_class=_Server,
                                     handler_class=_Handler)
