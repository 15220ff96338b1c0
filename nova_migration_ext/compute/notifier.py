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
"""oslo.messaging notifier for precheck verdicts.

Events are ``migration_ext.precheck.warn`` and ``migration_ext.precheck.fail``
with publisher ``migration_ext.<host>``, sent through nova's notification
transport and ``[oslo_messaging_notifications]`` driver and topics.
"""

import nova.conf
from nova import rpc
import oslo_messaging as messaging

CONF = nova.conf.CONF


def get_notifier(host):
    """Return a notifier for *host*, or None when messaging is not set up."""
    transport = rpc.NOTIFICATION_TRANSPORT
    if transport is None:
        transport = messaging.get_notification_transport(CONF)
    return messaging.Notifier(
        transport, publisher_id='migration_ext.%s' % host,
        serializer=rpc.RequestContextSerializer(rpc.JsonPayloadSerializer()))
