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
"""RPC client of the evacuator service, for the CLI and Horizon.

It imports neither nova nor the engine: only oslo.messaging and
oslo.config, so Horizon's environment can use it. Every call returns
plain JSON-compatible data.
"""

from oslo_config import cfg
import oslo_messaging as messaging

TOPIC = 'nova-migration-evacuator'
# 1.0: the first API. 1.1: plan(target_aggregate=...).
VERSION = '1.1'
TIMEOUT = 120
READ_TIMEOUT = 30
READ_ATTEMPTS = 3
GROUP = 'evacuator'

TOPIC_OPT = cfg.StrOpt(
    'rpc_topic', sample_default=TOPIC,
    help='RPC topic the evacuators serve and the CLI and Horizon call; '
         'it names their queues on RabbitMQ (default: %s). The queues of '
         'a topic are shared by everything on the same virtual host, so '
         'two sets of evacuators on one RabbitMQ virtual host (two '
         'regions, a staging and a production cloud) need different '
         'topics, or they answer each other\'s calls from the wrong '
         'database. Clients must use the same topic as their evacuators.'
         % TOPIC)


def topic(conf):
    """The RPC topic configured on *conf*, registering its option."""
    conf.register_opt(TOPIC_OPT, group=GROUP)
    return conf[GROUP].rpc_topic or TOPIC


class EvacuatorAPI:
    """Talk to the ``nova-migration-evacuator`` service.

    *timeout* bounds a change (plan, start, ...); a read (list, show) waits
    *read_timeout* seconds and is asked *read_attempts* times.

    :param conf: the global ``oslo_config.cfg.CONF`` (oslo.messaging
        registers some of its options there only) with ``transport_url``
        set to the evacuator's RabbitMQ and, when the evacuators use
        another one than the default, ``[evacuator] rpc_topic``.
    """

    def __init__(self, conf, transport=None, timeout=TIMEOUT,
                 read_timeout=READ_TIMEOUT, read_attempts=READ_ATTEMPTS):
        self.transport = transport or messaging.get_rpc_transport(conf)
        self.read_timeout = read_timeout
        self.read_attempts = read_attempts
        # Calls ask for the oldest version that has what they send, so a
        # newer client works with evacuators not yet upgraded.
        target = messaging.Target(topic=topic(conf), version='1.0')
        self.client = messaging.get_rpc_client(self.transport, target,
                                               timeout=timeout)

    def _call(self, method, version=None, **kwargs):
        client = self.client.prepare(version=version) if version \
            else self.client
        return client.call({}, method, **kwargs)

    def _read(self, method, **kwargs):
        """A read-only call, asked again if it times out.

        The evacuator that took it may have died before answering while
        another one serves the topic.
        """
        for attempt in range(self.read_attempts):
            try:
                return self.client.prepare(timeout=self.read_timeout).call(
                    {}, method, **kwargs)
            except messaging.MessagingTimeout:
                if attempt == self.read_attempts - 1:
                    raise

    def plan(self, sources, targets=None, policy=None, name='',
             actor='admin', dry_run=False, target_aggregate=None):
        kwargs = {}
        if target_aggregate:
            kwargs = {'version': '1.1', 'target_aggregate': target_aggregate}
        return self._call('plan', sources=list(sources),
                          targets=list(targets) if targets else None,
                          policy=policy or {}, name=name, actor=actor,
                          dry_run=dry_run, **kwargs)

    def list(self):
        return self._read('list')

    def show(self, evacuation_id, with_audit=False):
        return self._read('show', evacuation_id=evacuation_id,
                          with_audit=with_audit)

    def start(self, evacuation_id, actor='admin'):
        return self._call('start', evacuation_id=evacuation_id, actor=actor)

    def pause(self, evacuation_id, actor='admin'):
        return self._call('pause', evacuation_id=evacuation_id, actor=actor)

    def resume(self, evacuation_id, actor='admin'):
        return self._call('resume', evacuation_id=evacuation_id,
                          actor=actor)

    def cancel(self, evacuation_id, actor='admin'):
        return self._call('cancel', evacuation_id=evacuation_id,
                          actor=actor)

    def retry(self, evacuation_id, server, actor='admin',
              allow_downtime=False):
        # Sent only when asked: an older evacuator knows no such argument.
        extra = {'allow_downtime': True} if allow_downtime else {}
        return self._call('retry', evacuation_id=evacuation_id,
                          server=server, actor=actor, **extra)

    def skip(self, evacuation_id, server, actor='admin'):
        return self._call('skip', evacuation_id=evacuation_id,
                          server=server, actor=actor)
