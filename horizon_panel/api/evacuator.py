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
"""The evacuator service as the panel sees it.

Horizon's ``local_settings.py`` says where the evacuator listens::

    NOVA_MIGRATION_EXT = {
        # RabbitMQ of nova-migration-evacuator (required).
        'transport_url': 'rabbit://user:password@rabbit.example.org:5672/',
        # Its [evacuator] rpc_topic, when not the default
        # 'nova-migration-evacuator' (optional).
        'rpc_topic': 'nova-migration-evacuator',
        # Seconds to wait for a change (plan, start, ...); optional,
        # default 120.
        'timeout': 120,
        # Seconds to wait for a read (list, show), asked twice: a page
        # shows the error after twice this when the evacuator is down;
        # optional, default 10.
        'read_timeout': 10,
    }

Each function takes the request first and sends its user name as the
actor, so the evacuation's audit log shows who clicked. An answer
``{'error': message}`` raises :class:`EvacuatorError` carrying the
evacuator's message, which says what to do; no answer in time raises
:class:`EvacuatorUnavailable`.
"""

import threading

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from horizon import exceptions as horizon_exceptions
from oslo_config import cfg
import oslo_messaging as messaging

from nova_migration_ext.evacuation import rpcapi

SETTING = 'NOVA_MIGRATION_EXT'
READ_TIMEOUT = 10
READ_ATTEMPTS = 2   # another evacuator may answer if the first one died
ROW_POLL_SHARE = 2.0    # seconds the row updates of one poll share a show

_clients = {}
_clients_lock = threading.Lock()


class EvacuatorError(horizon_exceptions.Conflict):
    """The evacuator refused a request; the message says what to do.

    Horizon treats it as recoverable and, being a Horizon exception,
    shows its own message: ``exceptions.handle(request, details='')``.
    """


class EvacuatorUnavailable(EvacuatorError, horizon_exceptions.NotAvailable):
    """The evacuator did not answer, or cannot be reached as configured."""


def _options():
    """(transport_url, rpc_topic, timeout, read_timeout) from settings."""
    options = getattr(settings, SETTING, None) or {}
    url = options.get('transport_url')
    if not url:
        raise EvacuatorUnavailable(_(
            "NOVA_MIGRATION_EXT['transport_url'] is not set in Horizon's "
            "settings: set it to the RabbitMQ URL of "
            "nova-migration-evacuator."))
    return (url, options.get('rpc_topic') or None,
            int(options.get('timeout') or rpcapi.TIMEOUT),
            int(options.get('read_timeout') or READ_TIMEOUT))


def _build_client(url, topic, timeout, read_timeout):
    # The global ConfigOpts, as rpcapi asks: oslo.messaging registers its
    # tracing options there only (a private ConfigOpts fails on the first
    # call). Horizon itself does not use oslo.config's global object.
    conf = cfg.CONF
    rpcapi.topic(conf)
    if topic:
        conf.set_override('rpc_topic', topic, group=rpcapi.GROUP)
    else:
        conf.clear_override('rpc_topic', group=rpcapi.GROUP)
    transport = messaging.get_rpc_transport(conf, url=url)
    return rpcapi.EvacuatorAPI(conf, transport=transport, timeout=timeout,
                               read_timeout=read_timeout,
                               read_attempts=READ_ATTEMPTS)


def client():
    """The process's RPC client for the configured evacuator."""
    options = _options()
    with _clients_lock:
        if options not in _clients:
            _clients[options] = _build_client(*options)
        return _clients[options]


def _answer(operation, waited, *args, **kwargs):
    try:
        result = getattr(client(), operation)(*args, **kwargs)
    except messaging.MessagingTimeout:
        raise EvacuatorUnavailable(_(
            "The evacuator service did not answer within %(seconds)d s: "
            "check that nova-migration-evacuator is running and that "
            "NOVA_MIGRATION_EXT['transport_url'] points at its "
            "RabbitMQ.") % {'seconds': waited})
    if isinstance(result, dict) and result.get('error'):
        raise EvacuatorError(result['error'])
    return result


def _change(operation, *args, **kwargs):
    return _answer(operation, _options()[2], *args, **kwargs)


def _read(operation, *args, **kwargs):
    return _answer(operation, _options()[3] * READ_ATTEMPTS, *args,
                   **kwargs)


def _actor(request):
    return request.user.username


def evacuation_list(request):
    """[{id, name, state, sources, owner, created_at}]."""
    return _read('list')


def evacuation_get(request, evacuation_id, with_audit=False):
    """One evacuation with its tasks, progress and ETA (and audit log)."""
    return _read('show', evacuation_id, with_audit=with_audit)


def evacuation_get_shared(request, evacuation_id, max_age=ROW_POLL_SHARE):
    """``evacuation_get``, shared by the row updates of one poll.

    Horizon asks for each polled row of a table separately: for the VMs
    of an evacuation, that was one full ``show`` per VM per interval
    (hundreds for a large drain). Answers are shared for *max_age*
    seconds, through Django's cache.
    """
    key = 'nova-migration-ext:show:%s' % evacuation_id
    info = cache.get(key)
    if info is None:
        info = evacuation_get(request, evacuation_id)
        cache.set(key, info, max_age)
    return info


def evacuation_plan(request, sources, targets=None, policy=None, name='',
                    dry_run=False, target_aggregate=None):
    """Plan (or, with *dry_run*, only preview) emptying *sources*."""
    return _change('plan', sources, targets=targets, policy=policy,
                   name=name, actor=_actor(request), dry_run=dry_run,
                   target_aggregate=target_aggregate)


def evacuation_start(request, evacuation_id):
    return _change('start', evacuation_id, actor=_actor(request))


def evacuation_pause(request, evacuation_id):
    return _change('pause', evacuation_id, actor=_actor(request))


def evacuation_resume(request, evacuation_id):
    return _change('resume', evacuation_id, actor=_actor(request))


def evacuation_cancel(request, evacuation_id):
    return _change('cancel', evacuation_id, actor=_actor(request))


def task_retry(request, evacuation_id, server, allow_downtime=False):
    """Try moving one VM (name or id) of the evacuation again.

    With *allow_downtime*, it may go cold (down meanwhile).
    """
    extra = {'allow_downtime': True} if allow_downtime else {}
    return _change('retry', evacuation_id, server, actor=_actor(request),
                   **extra)


def task_skip(request, evacuation_id, server):
    """Leave one VM (name or id) of the evacuation where it is."""
    return _change('skip', evacuation_id, server, actor=_actor(request))
