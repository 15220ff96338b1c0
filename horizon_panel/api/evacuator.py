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
"""The host-drain API as the panel sees it.

The panel calls ``nova-migration-ext-api`` as the logged-in user: with
the user's token, at the endpoint the Keystone catalog gives for the
service type ``host-drain`` (as watcher-dashboard calls Watcher's API).
The API's policy decides what the user may do and its audit log names
the token's user; Horizon holds no RabbitMQ or database credentials.

Optional settings in Horizon's ``local_settings.py``::

    NOVA_MIGRATION_EXT = {
        # Seconds to wait for a change (plan, start, ...); default 120.
        'timeout': 120,
        # Seconds to wait for a read (list, show); default 20.
        'read_timeout': 20,
    }

A refusal of the API raises :class:`EvacuatorError` carrying the API's
message, which says what to do; no API in the catalog, or no answer in
time, raises :class:`EvacuatorUnavailable`; an expired token, Horizon's
``NotAuthenticated`` (back to the login page).
"""

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from horizon import exceptions as horizon_exceptions
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from openstack_dashboard.api import base

from nova_migration_ext import client as drain_client
from nova_migration_ext.client import v1 as client_v1

SETTING = 'NOVA_MIGRATION_EXT'
TIMEOUT = 120
READ_TIMEOUT = 20
ROW_POLL_SHARE = 2.0    # seconds the row updates of one poll share a show


class EvacuatorError(horizon_exceptions.Conflict):
    """The API refused a request; the message says what to do.

    Horizon treats it as recoverable and, being a Horizon exception,
    shows its own message: ``exceptions.handle(request, details='')``.
    """


class EvacuatorUnavailable(EvacuatorError, horizon_exceptions.NotAvailable):
    """The API is not in the catalog or did not answer."""


def _timeouts():
    """(timeout, read_timeout) from Horizon's settings."""
    options = getattr(settings, SETTING, None) or {}
    return (int(options.get('timeout') or TIMEOUT),
            int(options.get('read_timeout') or READ_TIMEOUT))


def endpoint(request):
    """The API's URL in the user's catalog."""
    try:
        return base.url_for(request, drain_client.SERVICE_TYPE)
    except horizon_exceptions.ServiceCatalogException:
        raise EvacuatorUnavailable(_(
            "The Keystone catalog has no '%s' endpoint: register "
            "nova-migration-ext-api (openstack service create "
            "--name host-drain host-drain, then its endpoints).")
            % drain_client.SERVICE_TYPE)


def client(request, timeout):
    """The API's client, authenticated with *request*'s user's token."""
    url = endpoint(request)
    verify = getattr(settings, 'OPENSTACK_SSL_CACERT', None) or \
        not getattr(settings, 'OPENSTACK_SSL_NO_VERIFY', False)
    session = ks_session.Session(
        auth=token_endpoint.Token(url, request.user.token.id), verify=verify)
    return client_v1.Client(session, endpoint_override=url, timeout=timeout)


def _answer(request, timeout, operation, *args, **kwargs):
    api = client(request, timeout)
    try:
        return getattr(api, operation)(*args, **kwargs)
    except client_v1.ApiError as exc:
        if exc.code == 401:
            raise horizon_exceptions.NotAuthenticated(exc.message)
        raise EvacuatorError(exc.message)
    except (ks_exceptions.ConnectionError, ks_exceptions.RequestTimeout):
        raise EvacuatorUnavailable(_(
            "The host-drain API at %(url)s did not answer within "
            "%(seconds)d s: check that nova-migration-ext-api is running "
            "there.") % {'url': api.http.endpoint_override,
                         'seconds': timeout})


def _change(request, operation, *args, **kwargs):
    return _answer(request, _timeouts()[0], operation, *args, **kwargs)


def _read(request, operation, *args, **kwargs):
    return _answer(request, _timeouts()[1], operation, *args, **kwargs)


def evacuation_list(request):
    """Every drain, as summary :class:`~.drains.Drain` resources."""
    return _read(request, 'list')


def evacuation_get(request, evacuation_id):
    """One :class:`~.drains.Drain`: tasks, progress, ETA, audit log."""
    return _read(request, 'show', evacuation_id)


def evacuation_get_shared(request, evacuation_id, max_age=ROW_POLL_SHARE):
    """``evacuation_get``, shared by the row updates of one poll.

    Horizon asks for each polled row of a table separately: for the VMs
    of an evacuation, that was one full ``show`` per VM per interval
    (hundreds for a large drain). Answers are shared for *max_age*
    seconds, through Django's cache, per user token.
    """
    key = 'nova-migration-ext:show:%s:%s' % (evacuation_id,
                                             request.user.token.id)
    info = cache.get(key)
    if info is None:
        info = evacuation_get(request, evacuation_id)
        cache.set(key, info, max_age)
    return info


def evacuation_plan(request, sources, targets=None, policy=None, name='',
                    dry_run=False, target_aggregate=None):
    """Plan (or, with *dry_run*, only preview) emptying *sources*.

    :param policy: a :class:`~.policy.Policy`.
    :returns: the planned :class:`~.drains.Drain`; with *dry_run*, the
        :class:`~.drains.Plan`.
    """
    return _change(request, 'plan', sources, targets=targets, policy=policy,
                   name=name, dry_run=dry_run,
                   target_aggregate=target_aggregate)


def evacuation_start(request, evacuation_id):
    return _change(request, 'start', evacuation_id)


def evacuation_pause(request, evacuation_id):
    return _change(request, 'pause', evacuation_id)


def evacuation_resume(request, evacuation_id):
    return _change(request, 'resume', evacuation_id)


def evacuation_cancel(request, evacuation_id):
    return _change(request, 'cancel', evacuation_id)


def task_retry(request, evacuation_id, server, allow_downtime=False,
               target=None):
    """Try moving one VM (name or id) of the evacuation again.

    With *allow_downtime*, it may go cold (down meanwhile); with
    *target*, it goes to that host instead of its planned one.
    """
    return _change(request, 'retry', evacuation_id, server,
                   allow_downtime=allow_downtime, target=target)


def task_skip(request, evacuation_id, server):
    """Leave one VM (name or id) of the evacuation where it is."""
    return _change(request, 'skip', evacuation_id, server)


def host_list(request):
    """The compute hosts as the service sees them: :class:`~.hosts.Host`.

    Their state, VMs and what the VMs use, for choosing hosts to empty
    and targets (nova's hypervisor API no longer gives the usage).
    """
    return _read(request, 'hosts')
