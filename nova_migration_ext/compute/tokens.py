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
"""Keep migration callbacks authenticated after the user token expires.

Nova runs a whole migration with the requesting user's context. The calls
made after the move (port binding activation, volume attachment updates)
fail with 401 once that token expires, unless nova sends a service token
beside it (``[service_user] send_service_user_token``). This module checks
that set-up at start-up, renews the service token right before each
callback when it is close to expiry, and estimates the user token's life
for the ``token_lifetime`` precheck.
"""

import functools

from keystoneauth1 import service_token
from nova import service_auth
from oslo_log import log as logging
from oslo_utils import timeutils

LOG = logging.getLogger(__name__)
SERVICE_USER_GROUP = 'service_user'


class ServiceTokenMisconfigured(Exception):
    """``[service_user]`` cannot provide a service token."""


class ServiceTokenGuard:
    """Provides and renews the ``[service_user]`` token for callbacks."""

    def __init__(self, conf):
        self.conf = conf

    @property
    def sends_service_token(self):
        """True when nova itself attaches a service token to its calls."""
        return (self.conf.service_user.send_service_user_token and
                self._plugin() is not None)

    def _plugin(self):
        try:
            return service_auth.get_service_auth_plugin(SERVICE_USER_GROUP)
        except Exception as exc:
            LOG.debug('Cannot load [service_user] auth: %s', exc)
            return None

    def problem(self):
        """Why no service token will be sent, or None when all is well."""
        if not self.conf.service_user.send_service_user_token:
            return ('[service_user] send_service_user_token is false, so '
                    'migrations that outlive the user token end in '
                    'MIGRATING or ERROR although the guest moved')
        if self._plugin() is None:
            return ('[service_user] auth_type is not set or its plugin '
                    'cannot be loaded, so no service token can be sent')
        return None

    def check_at_startup(self):
        """Apply ``[migration_ext] service_token_check``."""
        action = self.conf.migration_ext.service_token_check
        problem = self.problem()
        if problem is None or action == 'ignore':
            return
        message = ('%s. Set [service_user] send_service_user_token = true '
                   'and configure [service_user] auth_type, auth_url, '
                   'username, password and project in nova.conf (see '
                   'README.md).' % problem)
        if action == 'error':
            raise ServiceTokenMisconfigured(
                message + ' To start anyway, set [migration_ext] '
                'service_token_check = warn.')
        LOG.warning(message)

    def renew_if_needed(self):
        """Renew the service token if it expires within the margin.

        Never raises: a callback must still run (and maybe succeed with the
        user token) when keystone is briefly unreachable.
        """
        plugin = self._plugin()
        if plugin is None:
            return False
        margin = self.conf.migration_ext.service_token_min_validity
        try:
            session = service_auth.get_service_auth_session(
                SERVICE_USER_GROUP, auth=plugin)
            access = plugin.get_access(session)
            if access.will_expire_soon(stale_duration=margin):
                LOG.info('Service token expires within %ss; renewing it '
                         'before the migration callback.', margin)
                plugin.invalidate()
                plugin.get_access(session)
            return True
        except Exception:
            LOG.exception('Could not renew the [service_user] token; the '
                          'callback goes on with what it has.')
            return False

    def attach(self, context):
        """Make calls with *context* in this process carry a service token.

        Only used when nova would not add one itself. It protects the calls
        made on this host only: nova does not carry the wrapper over RPC,
        so the destination's post-migration calls still need
        ``[service_user] send_service_user_token = true`` on every host.
        """
        plugin = self._plugin()
        if plugin is None or self.conf.service_user.send_service_user_token:
            return
        user_auth = context.get_auth_plugin()
        if isinstance(user_auth, service_token.ServiceTokenAuthWrapper):
            return
        context.user_auth_plugin = service_token.ServiceTokenAuthWrapper(
            user_auth=user_auth, service_auth=plugin)

    def wrap(self, callback, name=None):
        """Return *callback* with a fresh service token before each call.

        The first positional argument of the callback is the request
        context (as for nova's live-migration ``post_method`` and
        ``recover_method``).
        """
        label = name or getattr(callback, '__name__', 'callback')

        @functools.wraps(callback)
        def with_service_token(context, *args, **kwargs):
            self.prepare(context, label)
            return callback(context, *args, **kwargs)
        return with_service_token

    def prepare(self, context, label):
        """Renew and attach the service token before *label* runs."""
        renewed = self.renew_if_needed()
        self.attach(context)
        LOG.debug('Service token %s before %s',
                  'ready' if renewed else 'unavailable', label)


def user_token_remaining(context, lifetime):
    """Seconds left on the user token of *context*, estimated.

    Keystone issues tokens valid for *lifetime* seconds; nova's request
    context records when the request arrived (``context.timestamp``).
    """
    stamp = getattr(context, 'timestamp', None)
    if stamp is None:
        return None
    age = timeutils.delta_seconds(stamp, timeutils.utcnow())
    return lifetime - age
