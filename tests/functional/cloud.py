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
"""An embedded cloud for the evacuation engine.

nova's real services with our driver on fake libvirt, reached through
python-novaclient.
"""

import collections
import os
import time
import urllib.parse
import uuid

import fixtures
from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import plugin
from keystoneauth1 import session as ks_session
from lxml import etree
from nova.compute import power_state
from nova.compute import vm_states
from nova import context as nova_context
from nova import exception
from nova import objects
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.fixtures import notifications as nova_notifications
from oslo_config import cfg
import oslo_messaging
from oslo_messaging.notify import _impl_test as test_notifier

from nova_migration_ext.engine import notifications
from nova_migration_ext.engine import nova_gateway
from tests.functional import base


class HeaderAuth(plugin.BaseAuthPlugin):
    """Authenticate to the harness' API the way its own client does."""

    def __init__(self, endpoint, user, project):
        super().__init__()
        self.endpoint = endpoint
        self.headers = {'X-Auth-User': user, 'X-User-Id': user,
                        'X-Auth-Project-Id': project,
                        'X-Roles': 'admin,member,reader'}

    def get_endpoint(self, session, **kwargs):
        return self.endpoint

    def get_headers(self, session, **kwargs):
        return dict(self.headers)


class EmbeddedCloudTestBase(base.MigrationExtTestBase):
    """Old and new compute hosts on one shared instances path.

    Every host sees the same files (as on NFS), so any number of
    migrations can run at once in the single process.
    """

    shared_instance_path = True

    def setUp(self):
        super().setUp()
        # Net number of times each VM really moved (live or cold, a
        # reverted resize counting back), to prove none moved twice.
        self.moves = collections.Counter()

    def serve(self, app):
        """Serve a WSGI *app* on a local port, in a green thread.

        (A threading server would block eventlet's hub in select.poll.)
        Returns its root URL.
        """
        import eventlet
        from eventlet import wsgi
        sock = eventlet.listen(('127.0.0.1', 0))
        thread = eventlet.spawn(wsgi.server, sock, app,
                                log=open(os.devnull, 'w'))

        def stop():
            thread.kill()
            sock.close()
        self.addCleanup(stop)
        return 'http://127.0.0.1:%d' % sock.getsockname()[1]

    def serve_api(self, wrap):
        """Serve nova's API on a local port; returns the endpoint.

        *wrap* puts the authentication middleware around nova's app.
        """
        return self.serve(wrap(self.api_fixture.app())) + '/v2.1'

    def listen_to_notifications(self, store, transport, pool):
        """Start the evacuator's listener on what this cloud emits.

        nova's versioned notifications (captured by nova's fixture) and
        the driver's own (oslo's test driver) are also published on
        *transport*, under topics of this run, as nova would publish
        them on its RabbitMQ. Returns the topics.
        """
        run = uuid.uuid4().hex[:8]
        topics = ('versioned_notifications_%s' % run,
                  'notifications_%s' % run)
        listener = notifications.get_listener(
            cfg.CONF, store, topics, pool,
            exchange=cfg.CONF.control_exchange, transport=transport)
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)
        versioned, legacy = (
            oslo_messaging.Notifier(transport, driver='messagingv2',
                                    topics=[topic]) for topic in topics)
        capture_versioned = nova_notifications.FakeVersionedNotifier._notify
        capture_legacy = test_notifier.TestDriver.notify

        def publish_versioned(notifier, priority, ctxt, event_type,
                              payload):
            capture_versioned(notifier, priority, ctxt, event_type, payload)
            getattr(versioned.prepare(publisher_id=notifier.publisher_id),
                    priority.lower())({}, event_type, payload)

        def publish_legacy(driver, ctxt, message, priority, retry):
            capture_legacy(driver, ctxt, message, priority, retry)
            getattr(legacy.prepare(publisher_id=message['publisher_id']),
                    priority.lower())({}, message['event_type'],
                                      message['payload'])
        # nova's notifiers are prepare()d copies: patch the classes.
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.notifications.FakeVersionedNotifier.'
            '_notify', publish_versioned))
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_messaging.notify._impl_test.TestDriver.notify',
            publish_legacy))
        return topics

    def _count_cold_moves(self, driver):
        finish = driver.finish_migration
        revert = driver.finish_revert_migration

        def counted_finish(context, migration, instance, *args, **kwargs):
            result = finish(context, migration, instance, *args, **kwargs)
            self.moves[instance.uuid] += 1
            return result

        def counted_revert(context, instance, *args, **kwargs):
            result = revert(context, instance, *args, **kwargs)
            self.moves[instance.uuid] -= 1
            return result
        driver.finish_migration = counted_finish
        driver.finish_revert_migration = counted_revert

    def start_compute(self, hostname='compute1', **kwargs):
        hostname = super().start_compute(hostname, **kwargs)
        self._count_cold_moves(self.computes[hostname].driver)
        return hostname

    def _migrate_stub(self, domain, destination, params, flags):
        """libvirt's migrateToURI3 between any two computes."""
        uuid = etree.fromstring(params['destination_xml']).find(
            './uuid').text
        target = urllib.parse.urlparse(destination).hostname
        self.computes[target].driver._host.get_connection().createXML(
            params['destination_xml'], 'fake-createXML')
        for compute in self.computes.values():
            conn = compute.driver._host.get_connection()
            try:
                source = conn.lookupByUUIDString(uuid)
            except fakelibvirt.libvirtError:
                continue
            if compute is not self.computes[target]:
                source.complete_job()
                self.moves[uuid] += 1
                return
        raise AssertionError('domain %s is on no compute' % uuid)

    def start_hosts(self, old, new):
        for name in old + new:
            self.start_compute(name)
        self.use_host_paths(old[0])

    def placement_adapter(self):
        """Placement's API as the evacuator reaches it, on the harness'."""
        return ks_adapter.Adapter(
            ks_session.Session(), endpoint_override=self.placement.fixture.
            endpoint, additional_headers={'x-auth-token': 'admin'})

    def gateway(self):
        api = self.api
        auth = HeaderAuth(api.base_url, api.auth_user, api.project_id)
        session = ks_session.Session(auth=auth)
        gateway = nova_gateway.NovaGateway(session,
                                           endpoint_override=api.base_url)
        # As an operator would say in [evacuator] shared_storage_groups:
        # nova sees every host's instances path as shared, and refuses a
        # block migration between them.
        gateway.shared_storage_groups = {'embedded': sorted(self.computes)}
        return gateway


class Faults:
    """The operators' failures, injected once each into the embedded cloud.

    Each method arms one fault; ``fired`` counts those that happened.
    """

    def __init__(self, test):
        self.test = test
        self.fired = collections.Counter()

    def _once(self, name, obj, attr, replacement):
        original = getattr(obj, attr)
        state = {'armed': True}

        def wrapper(*args, **kwargs):
            if state['armed']:
                state['armed'] = False
                self.fired[name] += 1
                return replacement(original, *args, **kwargs)
            return original(*args, **kwargs)
        setattr(obj, attr, wrapper)

    def network_filter_not_found(self, host):
        """libvirt fails the live migration, as on CentOS 6."""
        def fail(original, *args, **kwargs):
            raise fakelibvirt.make_libvirtError(
                fakelibvirt.libvirtError,
                "Network filter not found: Could not find filter "
                "'nova-instance-instance-00000001'",
                error_code=fakelibvirt.VIR_ERR_NO_NWFILTER)
        self._once('network filter not found',
                   self.test.computes[host].driver,
                   '_live_migration_operation', fail)

    def live_precheck_refused(self, host):
        """The source refuses a live migration, as a precheck does."""
        def fail(original, *args, **kwargs):
            raise exception.MigrationPreCheckError(
                reason='this guest cannot be live-migrated (test)')
        self._once('live migration refused',
                   self.test.computes[host].manager,
                   'check_can_live_migrate_source', fail)

    def rpc_timeout(self, host):
        """The destination's precheck never answers (RabbitMQ overload)."""
        def fail(original, *args, **kwargs):
            raise oslo_messaging.MessagingTimeout(
                'Timed out waiting for a reply to message ID '
                '4ca936f37c964dba93256cd45a12b4b7')
        self._once('RPC timeout', self.test.computes[host].manager,
                   'check_can_live_migrate_destination', fail)

    def token_expired_after_move(self, host):
        """A post-migration call gets 401: the VM moved but ends in ERROR."""
        def fail(original, *args, **kwargs):
            raise ks_exceptions.Unauthorized(
                'The request you have made requires authentication. '
                '(HTTP 401)')
        self._once('token expired mid-migration',
                   self.test.computes[host].driver,
                   'post_live_migration_at_destination', fail)

    def migration_hangs(self):
        """The first live migration never progresses (stuck MIGRATING).

        As real libvirt does, migrateToURI3 blocks while the job runs and
        fails once the job is aborted.
        """
        test = self.test
        original = test._migrate_stub
        state = {'armed': True}

        def hang(domain, destination, params, flags):
            if not state['armed']:
                return original(domain, destination, params, flags)
            state['armed'] = False
            self.fired['migration hangs'] += 1
            mib = 1024 * 1024
            aborted = []

            def job_stats(flags=0):     # some bytes moved, then nothing
                return {'type': domain._job_type,
                        'memory_processed': 64 * mib,
                        'memory_remaining': 448 * mib,
                        'memory_total': 512 * mib,
                        'disk_processed': 8 * mib,
                        'disk_remaining': 8 * mib,
                        'disk_total': 16 * mib}
            domain.jobStats = job_stats
            domain.abortJob = lambda: aborted.append(True)
            domain._job_type = fakelibvirt.VIR_DOMAIN_JOB_UNBOUNDED
            while not aborted:
                time.sleep(0.1)
            domain._job_type = fakelibvirt.VIR_DOMAIN_JOB_CANCELLED
            time.sleep(2)   # let nova's monitor see the cancelled job
            for name in ('jobStats', 'abortJob'):
                domain.__dict__.pop(name, None)
            domain._job_type = fakelibvirt.VIR_DOMAIN_JOB_NONE
            raise fakelibvirt.make_libvirtError(
                fakelibvirt.libvirtError,
                'operation aborted: migration job: canceled by client',
                error_code=fakelibvirt.VIR_ERR_INTERNAL_ERROR)
        test.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Domain.migrateToURI3', hang))

    def error_while_verify_resize(self, gateway):
        """A cold-migrated VM goes to ERROR while waiting for confirmation.

        Armed on the engine's view: the first time it would see a server
        in VERIFY_RESIZE, nova has set it to ERROR just before.
        """
        get_server = gateway.get_server
        armed = {'yes': True}

        def get_server_in_error(server_id):
            server = get_server(server_id)
            if armed['yes'] and server.status == 'VERIFY_RESIZE':
                armed['yes'] = False
                self.fired['ERROR while VERIFY_RESIZE'] += 1
                ctxt = nova_context.get_admin_context()
                instance = objects.Instance.get_by_uuid(ctxt, server_id)
                instance.vm_state = vm_states.ERROR
                instance.save()
                server = get_server(server_id)
            return server
        gateway.get_server = get_server_in_error

    def guest_not_started_on_destination(self, host, gateway):
        """Cold migration ends in VERIFY_RESIZE but the guest is down.

        A real hypervisor tells nova at once (a lifecycle event, then
        nova's power-state sync); the fake one cannot, so nova's sync runs
        for that guest before the engine next looks at it.
        """
        compute = self.test.computes[host]
        down = {}

        def guest_down(original, context, migration, instance, *args,
                       **kwargs):
            result = original(context, migration, instance, *args, **kwargs)
            compute.driver._host.get_guest(instance)._domain.destroy()
            down[instance.uuid] = True
            return result
        self._once('VERIFY_RESIZE with nothing running', compute.driver,
                   'finish_migration', guest_down)
        get_server = gateway.get_server

        def get_server_after_sync(server_id):
            if down.get(server_id):
                ctxt = nova_context.get_admin_context()
                instance = objects.Instance.get_by_uuid(ctxt, server_id)
                # nova's sync skips an instance with a task under way, and
                # finish_migration returns before nova clears resize_finish:
                # sync once nova has settled the instance in VERIFY_RESIZE.
                if instance.task_state is None:
                    compute.manager._sync_instance_power_state(
                        ctxt, instance, power_state.SHUTDOWN)
                    down.pop(server_id)
            return get_server(server_id)
        gateway.get_server = get_server_after_sync
