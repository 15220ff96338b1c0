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
"""python-openstackclient plugin: ``openstack evacuation …``.

The evacuator is reached over RPC with the transport URL of its
configuration file (``--os-evacuator-config``, default
``/etc/nova-migration-ext/evacuator.conf``).
"""

from nova_migration_ext.cli import app as cli_app

API_NAME = 'evacuation'
API_VERSION_OPTION = 'os_evacuation_api_version'
API_VERSIONS = {'1': 'nova_migration_ext.evacuation.rpcapi.EvacuatorAPI'}
DEFAULT_API_VERSION = '1'


def make_client(instance):
    config = getattr(instance, '_cli_options', None)
    path = getattr(config, 'os_evacuator_config', None) or \
        cli_app.DEFAULT_CONFIG
    return cli_app.ClientManager([path]).evacuation


def build_option_parser(parser):
    parser.add_argument('--os-evacuator-config', metavar='<path>',
                        default=cli_app.DEFAULT_CONFIG,
                        help='Evacuator configuration file with its '
                             'transport_url.')
    return parser
