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
"""``nova-evacuation``: the evacuation commands without the openstack
client, configured from the evacuator's configuration file."""

import sys

from cliff import app
from cliff import commandmanager
from oslo_config import cfg

from nova_migration_ext.cli import commands
from nova_migration_ext.evacuation import rpcapi

DEFAULT_CONFIG = '/etc/nova-migration-ext/evacuator.conf'
COMMANDS = {
    'plan': commands.PlanEvacuation,
    'list': commands.ListEvacuations,
    'show': commands.ShowEvacuation,
    'tasks': commands.ListTasks,
    'start': commands.StartEvacuation,
    'pause': commands.PauseEvacuation,
    'resume': commands.ResumeEvacuation,
    'cancel': commands.CancelEvacuation,
    'retry': commands.RetryServer,
    'skip': commands.SkipServer,
    'recover': commands.RecoverEvacuation,
    'audit': commands.AuditLog,
}


class ClientManager:
    """What the commands reach through ``self.app.client_manager``."""

    def __init__(self, config_files):
        self._config_files = config_files
        self._api = None

    @property
    def drain(self):
        if self._api is None:
            # oslo.messaging registers some of its options on the global
            # object only, so the CLI uses it, as services do.
            conf = cfg.CONF
            conf([], project='nova-migration-ext',
                 default_config_files=self._config_files)
            self._api = rpcapi.EvacuatorAPI(conf)
        return self._api


class EvacuationApp(app.App):

    def __init__(self):
        manager = commandmanager.CommandManager('nova_migration_ext.cli')
        for name, cls in COMMANDS.items():
            manager.add_command(name, cls)
        super().__init__(description='Drain compute hosts safely.',
                         version='1.0', command_manager=manager,
                         deferred_help=True)

    def build_option_parser(self, description, version, argparse_kwargs=None):
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        parser.add_argument('--config-file', action='append',
                            default=None, dest='config_files',
                            help='Evacuator configuration with '
                                 'transport_url (default: %s).'
                                 % DEFAULT_CONFIG)
        return parser

    def initialize_app(self, argv):
        self.client_manager = ClientManager(self.options.config_files or
                                            [DEFAULT_CONFIG])

    def clean_up(self, cmd, result, err):
        if isinstance(err, commands.CommandError):
            return 1


def main(argv=None):
    return EvacuationApp().run(sys.argv[1:] if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
