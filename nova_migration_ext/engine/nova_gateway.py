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
"""Everything the engine asks of nova, through nova's public API.

python-novaclient on a keystoneauth session: the engine authenticates with
service or application credentials, so its token renews itself and an
operator's short-lived token is never used. Microversion 2.87 is the
newest that still reports hypervisor capacity.
"""

import collections
import datetime

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc
from oslo_log import log as logging

from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.engine import inventory

LOG = logging.getLogger(__name__)
# What a call to nova or Placement raises when they, Keystone or the
# network fail.
ERRORS = (nova_exc.ClientException, ks_exc.ClientException)
MICROVERSION = '2.87'
GiB = drain_policy.GiB
RESOURCE_CLASSES = ('VCPU', 'MEMORY_MB', 'DISK_GB')
DEFAULT_ALLOCATION_RATIOS = dict.fromkeys(RESOURCE_CLASSES, 1.0)
# What Placement lets the scheduler use of a resource class: (total -
# reserved) * ratio.
Capacity = collections.namedtuple('Capacity', 'ratio reserved')

# A precheck refusal is permanent for that target. NoValidHost is not
# listed: nova reports it when every candidate failed its checks, RPC
# time-outs included, so it is retried (a bounded number of times).
PERMANENT_MARKERS = (
    'MigrationPreCheckError',
    'pre-check error',
    'Nothing was changed',     # our prechecks' refusals
)


TRANSIENT_MARKERS = (
    'MessagingTimeout',
    'Timeout while checking',      # conductor's RPC time-out on a precheck
    'Timed out waiting for a reply',
    'Network filter not found',
)


def parse_time(value):
    """nova's timestamp (text or datetime) as a naive UTC datetime."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None)
    text = str(value).replace('Z', '').split('+')[0]
    return datetime.datetime.fromisoformat(text)


def not_before(moment, since):
    """Whether nova's timestamp *moment* is at or after *since*.

    To the second, as nova stores them; True without *since*, and for a
    *moment* nova did not give.
    """
    if since is None or not moment:
        return True
    return parse_time(moment) >= since.replace(microsecond=0)


def every_page(list_page):
    """Every item of a list nova returns in pages.

    nova returns at most ``[api] max_limit`` items (1000 by default) per
    call, whatever limit is asked. *list_page* takes the items read so far
    and returns the next page; reading stops at an empty page.
    """
    items = []
    while True:
        page = list_page(items)
        if not page:
            return items
        items.extend(page)


def is_transient(error):
    """True for errors worth retrying (RPC time-outs, 5xx, flaky filters).

    A failure nova does not explain (the VM simply stayed on its source)
    counts as transient too; a precheck refusal or a 4xx does not.
    """
    text = str(error)
    if any(marker in text for marker in TRANSIENT_MARKERS):
        return True
    if any(marker in text for marker in PERMANENT_MARKERS):
        return False
    if isinstance(error, nova_exc.ClientException):
        code = getattr(error, 'code', 0) or 0
        # 409: the VM is still busy (a rollback in progress).
        return code >= 500 or code in (408, 409, 429)
    return True


def is_unknown_outcome(error):
    """True when nova may have carried out the request despite *error*.

    A time-out, a lost connection or reply, a 5xx: the request may have
    been acted on. A 409 says the server is busy, perhaps moving already.
    Only a definite refusal (another 4xx) says nothing happened.
    """
    if isinstance(error, nova_exc.ClientException):
        code = getattr(error, 'code', 0) or 0
        return not 400 <= code < 500 or code in (408, 409)
    return True


def is_gone(error):
    """True when nova answered 404: the server no longer exists."""
    return isinstance(error, nova_exc.NotFound)


def _disk_room_gib(hyp, disk):
    """GiB Placement still lets the scheduler put on *hyp*.

    Without overcommit, no more than the disk really left
    (``disk_available_least``).
    """
    room = (hyp.local_gb - disk.reserved) * disk.ratio - \
        (hyp.local_gb_used - disk.reserved)
    if disk.ratio <= 1.0:
        room = min(room, hyp.disk_available_least)
    return max(room, 0)


class NovaGateway:
    """Thin, testable wrapper around novaclient for the engine."""

    # What the operator says (the evacuator sets it from its options):
    # allocation ratios of hosts whose inventory Placement does not give,
    # and {group: [host, ...]} of hosts sharing their instances storage.
    default_allocation_ratios = DEFAULT_ALLOCATION_RATIOS
    shared_storage_groups = {}

    def __init__(self, session, region_name=None, endpoint_override=None,
                 placement=None):
        self.nova = nova_client.Client(
            MICROVERSION, session=session, region_name=region_name,
            endpoint_override=endpoint_override)
        self.placement = placement or ks_adapter.Adapter(
            session, service_type='placement', region_name=region_name)

    def allocation_ratios(self, provider_id):
        """(cpu, ram) allocation ratios of resource provider *provider_id*.

        nova's hypervisor API does not show them; Placement's inventory
        does. See :meth:`capacities` when Placement cannot say.
        """
        capacities = self.capacities(provider_id)
        return capacities['VCPU'].ratio, capacities['MEMORY_MB'].ratio

    def capacities(self, provider_id):
        """:class:`Capacity` of *provider_id* per resource class.

        From Placement's inventory. Where it cannot say: the operator's
        ``default_allocation_ratios`` (1.0 unless set: the plan then sees
        less room than there is, never more) and nothing reserved, with a
        warning.
        """
        try:
            response = self.placement.get(
                '/resource_providers/%s/inventories' % provider_id,
                raise_exc=True)
            inventories = response.json()['inventories']
        except Exception as exc:
            LOG.warning('No inventory from Placement for %s (%s); planning '
                        'with the default allocation ratios', provider_id,
                        exc)
            inventories = {}
        return {rc: self._capacity(rc, inventories.get(rc))
                for rc in RESOURCE_CLASSES}

    def _capacity(self, resource_class, inventory_of_class):
        if inventory_of_class:
            return Capacity(float(inventory_of_class['allocation_ratio']),
                            int(inventory_of_class.get('reserved', 0)))
        return Capacity(float(self.default_allocation_ratios.get(
            resource_class, 1.0)), 0)

    # -- inventory ------------------------------------------------------------

    def hosts(self):
        services = {s.host: s for s in self.nova.services.list(
            binary='nova-compute')}
        hosts = []
        for hyp in every_page(lambda seen: self.nova.hypervisors.list(
                detailed=True, marker=seen[-1].id if seen else None)):
            name = hyp.service['host']
            service = services.get(name)
            # From 2.53 a hypervisor's id is its compute node's UUID, which
            # is its resource provider's. nova counts the reserved amounts
            # as used; Placement's capacity is (total - reserved) * ratio.
            caps = self.capacities(hyp.id)
            cpu, ram = caps['VCPU'], caps['MEMORY_MB']
            hosts.append(inventory.Host(
                name=name, vcpus=hyp.vcpus - cpu.reserved,
                vcpus_used=max(hyp.vcpus_used - cpu.reserved, 0),
                memory_mb=hyp.memory_mb - ram.reserved,
                memory_mb_used=max(hyp.memory_mb_used - ram.reserved, 0),
                cpu_allocation_ratio=cpu.ratio,
                ram_allocation_ratio=ram.ratio,
                disk_free_bytes=_disk_room_gib(hyp, caps['DISK_GB']) * GiB,
                enabled=service is None or service.status == 'enabled',
                up=service is None or service.state == 'up',
                qemu_version=getattr(hyp, 'hypervisor_version', None)))
        return inventory.with_shared_storage(hosts,
                                             self.shared_storage_groups)

    def aggregates(self):
        """Host aggregate name -> its hosts."""
        return {agg.name: list(agg.hosts)
                for agg in self.nova.aggregates.list()}

    def servers_on(self, hosts):
        # nova's server list does not say which group a server is in (only
        # a single server's show does, from 2.71): the groups' members do.
        memberships = collections.defaultdict(list)
        for group in every_page(lambda seen: self.nova.server_groups.list(
                all_projects=True, offset=len(seen))):
            for member in group.members:
                memberships[member].append((group.id, group.policy))
        servers = []
        for host in hosts:
            # limit=-1: novaclient follows the pages itself.
            for srv in self.nova.servers.list(limit=-1, search_opts={
                    'all_tenants': True, 'host': host}):
                servers.append(self.to_inventory(
                    srv, memberships.get(srv.id, ())))
        return servers

    def servers(self):
        """Every server of every host, in one paged listing.

        Without their server groups (see :meth:`servers_on`): what the
        hosts' usage needs.
        """
        return [self.to_inventory(srv) for srv in self.nova.servers.list(
            limit=-1, search_opts={'all_tenants': True})]

    @staticmethod
    def to_inventory(srv, server_groups=()):
        """*srv* as the planner sees it; *server_groups* as in Server."""
        flavor = srv.flavor
        disk = (flavor.get('disk', 0) + flavor.get('ephemeral', 0)) * GiB + \
            flavor.get('swap', 0) * drain_policy.MiB
        image = srv.image if isinstance(srv.image, dict) else {}
        return inventory.Server(
            id=srv.id, name=srv.name,
            host=getattr(srv, 'OS-EXT-SRV-ATTR:host'),
            status=srv.status, vcpus=flavor.get('vcpus', 0),
            memory_mb=flavor.get('ram', 0), disk_bytes=disk,
            project_id=srv.tenant_id, image_id=image.get('id'),
            volumes=tuple(v['id'] for v in getattr(
                srv, 'os-extended-volumes:volumes_attached', [])),
            server_groups=tuple(server_groups),
            task_state=getattr(srv, 'OS-EXT-STS:task_state', None))

    # -- services -------------------------------------------------------------

    def _service(self, host):
        found = self.nova.services.list(host=host, binary='nova-compute')
        if not found:
            raise LookupError('No nova-compute service on host %s.' % host)
        return found[0]

    def disable_host(self, host, reason):
        service = self._service(host)
        if service.status != 'disabled':
            self.nova.services.disable_log_reason(service.id, reason)

    def enable_host(self, host):
        self.nova.services.enable(self._service(host).id)

    # -- moving servers -------------------------------------------------------

    def get_server(self, server_id):
        return self.nova.servers.get(server_id)

    def live_migrate(self, server_id, host, block_migration='auto'):
        self.nova.servers.live_migrate(server_id, host, block_migration)

    def set_metadata(self, server_id, metadata):
        self.nova.servers.set_meta(server_id, metadata)

    def delete_metadata(self, server_id, keys):
        """Remove *keys* from the server's metadata; absent ones are fine."""
        for key in keys:
            try:
                self.nova.servers.delete_meta(server_id, [key])
            except nova_exc.NotFound:
                pass

    def cold_migrate(self, server_id, host):
        self.nova.servers.migrate(server_id, host=host)

    def copy_verified(self, server_id):
        """Whether the last cold move of the server had a verified copy.

        The driver records the instance action event
        ``migration_ext_verified_copy`` (Success: every disk verified on
        the destination) in the migrate or resize action; nova's API is
        the only witness, and tenants cannot write it.
        """
        actions = [a for a in self.nova.instance_action.list(server_id)
                   if a.action in ('migrate', 'resize')]
        if not actions:
            return False
        latest = max(actions, key=lambda a: a.start_time)
        detail = self.nova.instance_action.get(server_id,
                                               latest.request_id)
        return any(event.get('event') == 'migration_ext_verified_copy' and
                   event.get('result') == 'Success'
                   for event in getattr(detail, 'events', None) or ())

    def confirm_resize(self, server_id):
        self.nova.servers.confirm_resize(server_id)

    def revert_resize(self, server_id):
        self.nova.servers.revert_resize(server_id)

    def reset_state(self, server_id, state='active'):
        self.nova.servers.reset_state(server_id, state)

    def release_migration_allocation(self, server_id, migration_uuid):
        """Delete what migration *migration_uuid* holds in Placement.

        During a cold move the migration, as Placement's consumer, holds
        the source's share; nova deletes it when the resize is confirmed,
        or when finish_resize or the confirm fails. A resize that went to
        ERROR while waiting for confirmation keeps it for ever. Returns
        the resource providers released (none when nothing was held).
        """
        url = '/allocations/%s' % migration_uuid
        held = self.placement.get(url, raise_exc=True).json().get(
            'allocations') or {}
        if held:
            self.placement.delete(url, raise_exc=True)
        return sorted(held)

    def guest_state(self, server_id):
        """What the hypervisor of the server's host says of the guest.

        Server diagnostics are answered by the compute host itself, so
        ``running`` means the guest really runs where nova records it.
        Returns ``running``, ``shutdown``, … or None when unknown.
        """
        try:
            _resp, body = self.nova.servers.diagnostics(server_id)
        except nova_exc.ClientException:
            return None
        return (body or {}).get('state')

    def migrations(self, server_id):
        """Nova's migration records of a server, newest first."""
        found = self.nova.migrations.list(instance_uuid=server_id)
        return sorted(found, key=lambda m: m.created_at, reverse=True)

    def live_progress(self, server_id):
        """The live migration in progress, if any.

        Returns (id, status, processed bytes, total bytes), or
        (None, None, 0, 0).
        """
        for migration in self.nova.server_migrations.list(server_id):
            done = sum(getattr(migration, name, 0) or 0 for name in (
                'memory_processed_bytes', 'disk_processed_bytes'))
            total = sum(getattr(migration, name, 0) or 0 for name in (
                'memory_total_bytes', 'disk_total_bytes'))
            return migration.id, migration.status, done, total
        return None, None, 0, 0

    def abort_live_migration(self, server_id, migration_id):
        self.nova.server_migrations.live_migration_abort(server_id,
                                                         migration_id)

    def last_error(self, server_id, since=None):
        """The error of the newest failed instance action event.

        nova shows non-nova exceptions (a libvirtError, an RPC time-out) by
        class name only in ``details``; admins also get the traceback,
        whose last line carries the message. With *since* (naive UTC),
        only actions started and a fault recorded since then count: an
        older one is another attempt's, perhaps to another host.
        """
        actions = self.nova.instance_action.list(server_id)
        for action in actions:
            if not not_before(getattr(action, 'start_time', None), since):
                continue
            detail = self.nova.instance_action.get(server_id,
                                                   action.request_id)
            for event in getattr(detail, 'events', []) or []:
                if event.get('result') != 'Error':
                    continue
                text = event.get('details') or event['event']
                lines = (event.get('traceback') or '').strip().splitlines()
                if lines and lines[-1] not in text:
                    text = '%s: %s' % (text, lines[-1])
                return text
        server = self.get_server(server_id)
        fault = getattr(server, 'fault', None) or {}
        if not not_before(fault.get('created'), since):
            return None
        return fault.get('message')
