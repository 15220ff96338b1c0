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
"""Tokens that expire while a live migration is in flight.

nova's ``[service_user]`` is configured with keystoneauth's real
``password`` plugin against a fake Keystone (``fake_keystone``); API
requests carry a user token from it. The fake Cinder and Neutron
authenticate each call made with a user's context the way
keystonemiddleware would: from the headers keystoneauth builds with the
auth plugin and session nova itself uses for that service, they accept a
valid user token, or an expired one beside a valid service token, and
answer 401 otherwise. While libvirt copies the guest, the clock jumps past
every token issued so far.
"""

from cinderclient import exceptions as cinder_exception
import fixtures
from keystoneauth1 import loading as ks_loading
from neutronclient.common import exceptions as neutron_exception
from nova.api import auth as nova_api_auth
import nova.conf
from nova.network import neutron as neutron_api
from nova import service_auth
from nova.tests import fixtures as nova_fixtures
from nova.volume import cinder as cinder_api
from oslo_config import fixture as config_fixture

from nova_migration_ext.compute import tokens
from nova_migration_ext import conf as ext_conf
from tests.functional import base
from tests.functional import fake_keystone

CONF = nova.conf.CONF
ext_conf.register_opts(CONF)
VOLUME = nova_fixtures.CinderFixture.IMAGE_BACKED_VOL
CINDER_CALLS = ('attachment_create', 'attachment_update',
                'attachment_complete', 'attachment_delete')


class TokenCheck:
    """Accepts or refuses requests like keystonemiddleware."""

    def __init__(self, keystone):
        self.keystone = keystone
        # (call, 'user' | 'service' | 401, clock jumps so far)
        self.calls = []

    def authenticate(self, name, session, auth):
        """True if the headers keystoneauth sends would be accepted."""
        headers = session.get_auth_headers(auth)
        if self.keystone.is_valid(headers['X-Auth-Token']):
            accepted_by = 'user'
        elif self.keystone.is_valid(headers.get('X-Service-Token')):
            accepted_by = 'service'
        else:
            accepted_by = 401
        self.calls.append((name, accepted_by, self.keystone.clock_jumps))
        return accepted_by != 401

    def cinder(self, name, fake):
        """*fake* behind what nova.volume.cinder.cinderclient() sends."""
        def checked(context, *args, **kwargs):
            # Without a token nova uses [cinder] credentials: not tested.
            if context.auth_token and not self.authenticate(
                    'cinder.' + name,
                    service_auth.get_service_auth_session('cinder'),
                    cinder_api._get_auth(context)):
                raise cinder_exception.Unauthorized(
                    401, message='The request you have made requires '
                                 'authentication.')
            return fake(context, *args, **kwargs)
        return checked

    def neutron(self, get_fake_client):
        """``get_client`` whose user-token clients are checked."""
        def get_client(context, admin=False):
            client = get_fake_client(context, admin=admin)
            if admin or not context.auth_token:
                # nova's [neutron] credentials, renewed by keystoneauth.
                return client
            return neutron_api.ClientWrapper(
                _CheckedNeutronClient(self, client, context),
                admin=context.is_admin)
        return get_client

    def after_jump(self, accepted_by):
        return [name for name, by, jumps in self.calls
                if jumps and by == accepted_by]


class _CheckedNeutronClient:
    def __init__(self, check, client, context):
        self._check = check
        self._client = client
        self._context = context

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def checked(*args, **kwargs):
            if not self._check.authenticate(
                    'neutron.' + name,
                    service_auth.get_service_auth_session('neutron'),
                    neutron_api._get_auth_plugin(self._context)):
                raise neutron_exception.Unauthorized()
            return attr(*args, **kwargs)
        return checked


class TokenExpiryTestBase(base.MigrationExtTestBase):
    """Two computes, a service user in the fake Keystone, checked calls."""

    SERVICE_TOKEN_LIFETIME = 250
    MIN_VALIDITY = 300

    def setUp(self):
        super().setUp()
        self.keystone = self.useFixture(fake_keystone.FakeKeystone(
            lifetime=self.SERVICE_TOKEN_LIFETIME))
        configure_service_user(self, self.keystone)
        give_api_users_tokens(self, self.keystone)
        self.flags(service_token_check='error',
                   service_token_min_validity=self.MIN_VALIDITY,
                   group='migration_ext')
        # The migration outlasts this, so nova asks Neutron for its
        # extensions again with the migration's context (0 makes it
        # happen without waiting 600 s).
        self.flags(extension_sync_interval=0, group='neutron')
        self.check = TokenCheck(self.keystone)
        for name in CINDER_CALLS:
            self.useFixture(fixtures.MockPatch(
                'nova.volume.cinder.API.' + name,
                side_effect=self.check.cinder(
                    name, getattr(self.cinder, 'fake_' + name)),
                autospec=False))
        self.useFixture(fixtures.MonkeyPatch(
            'nova.network.neutron.get_client',
            self.check.neutron(neutron_api.get_client)))
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]

    def _migrate_stub(self, domain, destination, params, flags):
        # The guest copy takes longer than every token issued so far.
        self.keystone.expire_all()
        super()._migrate_stub(domain, destination, params, flags)

    def boot_with_volume(self):
        self.server = self.boot('src')
        self._attach_volume(self.server, VOLUME)
        # Attaching used both tokens, so keystoneauth holds a service
        # token that is still valid in its own view after the jump.
        self.assertEqual(1, len(self.keystone.issued))
        self.assertIn(('cinder.attachment_create', 'user', 0),
                      self.check.calls)
        self.source_attachments = set(self.attachments())
        self.assertEqual(1, len(self.source_attachments))
        return self.server

    def attachments(self):
        return self.cinder.volume_to_attachment[VOLUME]


class ServiceTokenRenewedBeforeCallbackTest(TokenExpiryTestBase):
    """With our guard the post-migration calls carry a fresh token."""

    def test_migration_completes_after_tokens_expire(self):
        server = self.boot_with_volume()
        server = self.live_migrate(server, 'dest')

        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        migration = self._wait_for_migration_status(server, ['completed'])
        self.assertEqual('dest', migration['dest_compute'])
        # The guard got a new service token after the clock jump ...
        self.assertNotEqual([], self.keystone.issued_after_jump())
        self.assertIn('Service token expires within 300s; renewing it',
                      self.stdlog.logger.output)
        # ... so Neutron and Cinder took the expired user token beside it.
        accepted = self.check.after_jump('service')
        self.assertIn('neutron.list_extensions', accepted)
        self.assertIn('cinder.attachment_delete', accepted)
        self.assertEqual([], self.check.after_jump(401))
        # The source host's attachment is gone; only dest's is left.
        attachments = set(self.attachments())
        self.assertEqual(1, len(attachments))
        self.assertTrue(attachments.isdisjoint(self.source_attachments))


class StaleServiceTokenTest(TokenExpiryTestBase):
    """Control: renewal off, so the stale service token is sent.

    keystoneauth renews a token only within 120 s of the expiry it was
    told, and believes it still has 250 s.
    """

    MIN_VALIDITY = 0

    def test_post_migration_calls_get_401_and_server_errors(self):
        server = self.boot_with_volume()
        server = self.live_migrate(
            server, 'dest', migration_expected_state='error',
            server_expected_state='ERROR')

        self.assertEqual([], self.keystone.issued_after_jump())
        self.assertEqual([], self.check.after_jump('service'))
        refused = self.check.after_jump(401)
        self.assertIn('neutron.list_extensions', refused)
        self.assertIn('cinder.attachment_delete', refused)
        # The guest moved, yet the server is in ERROR and the migration
        # failed; Cinder still holds the source host's attachment.
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('ERROR', server['status'])
        self._wait_for_migration_status(server, ['error'])
        self.assertEqual('Networking client is experiencing an '
                         'unauthorized exception.', self.last_fault(server))
        self.assertIsNotNone(self.domain('dest', server['id']))
        # post_live_migration_at_destination never ran: dest still counts
        # the migration as in progress, which would hold up the graceful
        # shutdown at clean-up (after flags are reset) for 140 s.
        dest_manager = self.dest.manager
        self.addCleanup(dest_manager._end_pending_dest_live_migration_task,
                        server['id'])
        self.assertIn(server['id'],
                      dest_manager._pending_dest_live_migrations)
        self.assertIn('not deleted on source host src during '
                      'post_live_migration', self.stdlog.logger.output)
        attachments = set(self.attachments())
        self.assertEqual(2, len(attachments))
        self.assertLessEqual(self.source_attachments, attachments)


class ServiceTokenStartupCheckTest(base.MigrationExtTestBase):
    """``[migration_ext] service_token_check`` when no token is sent."""

    def setUp(self):
        super().setUp()
        service_auth.reset_globals()
        self.addCleanup(service_auth.reset_globals)
        self.flags(send_service_user_token=False, group='service_user')

    def test_error_refuses_to_start_compute(self):
        self.flags(service_token_check='error', group='migration_ext')
        exc = self.assertRaises(tokens.ServiceTokenMisconfigured,
                                self.start_compute, 'x')
        message = str(exc)
        self.assertIn('send_service_user_token is false', message)
        self.assertIn('Set [service_user] send_service_user_token = true',
                      message)
        self.assertIn('service_token_check = warn', message)

    def test_warn_starts_compute_and_logs(self):
        self.flags(service_token_check='warn', group='migration_ext')
        self.start_compute('x')
        self.assertIn('x', self.computes)
        self.assertIn('Set [service_user] send_service_user_token = true',
                      self.stdlog.logger.output)


def give_api_users_tokens(test, keystone):
    """Requests to nova-api carry a user token, as behind keystonemiddleware.

    nova's API fixture stubs keystonemiddleware and makes contexts without
    a token; this adds the user's current token from *keystone*.
    """
    target = 'nova.api.auth.NovaKeystoneContext._create_context'
    create = nova_api_auth.NovaKeystoneContext._create_context

    def create_with_token(env, **kwargs):
        ctx = create(env, **kwargs)
        ctx.auth_token = keystone.user_token(ctx.user_id)
        return ctx
    test.useFixture(fixtures.MonkeyPatch(target, create_with_token))


def configure_service_user(test, keystone):
    """Point ``[service_user]`` at *keystone* with the password plugin."""
    group = nova.conf.service_token.SERVICE_USER_GROUP
    # As keystoneauth's loader does, but undone after the test: they
    # include a required option that would break later tests' set-up.
    test.useFixture(config_fixture.Config(CONF)).register_opts(
        ks_loading.get_auth_plugin_conf_options('password'), group=group)
    service_auth.reset_globals()
    test.addCleanup(service_auth.reset_globals)
    test.flags(send_service_user_token=True, auth_type='password',
               auth_url=keystone.url, username=keystone.username,
               password=keystone.password,
               project_name=keystone.project_name,
               user_domain_name='Default', project_domain_name='Default',
               group=group)
