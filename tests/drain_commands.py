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
"""``openstack drain …`` run in the test's process, on the REST API.

The commands are the plugin's own, found through its entry points as
OpenStackClient finds them; the client is the REST client on a served
API. Stand-in: :class:`AsAdmin` sets the headers Keystone's auth_token
sets for an admin's valid token (tests/functional/test_openstack_cli.py
runs the real ``openstack`` against a real Keystone).
"""

import importlib.metadata
import io
import json

from cliff import app
from cliff import commandmanager
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint

from nova_migration_ext.client import v1

ENTRY_POINTS = 'openstack.drain.v1'


class AsAdmin:
    """What auth_token sets for an admin's valid token (a stand-in)."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        environ.update(HTTP_X_IDENTITY_STATUS='Confirmed',
                       HTTP_X_ROLES='admin', HTTP_X_USER_ID='u1',
                       HTTP_X_USER_NAME='alice',
                       HTTP_X_USER_DOMAIN_NAME='Default',
                       HTTP_X_PROJECT_ID='p1', HTTP_X_PROJECT_NAME='ops')
        return self.application(environ, start_response)


def client(url, timeout=60):
    """The REST client on the API served at *url*."""
    return v1.Client(
        ks_session.Session(auth=token_endpoint.Token(url, 'stand-in')),
        endpoint_override=url, timeout=timeout)


class _ClientManager:

    def __init__(self, drain):
        self.drain = drain


class DrainApp(app.App):
    """``openstack`` with the drain commands only, on *drain_client*."""

    def __init__(self, drain_client):
        manager = commandmanager.CommandManager('nova_migration_ext.test')
        for entry in importlib.metadata.entry_points(group=ENTRY_POINTS):
            manager.add_command(entry.name.replace('_', ' '), entry.load())
        super().__init__(description='drain commands', version='1',
                         command_manager=manager, deferred_help=True,
                         stdout=io.StringIO(), stderr=io.StringIO())
        self.client_manager = _ClientManager(drain_client)

    def initialize_app(self, argv):
        pass


def run(drain_client, *argv):
    """(exit status, stdout, stderr) of ``openstack *argv``."""
    drain_app = DrainApp(drain_client)
    rc = drain_app.run(list(argv))
    return rc, drain_app.stdout.getvalue(), drain_app.stderr.getvalue()


def run_json(drain_client, *argv):
    """``openstack *argv -f json``, parsed; raises if it failed."""
    rc, out, err = run(drain_client, *(argv + ('-f', 'json')))
    if rc:
        raise AssertionError('openstack %s failed (%d): %s%s'
                             % (' '.join(argv), rc, out, err))
    return json.loads(out)
