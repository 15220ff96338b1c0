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
"""Follow migrations and hosts through nova's notifications.

Nova emits a versioned notification at each step of a move
(``instance.live_migration_pre.start`` … ``instance.resize_confirm.end``).
:class:`MigrationEventEndpoint` listens to them with oslo.messaging and
writes the step into the task as its ``phase``, so ``show`` says where each
VM is (preparing the destination, copying, switching over, rolling back …)
between two polls of the API. A cold migration reports no bytes in nova's
API: the end of its disk copy (``instance.resize.end``) counts it as
copied.

:class:`HostFactsEndpoint` keeps the facts our driver publishes of each
compute (``migration_ext.host.facts``: image cache, real free disk), which
nova's API does not show, for the planner.

Nova must send them: ``[notifications] notification_format = versioned``
(or ``both``) and ``[oslo_messaging_notifications] driver = messagingv2``;
the versioned ones go to ``versioned_notifications``, the driver's to
``notifications`` (``[oslo_messaging_notifications] topics``).
"""

import re

from oslo_log import log as logging
import oslo_messaging as messaging

from nova_migration_ext.compute import host_stats
from nova_migration_ext.contract import states

LOG = logging.getLogger(__name__)

# event type -> (phase, copied): copied is True when every byte has moved,
# False when nothing has (a rollback), None when the event does not say.
EVENTS = {
    'instance.live_migration_pre.start': ('preparing the destination',
                                          None),
    'instance.live_migration_pre.end': ('copying memory and disks', None),
    'instance.live_migration_post.start': ('switching over', True),
    'instance.live_migration_post_dest.end': ('running on the destination',
                                              True),
    'instance.live_migration_post.end': ('source cleaned up', True),
    'instance.live_migration_abort.start': ('aborting', None),
    'instance.live_migration_rollback.start': ('rolling back', False),
    'instance.live_migration_rollback.end': ('rolled back', False),
    'instance.resize_prep.start': ('preparing', None),
    'instance.resize.start': ('powered off, copying disks', None),
    'instance.resize.end': ('disks copied', True),
    'instance.resize_finish.start': ('starting on the destination', True),
    'instance.resize_finish.end': ('waiting for confirmation', True),
    'instance.resize_confirm.end': ('confirmed', True),
    'instance.resize_revert.start': ('reverting', False),
    'instance.resize_revert.end': ('reverted', False),
    'instance.resize.error': ('copy failed', False),
}
FILTER = messaging.NotificationFilter(
    event_type=r'^instance\.(live_migration|resize)')


def server_of(payload):
    """The instance UUID in a versioned notification's payload."""
    data = (payload or {}).get('nova_object.data') or {}
    return data.get('uuid')


class MigrationEventEndpoint:
    """oslo.messaging notification endpoint recording migration phases.

    The newest task that moves the server gets the phase, even when the
    event arrives after the executor closed the task; its copied bytes
    change only while the task is under way.
    """

    filter_rule = FILTER

    def __init__(self, store):
        self.store = store

    def _record(self, event_type, payload):
        phase, copied = EVENTS.get(event_type, (None, None))
        server_id = server_of(payload)
        if phase is None or server_id is None:
            return None
        task = self.store.latest_task_for_server(server_id)
        if task is None:
            return None     # a move the evacuator does not drive
        fields = {'phase': phase}
        if task.state in states.TASK_ACTIVE and copied is not None:
            fields['bytes_done'] = task.bytes_total if copied else 0
        LOG.debug('%s: %s (%s)', server_id, phase, event_type)
        self.store.update_task(task.id, 'nova-notifications', **fields)
        return messaging.NotificationResult.HANDLED

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._record(event_type, payload)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._record(event_type, payload)


class HostFactsEndpoint:
    """Keep the facts computes publish (``migration_ext.host.facts``).

    Nova's API does not show what is in a host's image cache nor the real
    free space of its instances path; the driver sends them once per
    resource-tracker period and the planner reads them back.
    """

    filter_rule = messaging.NotificationFilter(
        event_type='^%s$' % re.escape(host_stats.FACTS_EVENT))

    def __init__(self, store):
        self.store = store

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        host = (payload or {}).get('host')
        stats = (payload or {}).get('stats')
        if not host or not isinstance(stats, dict):
            LOG.warning('Ignoring %s from %s without host or stats',
                        event_type, publisher_id)
            return None
        self.store.save_host_facts(host, stats)
        return messaging.NotificationResult.HANDLED


def get_listener(conf, store, topics, pool, exchange='nova',
                 transport=None):
    """A notification listener on nova's versioned notification topics.

    *pool* names the evacuators' own queue beside other consumers of the
    same topics; evacuators sharing a pool share the work. Nova
    publishes on the *exchange* ``nova``.
    """
    transport = transport or messaging.get_notification_transport(conf)
    targets = [messaging.Target(topic=topic, exchange=exchange)
               for topic in topics]
    return messaging.get_notification_listener(
        transport, targets,
        [MigrationEventEndpoint(store), HostFactsEndpoint(store)],
        executor='threading', pool=pool)
