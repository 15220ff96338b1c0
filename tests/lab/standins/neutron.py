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
"""A stand-in for Neutron: a networking API of a cloud without ports.

NOT Neutron. The lab boots its servers with ``networks: none``
(microversion >= 2.37), so nova never needs a port; what it still asks
Neutron (listing an instance's ports and the project's networks to build
the network info cache, the extension list, port bindings on migration)
is answered truthfully for a cloud with no ports, networks, subnets,
floating IPs or security groups: empty lists, and 404 for any single
resource. Anything that would create a resource gets a 501 whose message
names this stand-in.

Extensions advertised (:data:`EXTENSIONS`): ``binding`` and
``binding-extended``, as every ML2 Neutron since Rocky does and as nova's
own functional NeutronFixture does. ``binding-extended`` puts nova on
its production live-migration path (multiple port bindings: conductor
binds ports on the destination, migrate_data.vifs is set) and changes
nothing when an instance has no ports: every loop runs over zero VIFs,
``migrate_data.vifs`` is an empty list, ``bind_ports_to_host`` returns
``{}`` without a request and ``cleanup_instance_network_on_host`` lists
zero ports. Not advertised, because each would only matter for a cloud
with ports or networks: ``port-resource-request-groups`` (it would add a
ports listing before every move operation), ``dns-integration``,
``multi-provider``, ``segment``, ``fip-port-details``,
``ip-substring-filtering``, ``security-groups-shared-filtering``,
``vnic-index``.
"""

from tests.lab.standins import wsgi

NAME = 'the Neutron stand-in of the nova-migration-ext lab'

EXTENSIONS = (
    {'alias': 'binding',
     'name': 'Port Binding',
     'description': 'Expose port bindings of a virtual port to external '
                    'application',
     'updated': '2014-02-03T10:00:00-00:00',
     'links': []},
    {'alias': 'binding-extended',
     'name': 'Port Bindings Extended',
     'description': 'Expose port bindings of a virtual port to external '
                    'application',
     'updated': '2017-07-17T10:00:00-00:00',
     'links': []},
)

# URL collection -> (JSON collection key, Neutron's resource name).
COLLECTIONS = {
    'ports': ('ports', 'Port'),
    'networks': ('networks', 'Network'),
    'subnets': ('subnets', 'Subnet'),
    'subnetpools': ('subnetpools', 'SubnetPool'),
    'floatingips': ('floatingips', 'FloatingIP'),
    'routers': ('routers', 'Router'),
    'security-groups': ('security_groups', 'SecurityGroup'),
    'security-group-rules': ('security_group_rules', 'SecurityGroupRule'),
    'trunks': ('trunks', 'Trunk'),
}
_COLLECTION = '(?P<collection>%s)' % '|'.join(
    name.replace('-', '\\-') for name in COLLECTIONS)
_ID = '(?P<resource_id>[^/]+)'


class NeutronStandIn(wsgi.StandIn):
    """The WSGI application: Neutron's v2.0 API for a cloud with no ports."""

    NAME = NAME
    OPEN_PATHS = ('/', '/v2.0')
    ROUTES = (
        ('GET', '/', 'versions'),
        ('GET', '/v2.0', 'resources'),
        ('GET', '/v2.0/extensions', 'list_extensions'),
        ('GET', '/v2.0/extensions/(?P<alias>[^/]+)', 'show_extension'),
        ('GET', '/v2.0/%s' % _COLLECTION, 'list_collection'),
        ('POST', '/v2.0/%s' % _COLLECTION, 'create'),
        ('GET', '/v2.0/%s/%s' % (_COLLECTION, _ID), 'missing'),
        ('PUT', '/v2.0/%s/%s' % (_COLLECTION, _ID), 'missing'),
        ('DELETE', '/v2.0/%s/%s' % (_COLLECTION, _ID), 'missing'),
        # Port bindings (binding-extended): there is no port to bind.
        ('GET', '/v2.0/ports/%s/bindings' % _ID, 'missing_port'),
        ('POST', '/v2.0/ports/%s/bindings' % _ID, 'missing_port'),
        ('GET', '/v2.0/ports/%s/bindings/[^/]+' % _ID, 'missing_port'),
        ('DELETE', '/v2.0/ports/%s/bindings/[^/]+' % _ID, 'missing_port'),
        ('PUT', '/v2.0/ports/%s/bindings/[^/]+/activate' % _ID,
         'missing_port'),
    )

    def error(self, status, kind, message):
        """Neutron's error body, which neutronclient maps to exceptions."""
        return wsgi.reply(status, {'NeutronError': {
            'type': kind, 'message': message, 'detail': ''}})

    def versions(self, req):
        return wsgi.reply(200, {'versions': [{
            'id': 'v2.0', 'status': 'CURRENT',
            'links': [{'rel': 'self', 'href': req.host_url + '/v2.0/'}]}]})

    def resources(self, req):
        return wsgi.reply(200, {'resources': [
            {'name': key[:-1], 'collection': key,
             'links': [{'rel': 'self',
                        'href': '%s/v2.0/%s' % (req.host_url, name)}]}
            for name, (key, _kind) in sorted(COLLECTIONS.items())]})

    def list_extensions(self, req):
        return wsgi.reply(200, {'extensions': list(EXTENSIONS)})

    def show_extension(self, req, alias):
        for extension in EXTENSIONS:
            if extension['alias'] == alias:
                return wsgi.reply(200, {'extension': extension})
        raise wsgi.Error(404, 'ExtensionNotFound', 'Extension with alias '
                         '%s does not exist (%s).' % (alias, NAME))

    def list_collection(self, req, collection):
        """Every collection is empty, whatever the filters."""
        return wsgi.reply(200, {COLLECTIONS[collection][0]: []})

    def missing(self, req, collection, resource_id):
        kind = COLLECTIONS[collection][1]
        raise wsgi.Error(404, '%sNotFound' % kind, '%s %s could not be '
                         'found (%s has none).' % (
                             kind, resource_id, NAME))

    def missing_port(self, req, resource_id):
        return self.missing(req, 'ports', resource_id)

    def create(self, req, collection):
        raise wsgi.Error(501, 'NotImplementedError', 'Cannot create %s: %s '
                         'only stands in for a cloud without networking '
                         '(boot servers with networks "none").' % (
                             collection, NAME))


def make_app(log=None, require_token=True, authtoken_config=None):
    """The Neutron stand-in, logging to *log* (a wsgi.RequestLog)."""
    app = NeutronStandIn(require_token=require_token)
    if authtoken_config:
        app = wsgi.with_authtoken(app, authtoken_config)
    return wsgi.logged(app, log or wsgi.RequestLog())
