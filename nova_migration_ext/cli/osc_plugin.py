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
"""python-openstackclient plugin: ``openstack drain …``.

Over the REST API (``nova-migration-ext-api``), found in the Keystone
catalog under service type ``host-drain``, with the user's own
keystoneauth session: no RabbitMQ or database credentials on the
client. ("drain", not "evacuation": nova's ``evacuate`` rebuilds the VMs
of a dead host, which is another thing.)
"""

from osc_lib import utils

from nova_migration_ext import client

API_NAME = 'drain'
API_VERSION_OPTION = 'os_drain_api_version'
API_VERSIONS = {'1': 'nova_migration_ext.client.v1.Client'}
DEFAULT_API_VERSION = '1'


def make_client(instance):
    """The API's client, on the session OpenStackClient authenticated."""
    client_class = utils.get_client_class(
        API_NAME, instance._api_version[API_NAME], API_VERSIONS)
    return client_class(
        instance.session, service_type=client.SERVICE_TYPE,
        interface=instance.interface, region_name=instance.region_name)


def build_option_parser(parser):
    parser.add_argument(
        '--os-drain-api-version', metavar='<drain-api-version>',
        default=utils.env('OS_DRAIN_API_VERSION',
                          default=DEFAULT_API_VERSION),
        help='Host-drain API version, default=%s (Env: '
             'OS_DRAIN_API_VERSION)' % DEFAULT_API_VERSION)
    return parser
