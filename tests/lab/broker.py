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
"""The lab's own RabbitMQ node.

The lab's services talk to a RabbitMQ node of their own (``nmxlab``,
started from Debian's ``rabbitmq-server`` with its files under the lab's
root), not to the machine's: a test that stops the broker to show what
an outage does must not take down anything else running on the machine.
"""

import os
import shutil
import subprocess

from tests.lab import config
from tests.lab import procs

NODE = 'nmxlab@localhost'
DIST_PORT = 25682
SERVICE = 'rabbitmq'


def ctl(*args, timeout=120, check=True):
    """``rabbitmqctl`` against the lab's node; its output."""
    result = subprocess.run(['rabbitmqctl', '-q', '-n', NODE] + list(args),
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode:
        raise procs.LabError('rabbitmqctl %s: %s%s' % (
            ' '.join(args), result.stdout, result.stderr))
    return result.stdout


class Broker(object):
    """Start and stop the lab's RabbitMQ node, or cut it off for a while."""

    def __init__(self, root, supervisor):
        self.base = os.path.join(root, 'rabbitmq')
        self.supervisor = supervisor

    def _environment(self):
        conf = os.path.join(self.base, 'rabbitmq.conf')
        plugins = os.path.join(self.base, 'enabled_plugins')
        with open(conf, 'w') as f:
            f.write('listeners.tcp.default = %s:%d\n' % (
                config.HOST, config.PORTS['rabbit']))
        with open(plugins, 'w') as f:
            f.write('[].\n')
        return {
            'RABBITMQ_NODENAME': NODE,
            'RABBITMQ_NODE_PORT': str(config.PORTS['rabbit']),
            'RABBITMQ_DIST_PORT': str(DIST_PORT),
            'RABBITMQ_CONFIG_FILE': conf,
            'RABBITMQ_ENABLED_PLUGINS_FILE': plugins,
            'RABBITMQ_MNESIA_BASE': os.path.join(self.base, 'mnesia'),
            'RABBITMQ_LOG_BASE': os.path.join(self.base, 'log'),
            'RABBITMQ_PID_FILE': os.path.join(self.base, 'pid'),
        }

    def start(self):
        """A fresh node with the lab's virtual host; waits until it runs."""
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        os.makedirs(self.base)
        env = self._environment()
        # rabbitmq-server drops to the rabbitmq user, who must own these.
        shutil.chown(self.base, 'rabbitmq', 'rabbitmq')
        for name in os.listdir(self.base):
            shutil.chown(os.path.join(self.base, name), 'rabbitmq',
                         'rabbitmq')
        self.supervisor.start(SERVICE, ['rabbitmq-server'], env=env)
        # Waits for the node to write its pid file, then to finish booting.
        ctl('wait', env['RABBITMQ_PID_FILE'], '--timeout', '120',
            timeout=150)
        ctl('add_vhost', config.VHOST)
        ctl('set_permissions', '-p', config.VHOST, 'guest', '.*', '.*',
            '.*')

    def stop(self):
        if self.supervisor.pid(SERVICE):
            ctl('stop', check=False, timeout=60)
        self.supervisor.stop(SERVICE)

    def pause(self):
        """Stop the broker application: every connection is dropped."""
        ctl('stop_app')

    def resume(self):
        ctl('start_app')
        ctl('await_startup', '--timeout', '120', timeout=150)
