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
"""The RabbitMQ this machine runs, for the tests that talk over it.

oslo.messaging leaves the queues it declares on the broker; each test
uses names of its own and deletes them when it ends, so neither parallel
tests nor runs pile up queues on a shared broker.
"""

import os
import socket

import kombu

from tests import services

URL = os.environ.get('NOVA_MIGRATION_EXT_TEST_RABBIT_URL',
                     'rabbit://guest:guest@127.0.0.1:5672/')


def reachable(host='127.0.0.1', port=5672):
    """Whether something listens on *host*:*port*."""
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def require(test, mariadb=False):
    """Skip *test* (fail it on CI) unless RabbitMQ (and MariaDB) listen."""
    if not reachable():
        services.skip_missing(test, services.RABBITMQ,
                              'needs RabbitMQ on 127.0.0.1:5672')
    if mariadb and not reachable(port=3306):
        services.skip_missing(test, services.MARIADB,
                              'needs MariaDB on 127.0.0.1:3306')


def delete_queues(*names):
    """Delete these queues; absent ones are fine."""
    with kombu.Connection(URL.replace('rabbit://', 'amqp://', 1)) as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)
