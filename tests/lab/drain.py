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
"""The lab demo: the evacuation engine drains two real hosts.

Seeds hosts c1 and c2 with running, stopped, volume-backed and
deleted-image VMs, starts ``nova-migration-evacuator`` and
``nova-migration-ext-api`` (in the lab's Keystone catalog as
``host-drain``) and drives the drain with ``openstack drain …`` as the
lab's admin (create, start, show) until c1 and c2 are empty, then stops
every VM and proves its data. The last line reads ``lost VMs: 0,
data verified: N of N``; the exit status is non-zero otherwise.

    python -m tests.lab.drain        # tools/lab.sh demo
"""

import collections
import json
import os
import subprocess
import sys
import time

from keystoneauth1 import exceptions as ks_exceptions
import pymysql

from nova_migration_ext.cli import commands
from nova_migration_ext.client import v1 as client_v1
from tests.lab import cloud as lab_cloud
from tests.lab import config
from tests.lab import guests as lab_guests
from tests.lab import volumes

SOURCES = ('c1', 'c2')
TARGETS = ('c3',)
DRAIN_TIMEOUT = 1500
# (kind, host, options): the demo's mix of VMs.
KINDS = (('run', 'c1', {}), ('vol', 'c1', {'volume': True}),
         ('orphan', 'c1', {'orphan': True}),
         ('run', 'c2', {}), ('stopped', 'c2', {'stop': True}))


def say(text=''):
    sys.stdout.write(text + '\n')
    sys.stdout.flush()


class Drain(object):
    """One run of the demo on the lab under *root*."""

    def __init__(self, root=lab_cloud.DEFAULT_ROOT, out=say,
                 sources=SOURCES, targets=TARGETS, kinds=KINDS,
                 timeout=DRAIN_TIMEOUT, evacuator_options=None,
                 plan_args=('--allow-downtime',)):
        self.say = out
        self.plan_args = tuple(plan_args)
        self.timeout = timeout
        self.evacuator_options = dict(evacuator_options or {})
        self.sources, self.targets, self.kinds = sources, targets, kinds
        self.cloud = lab_cloud.Cloud(root)
        if not self.cloud.state().get('bring_up_seconds'):
            raise SystemExit('No lab is up under %s: run "tools/lab.sh up"'
                             % root)
        self.guests = lab_guests.Guests(self.cloud)
        self.nova = self.guests.nova
        self.volumes = volumes.Volumes(self.cloud)
        self.workdir = os.path.join(self.cloud.root, 'evacuator')
        os.makedirs(self.workdir, exist_ok=True)
        self.servers = collections.OrderedDict()   # id -> record
        self.client = None
        self.tag = time.strftime('%H%M%S')

    # -- seeding --------------------------------------------------------

    def seed(self):
        booted = []
        for index, (kind, host, options) in enumerate(self.kinds):
            image = None
            if options.get('orphan'):
                image = self.cloud.make_root_image('orphan-%s' % self.tag)
            name = 'drain-%s-%s-%s-%d' % (host, kind, self.tag, index)
            server = self.guests.boot(name, host, image=image, wait=False)
            booted.append((server, kind, host, image, options))
        for server, kind, host, image, options in booted:
            server = self.guests.wait_booted(server)
            record = {'server': server, 'name': server.name, 'kind': kind,
                      'source': host, 'consoles': [], 'devices': []}
            if options.get('volume'):
                volume = self.volumes.create_and_attach(server)
                record['volume'] = volume
                self.guests.wait_console(server, 'nmx-claim vdb')
            if image:
                self.cloud.glance().images.delete(image)
            record['consoles'].append(self.guests.console(server))
            if options.get('stop'):
                self.nova.servers.stop(server.id)
                self.guests.wait_status(server, 'SHUTOFF', 180)
            self.servers[server.id] = record
        return self.servers

    # -- the evacuator ----------------------------------------------------

    def evacuator_config(self):
        """The evacuator's and the API's configuration file."""
        path = os.path.join(self.workdir, 'evacuator.conf')
        with open(path, 'w') as f:
            f.write(config.render({
                'DEFAULT': {'transport_url': config.transport_url(),
                            'debug': True},
                'database': {'connection': config.db_url('evacuator')},
                'evacuator': {
                    'name': 'lab-evacuator', 'poll_interval': 2,
                    'retry_base': 5, 'settle_time': 5, 'stuck_after': 600,
                    'bandwidth_cap_secret': config.BANDWIDTH_CAP_SECRET,
                    'shared_storage_groups': 'gluster:%s' % ';'.join(
                        lab_cloud.SHARED_HOSTS),
                    **self.evacuator_options},
                'oslo_messaging_notifications': {
                    'transport_url': config.transport_url()},
                'nova': dict(config.service_auth('admin'),
                             password=config.ADMIN_PASSWORD,
                             project_name='admin'),
                'api': {'bind_host': config.HOST,
                        'bind_port': config.PORTS['host-drain']},
                'keystone_authtoken': config.authtoken('nova'),
            }))
        return path

    def start_evacuator(self):
        """Start the evacuator and the API on a new database."""
        connection = pymysql.connect(host=config.HOST, user='root')
        try:
            with connection.cursor() as cursor:
                db = config.DB_PREFIX + 'evacuator'
                cursor.execute('DROP DATABASE IF EXISTS %s' % db)
                cursor.execute('CREATE DATABASE %s' % db)
        finally:
            connection.close()
        self.config = self.evacuator_config()
        # As a deployment does before the services' first start.
        subprocess.run([config.venv_bin('nova-migration-ext-manage'),
                        '--config-file', self.config, 'db', 'sync'],
                       check=True, capture_output=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=self.cloud.repo))
        supervisor = self.cloud.supervisor
        mark = supervisor.log_mark('evacuator')
        supervisor.start('evacuator', [
            config.venv_bin('nova-migration-evacuator'), '--config-file',
            self.config], env={'PYTHONPATH': self.cloud.repo})
        supervisor.wait_log('evacuator', 'Evacuator lab-evacuator started',
                            mark, timeout=120, what='started')
        supervisor.start('drain-api', [
            config.venv_bin('nova-migration-ext-api'), '--config-file',
            self.config], env={'PYTHONPATH': self.cloud.repo})
        supervisor.wait_http('drain-api', config.url('host-drain', '/'),
                             accept=(300,))

    def cli(self, *args):
        """``openstack drain *args -f json`` as the lab's admin, parsed."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env.update(PYTHONPATH=self.cloud.repo,
                   OS_AUTH_URL=config.keystone_url(), OS_USERNAME='admin',
                   OS_PASSWORD=config.ADMIN_PASSWORD,
                   OS_PROJECT_NAME='admin', OS_USER_DOMAIN_ID='default',
                   OS_PROJECT_DOMAIN_ID='default',
                   OS_IDENTITY_API_VERSION='3',
                   OS_REGION_NAME=config.REGION, OS_INTERFACE='public')
        result = subprocess.run(
            [config.venv_bin('openstack'), 'drain'] + list(args) +
            ['-f', 'json'], capture_output=True, text=True, timeout=180,
            env=env)
        if result.returncode:
            raise lab_guests.GuestError('openstack drain %s: %s%s' % (
                ' '.join(args), result.stdout, result.stderr))
        return json.loads(result.stdout)

    def show(self, evacuation_id):
        """The drain as the API shows it, through the REST client.

        Polling by the ``openstack`` program would start a Python process
        every few seconds on the lab's two vCPUs; the client is the one
        the plugin uses, with one token for the whole drain.
        """
        if self.client is None:
            self.client = client_v1.Client(
                self.cloud.control.admin_session(),
                region_name=config.REGION)
        return self.client.show(evacuation_id)

    def drain(self):
        plan = self.cli('create', *self.sources, '--name', 'lab drain',
                        *sum((['--target', t] for t in self.targets), []),
                        *self.plan_args)
        evacuation = plan['id']
        self.say('plan: %s' % json.dumps(plan, sort_keys=True))
        self.cli('start', evacuation)
        start = time.monotonic()
        last = None
        while time.monotonic() - start < self.timeout:
            try:
                info = self.show(evacuation)
            except (client_v1.ApiError,
                    ks_exceptions.ClientException) as exc:
                # The API may not answer for a while: say so, ask again.
                self.say('  [%4.0f s] no answer: %s' % (
                    time.monotonic() - start, str(exc).splitlines()[-1:]))
                time.sleep(5)
                continue
            # The client's Drain, made readable as the CLI does.
            line = '%s %s %s' % (
                info.state, commands.counts_text(info.counts),
                commands.progress_bar(info.progress))
            if line != last:
                self.say('  [%4.0f s] %s' % (time.monotonic() - start, line))
                last = line
            if info.state in ('completed', 'cancelled', 'failed'):
                break
            time.sleep(5)
        return evacuation, time.monotonic() - start

    # -- the report ---------------------------------------------------------

    def check(self):
        """Every VM exactly once, off the sources, data verified."""
        lost, verified, problems = [], 0, []
        for server_id, record in self.servers.items():
            try:
                server = self.nova.servers.get(server_id)
            except Exception:
                lost.append(record['name'])
                continue
            host = getattr(server, 'OS-EXT-SRV-ATTR:host')
            record['host'] = host
            record['status'] = server.status
            if host in self.sources:
                problems.append('%s still on %s' % (record['name'], host))
            if server.status not in ('ACTIVE', 'SHUTOFF'):
                problems.append('%s is %s' % (record['name'],
                                              server.status))
                continue
            devices = [self.volumes.device(record['volume'])] \
                if record.get('volume') else []
            ok, output = self.guests.verify(server, record['consoles'],
                                            devices)
            record['verify'] = output.strip()
            if ok:
                verified += 1
            else:
                problems.append('%s: %s' % (record['name'], output))
        return lost, verified, problems

    def run(self):
        started = time.monotonic()
        self.say('Seeding hosts %s of the lab...' % ', '.join(self.sources))
        self.seed()
        self.say('  %d VMs in %.0f s' % (
            len(self.servers), time.monotonic() - started))
        self.start_evacuator()
        evacuation, elapsed = self.drain()
        tasks = self.cli('server', 'list', evacuation)
        methods = collections.Counter(t['Method'] for t in tasks
                                      if t['State'] == 'done')
        lost, verified, problems = self.check()
        self.say('')
        self.say('=== Report: evacuation %s' % evacuation)
        for task in tasks:
            self.say('  %-28s %s -> %s  %-5s %-8s attempts %s %s' % (
                task['Server'], task['From'], task['To'], task['Method'],
                task['State'], task['Attempts'],
                task['Remedy / last error'] or ''))
        self.say('moved: %s' % ', '.join(
            '%s %d' % kv for kv in sorted(methods.items())))
        for record in self.servers.values():
            self.say('  %-28s now on %s (%s): %s' % (
                record['name'], record.get('host'), record.get('status'),
                record.get('verify', '').splitlines()[-1:]))
        for problem in problems:
            self.say('problem: %s' % problem)
        self.say('elapsed: drain %.0f s, whole demo %.0f s' % (
            elapsed, time.monotonic() - started))
        self.say('lost VMs: %d, data verified: %d of %d' % (
            len(lost), verified, len(self.servers)))
        return 0 if not lost and not problems and verified == len(
            self.servers) else 1

    def cleanup(self):
        """Stop the services, delete the VMs, enable the sources again."""
        self.cloud.supervisor.stop('drain-api')
        self.cloud.supervisor.stop('evacuator')
        for service in self.nova.services.list(binary='nova-compute'):
            if service.host in self.sources and service.status == 'disabled':
                self.nova.services.enable(service.id)
        for server_id, record in self.servers.items():
            self.guests.delete(server_id)
            if record.get('volume'):
                self.volumes.delete(record['volume'])


def main():
    drain = Drain()
    try:
        return drain.run()
    finally:
        if not os.environ.get('NMX_LAB_KEEP'):
            drain.cleanup()


if __name__ == '__main__':
    sys.exit(main())
