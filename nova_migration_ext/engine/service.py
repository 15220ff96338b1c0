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
"""``nova-migration-evacuator``: the engine as an oslo.service daemon.

It drives the evacuations that are running, listening to nova's
notifications; clients reach the evacuations through the REST API
(:mod:`nova_migration_ext.api`), which shares its database. Several
evacuators may run for high availability: each
evacuation is driven by the one holding its lease in the database (renewed
on every pass); when that one dies, another takes the lease over once it
expires and resumes from what the database says.
"""

import collections
import copy
import socket

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
from oslo_db import options as db_options
from oslo_log import log as logging
from oslo_service import service as os_service

from nova_migration_ext import conf as ext_conf
from nova_migration_ext.contract import hosts as contract_hosts
from nova_migration_ext.contract import states
from nova_migration_ext.engine import engine as engine_mod
from nova_migration_ext.engine import executor as executor_mod
from nova_migration_ext.engine import inventory
from nova_migration_ext.engine import notifications
from nova_migration_ext.engine import nova_gateway
from nova_migration_ext.engine import store as store_mod

LOG = logging.getLogger(__name__)
GROUP = 'evacuator'
NOVA_GROUP = 'nova'
# oslo.db's options, as every OpenStack service's database.
DATABASE_GROUP = 'database'
DEFAULT_CONNECTION = ('sqlite:////var/lib/nova-migration-ext/'
                      'evacuations.sqlite')
# Longest wait between two passes while they fail (say, database down).
MAX_BACKOFF = 60.0

# Seconds a request to nova, Placement or Keystone may take: no pass
# waits for ever.
NOVA_TIMEOUT = 60.0
# Two of those: a pass renews its lease between calls, so one slow call
# never hands the evacuation to another evacuator.
LEASE_SECONDS = int(2 * NOVA_TIMEOUT)

OPTS = [
    cfg.StrOpt('connection',
               secret=True,
               deprecated_for_removal=True,
               deprecated_reason='The evacuation database is configured as '
                                 'every OpenStack service\'s: set [database] '
                                 'connection (oslo.db) instead; it wins when '
                                 'both are set.',
               help='SQLAlchemy URL of the evacuation database, used only '
                    'while [database] connection is not set.'),
    cfg.IntOpt('database_timeout', default=store_mod.DEFAULT_TIMEOUT,
               min=1,
               help='Seconds connecting to the evacuation database '
                    '([database] connection), or one statement on it, may '
                    'take before the pass fails and is retried: a database '
                    'gone silent never hangs the drive loop. Also the '
                    'longest a call goes on retrying a deadlock or a lost '
                    'connection ([database] db_max_retries), and the wait '
                    'for a connection of the pool unless [database] '
                    'pool_timeout is set.'),
    cfg.StrOpt('name', default=socket.gethostname(),
               help='Name of this evacuator in leases and the audit log.'),
    cfg.FloatOpt('poll_interval', default=5.0, min=0.1,
                 help='Seconds between two passes over the running '
                      'evacuations.'),
    cfg.IntOpt('lease_seconds', default=LEASE_SECONDS, min=2,
               help='How long an evacuator keeps an evacuation after its '
                    'last renewal; another evacuator takes over after that. '
                    'A pass renews it between calls to nova, so keep it '
                    'above twice [nova] timeout.'),
    cfg.IntOpt('stuck_after', default=600, min=1,
               help='Seconds without progress after which a live '
                    'migration is considered stuck and aborted.'),
    cfg.IntOpt('unanswered_timeout', default=1800, min=1,
               help='Seconds a moving VM waits while nova\'s API cannot '
                    'say where it stands (API errors, outage) before its '
                    'task is handed to the operator. Nothing is reset, '
                    'aborted, confirmed or reverted meanwhile.'),
    cfg.FloatOpt('retry_base', default=30.0, min=0.0,
                 help='First retry delay in seconds; doubles with each '
                      'attempt.'),
    cfg.FloatOpt('settle_time', default=10.0, min=0.0,
                 help='Seconds a VM must rest on its source, with no task '
                      'under way, before a failed or cancelled attempt is '
                      'closed. Nova may set a VM to ERROR a few seconds '
                      'after it rolled a migration back; the evacuator '
                      'resets such a VM to ACTIVE when its guest still '
                      'runs there.'),
    cfg.BoolOpt('listen_notifications', default=True,
                help='Follow moves and collect host facts through nova\'s '
                     'notifications, on the transport of '
                     '[oslo_messaging_notifications] transport_url (nova\'s '
                     'RabbitMQ). Nova needs [notifications] '
                     'notification_format = versioned or both, and '
                     '[oslo_messaging_notifications] driver = messagingv2.'),
    cfg.ListOpt('notification_topics',
                default=['versioned_notifications', 'notifications'],
                help='Topics to listen on: nova\'s versioned notifications '
                     '(the phases of each move) and the topic of '
                     '[oslo_messaging_notifications] topics on the computes '
                     '(the driver\'s migration_ext.host.facts).'),
    cfg.StrOpt('notification_exchange', default='nova',
               help='Exchange nova publishes its notifications on (its '
                    'control_exchange).'),
    cfg.StrOpt('notification_pool',
               default='nova-migration-evacuator-notifications',
               help='Queue of the evacuators beside other consumers of the '
                    'same topics; evacuators sharing it share the work.'),
    cfg.IntOpt('host_facts_max_age', default=900, min=1,
               help='Seconds after which the facts a compute published '
                    '(image cache, real free disk) are too old for the '
                    'planner, which then uses nova\'s figures alone.'),
    cfg.StrOpt('endpoint_override',
               help='Nova API endpoint to use instead of the catalog\'s.'),
] + ext_conf.EVACUATOR_OPTS


API_GROUP = 'api'
API_OPTS = [
    cfg.HostAddressOpt('bind_host', default='0.0.0.0',
                       help='Address nova-migration-ext-api listens on.'),
    cfg.PortOpt('bind_port', default=9779,
                help='Port nova-migration-ext-api listens on; the Keystone '
                     'catalog\'s "host-drain" endpoint points at it.'),
]


def register_opts(conf):
    conf.register_opts(OPTS, group=GROUP)
    db_options.set_defaults(conf, connection=DEFAULT_CONNECTION)
    conf.register_opts(API_OPTS, group=API_GROUP)
    ks_loading.register_auth_conf_options(conf, NOVA_GROUP)
    ks_loading.register_session_conf_options(conf, NOVA_GROUP)
    conf.set_default('timeout', NOVA_TIMEOUT, group=NOVA_GROUP)
    ks_loading.register_adapter_conf_options(conf, NOVA_GROUP)


def _nova_client_opts():
    """What ``[nova]`` takes, as nova lists it for its own clients.

    keystoneauth's auth (with the password plugin's options, as deployed),
    session (with our time-out) and adapter options.
    """
    opts = copy.deepcopy(ks_loading.get_session_conf_options())
    for opt in opts:
        if opt.dest == 'timeout':
            opt.default = NOVA_TIMEOUT
            opt.help = ('Seconds to wait for an answer of nova, Placement or '
                        'Keystone before the call fails; its outcome is then '
                        'unknown and found out from nova.')
    return (ks_loading.get_auth_common_conf_options() +
            ks_loading.get_auth_plugin_conf_options('password') + opts +
            ks_loading.get_adapter_conf_options(include_deprecated=False))


def _database_opts():
    """oslo.db's ``[database]`` options, with our default connection."""
    opts = copy.deepcopy(dict(db_options.list_opts())[DATABASE_GROUP])
    for opt in opts:
        if opt.dest == 'connection':
            opt.default = DEFAULT_CONNECTION
    return opts


def list_opts():
    return [(GROUP, OPTS), (DATABASE_GROUP, _database_opts()),
            (API_GROUP, API_OPTS), (NOVA_GROUP, _nova_client_opts())]


def summaries(engine):
    """Every evacuation as a summary :class:`~.drains.Drain`, oldest first.

    Its counts per task state (so, how many VMs are left for the
    operator, whatever the evacuation's own state) and the percent of its
    bytes moved, as ``show`` says; no tasks, audit nor ETA.
    """
    tasks = {}
    for row in engine.store.task_bytes():
        tasks.setdefault(row.evacuation_id, []).append(row)
    return [engine_mod.drain_resource(e, tasks.get(e.id, []))
            for e in engine.store.list_evacuations()]


def dry_run_plan(engine, sources, targets, policy, target_aggregate=None):
    """The :class:`~.drains.Plan` a drain would follow, stored nowhere."""
    plan = engine.dry_run(sources, targets, policy, target_aggregate)
    return plan.to_resource(with_moves=True)


def host_resource(host, servers, aggregates):
    """The :class:`~.hosts.Host` of an inventory host.

    :param host: an :class:`~.inventory.Host`.
    :param servers: the :class:`~.inventory.Server` on it.
    :param aggregates: host aggregate name -> its hosts.
    """
    return contract_hosts.Host(
        name=host.name, enabled=host.enabled, up=host.up, vms=len(servers),
        vcpus=host.vcpus, vcpus_used=host.vcpus_used,
        cpu_allocation_ratio=host.cpu_allocation_ratio,
        memory_mb=host.memory_mb, memory_mb_used=host.memory_mb_used,
        ram_allocation_ratio=host.ram_allocation_ratio,
        disk_used_bytes=sum(s.copied_disk_bytes for s in servers),
        disk_free_bytes=host.disk_free_bytes,
        aggregates=sorted(name for name, members in aggregates.items()
                          if host.name in members))


def hosts(engine):
    """Every compute host as a :class:`~.hosts.Host`, by name.

    From the planner's inventory: nova's figures, completed with the
    facts the computes published; one listing of every server.

    :raises: one of :data:`.nova_gateway.ERRORS` when nova fails.
    """
    facts = engine.store.host_facts(engine.facts_max_age)
    found = inventory.with_facts(engine.gateway.hosts(), facts)
    servers = collections.defaultdict(list)
    for server in inventory.with_measurements(engine.gateway.servers(),
                                              facts):
        servers[server.host].append(server)
    aggregates = engine.gateway.aggregates()
    return [host_resource(host, servers[host.name], aggregates)
            for host in sorted(found, key=lambda h: h.name)]


def check_lease(conf):
    """Warn when a pass may lose its lease while it waits on nova.

    Safe either way (every write is fenced), but another evacuator would
    take the evacuation over from a live one, again and again.
    """
    timeout = conf.nova.timeout or 0
    if conf.evacuator.lease_seconds < 2 * timeout:
        LOG.warning('[evacuator] lease_seconds (%d) is below twice [nova] '
                    'timeout (%g s): a pass waiting on a slow nova may lose '
                    'its evacuation to another evacuator. Raise '
                    'lease_seconds to %d or more.',
                    conf.evacuator.lease_seconds, timeout, 2 * timeout)
        return False
    return True


def database_url(conf):
    """The evacuation database's URL: ``[database] connection``.

    While the operator has not set it, the deprecated ``[evacuator]
    connection`` if set, with a warning saying to move it.
    """
    deprecated = conf.evacuator.connection
    if deprecated is None:
        return conf.database.connection
    if conf.get_location('connection', DATABASE_GROUP).location not in (
            cfg.Locations.opt_default, cfg.Locations.set_default):
        LOG.warning('[database] connection and the deprecated [evacuator] '
                    'connection are both set: [database] connection is '
                    'used. Remove [evacuator] connection.')
        return conf.database.connection
    LOG.warning('[evacuator] connection is deprecated for removal: move its '
                'value to [database] connection (oslo.db), where the '
                'other [database] options are.')
    return deprecated


def open_store(conf):
    """The evacuation database of *conf*, as it is.

    Built with oslo.db and the ``[database]`` options; ``[evacuator]
    database_timeout`` bounds every wait on it.
    """
    return store_mod.Store(
        database_url(conf), timeout=conf.evacuator.database_timeout,
        **{name: getattr(conf.database, name)
           for name in store_mod.DATABASE_DEFAULTS})


def sync_database(conf):
    """Bring the database of *conf* to this code's schema."""
    store = open_store(conf)
    try:
        store.upgrade()
        return store.revisions()[0]
    finally:
        store.engine.dispose()


def build_engine(conf, session=None):
    """The engine on the database of *conf*, which must be synced.

    :raises store.SchemaOutOfDate: saying to run ``db sync``.
    """
    check_lease(conf)
    store = open_store(conf)
    store.check_schema()
    if session is None:
        auth = ks_loading.load_auth_from_conf_options(conf, NOVA_GROUP)
        session = ks_loading.load_session_from_conf_options(
            conf, NOVA_GROUP, auth=auth)
    gateway = nova_gateway.NovaGateway(
        session, region_name=conf.nova.region_name,
        endpoint_override=conf.evacuator.endpoint_override)
    gateway.default_allocation_ratios = _default_ratios(conf.evacuator)
    gateway.shared_storage_groups = inventory.parse_storage_groups(
        conf.evacuator.shared_storage_groups)
    return engine_mod.Engine(
        store, gateway, owner=conf.evacuator.name,
        stuck_after=conf.evacuator.stuck_after,
        unanswered_timeout=conf.evacuator.unanswered_timeout,
        retry_base=conf.evacuator.retry_base,
        settle_seconds=conf.evacuator.settle_time,
        facts_max_age=conf.evacuator.host_facts_max_age,
        lease_seconds=conf.evacuator.lease_seconds,
        bandwidth_cap_secret=conf.evacuator.bandwidth_cap_secret,
        bandwidth_cap_ttl=conf.evacuator.bandwidth_cap_ttl)


def _default_ratios(group):
    """The operator's allocation ratios, per Placement resource class."""
    return {'VCPU': group.cpu_allocation_ratio,
            'MEMORY_MB': group.ram_allocation_ratio,
            'DISK_GB': group.disk_allocation_ratio}


class EvacuatorService(os_service.Service):
    """The loop that drives running evacuations, and its listener."""

    def __init__(self, conf, engine):
        super().__init__()
        self.conf = conf
        self.engine = engine
        self.listener = None
        self.executors = {}
        self.failures = 0           # passes failed in a row
        self.last_error = None      # 'time: error' of the last failure

    def start(self):
        super().start()
        if self.conf.evacuator.listen_notifications:
            self.listener = self._notification_listener()
            self.listener.start()
        # drive() never raises and says when to run again.
        self.tg.add_dynamic_timer_args(
            self.drive, periodic_interval_max=self._max_backoff(),
            stop_on_exception=False)
        LOG.info('Evacuator %s started', self.conf.evacuator.name)

    def _notification_listener(self):
        evacuator = self.conf.evacuator
        return notifications.get_listener(
            self.conf, self.engine.store, evacuator.notification_topics,
            evacuator.notification_pool,
            exchange=evacuator.notification_exchange)

    def _max_backoff(self):
        return max(self.conf.evacuator.poll_interval, MAX_BACKOFF)

    def _failed(self, exc):
        self.last_error = '%s: %s' % (
            executor_mod.utcnow().isoformat(timespec='seconds'), exc)

    def drive(self):
        """One pass over every evacuation that needs driving.

        Never raises: a failed pass (say, the database is down) is logged
        and kept in :attr:`last_error`, and the wait before the next one
        doubles, up to ``MAX_BACKOFF``. Returns that wait in seconds.
        """
        interval = self.conf.evacuator.poll_interval
        try:
            self._drive()
        except Exception as exc:
            self.failures += 1
            self._failed(exc)
            wait = min(interval * 2 ** min(self.failures, 16),
                       self._max_backoff())
            LOG.exception('Pass over the evacuations failed (%d in a row); '
                          'trying again in %.1fs', self.failures, wait)
            return wait
        self.failures = 0
        return interval

    def _drive(self):
        for evacuation in self.engine.store.list_evacuations():
            tasks_active = evacuation.state in (states.RUNNING,
                                                states.PAUSED) or any(
                t.state in states.TASK_ACTIVE
                for t in self.engine.store.tasks(evacuation.id))
            if not tasks_active:
                continue
            executor = self.executors.get(evacuation.id)
            if executor is None:
                executor = self.engine.executor(evacuation.id)
                self.executors[evacuation.id] = executor
            try:
                executor.tick()
            except Exception as exc:
                self._failed(exc)
                LOG.exception('Pass over evacuation %s failed; trying '
                              'again next time', evacuation.id)

    def stop(self, graceful=False):
        if self.listener is not None:
            self.listener.stop()
            self.listener.wait()
        super().stop(graceful)
