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
"""A drain's pages in a real browser: retry elsewhere, a 40-VM drain.

The stack of tests/functional/test_horizon_panel.py (real Keystone,
nova-migration-ext-api, evacuator, Horizon, Chromium); the drains are
planned through the API (``openstack drain create``), not the form.
With ``NOVA_MIGRATION_EXT_BROWSER_ARTIFACTS`` set, every screenshot is
kept there (tests/functional/horizon_stack.py).
"""

import fixtures
from nova import exception

from nova_migration_ext.contract import states
from tests.functional import test_evacuator_service
from tests.functional import test_horizon_panel

OLD = test_horizon_panel.OLD
NEW = test_horizon_panel.NEW
OPERATOR = test_horizon_panel.OPERATOR


def refuse_live_migrations(test, hosts, reason, once_for=None):
    """*hosts*' drivers refuse live migrations to them, as a precheck does.

    nova records the refusal as an event of the migration's action; its
    conductor then tries no other host (the host was asked for). *reason*
    may name the host (``%(host)s``). With *once_for* (server ids), only
    the first check of each of those, on whichever host.
    """
    refused = set()

    def refuse(host, original):
        def check(ctxt, instance, *args, **kwargs):
            if once_for is None or (instance.uuid in once_for and
                                    instance.uuid not in refused):
                refused.add(instance.uuid)
                raise exception.MigrationPreCheckError(
                    reason=reason % {'host': host})
            return original(ctxt, instance, *args, **kwargs)
        return check
    for host in hosts:
        driver = test.computes[host].driver
        test.useFixture(fixtures.MockPatchObject(
            driver, 'check_can_live_migrate_destination',
            refuse(host, driver.check_can_live_migrate_destination)))


class FortyVMs(test_evacuator_service.EvacuatorProcessTest):
    """40 VMs on old1 and old2, booted while Keystone sets itself up.

    Between HorizonStackTest and the cloud in the method order, so its
    set-up runs once the cloud is up and before Keystone is waited for.
    """

    def setUp(self):
        super().setUp()
        # After each live migration nova audits the source's resources,
        # running qemu-img twice per disk of every VM still there, under
        # the lock all computes of this process share: the moves would
        # wait minutes on each other here. Nothing here reads the disk
        # over-commit it adds up.
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.driver.LibvirtDriver.'
            '_get_disk_over_committed_size_total', return_value=0))
        self.servers = self.boot_together(20, OLD)

    def boot_together(self, count, hosts):
        """*count* VMs on each of *hosts*, asked for at once."""
        posted = []
        for host in hosts:
            for i in range(count):
                posted.append((host, self.admin_api.post_server({
                    'server': self._build_server(
                        name='%s-vm%d' % (host, i), networks='none',
                        host=host)})))
        servers = []
        for host, server in posted:
            server = self._wait_for_state_change(server, 'ACTIVE')
            self.make_disks(server, host)
            servers.append(server)
        return servers


class DrainPagesBase(test_horizon_panel.OperatorStackTest):
    """DrainPanelTest's stack, and what these tests do to hosts and VMs."""

    def disable(self, host):
        [service] = self.admin_api.get_services(host=host,
                                                binary='nova-compute')
        self.admin_api.put_service(service['id'], {'status': 'disabled'})

    def task(self, drain_id, server_id):
        return next(task for task in self.cli('server', 'list', drain_id)
                    if task['ID'] == server_id)


class RetryElsewhereTest(DrainPagesBase):

    def test_retry_on_another_host(self):
        [server] = self.boot_many(1, 'old1')
        refusal = ('disk_fit: new3 has 2.0 GiB free on /var/lib/nova/'
                   'instances, the VM needs 9.0 GiB (test)')
        refuse_live_migrations(self, ['new3'], refusal)
        self.disable('new2')
        drain_id = self.cli('create', 'old1', '--target', 'new3',
                            '--name', 'refused by new3')['id']
        self.cli('start', drain_id)
        self.wait_for(drain_id, lambda i: i['state'] == states.COMPLETED,
                      timeout=60)

        result = self.browse_as_operator(
            'retry_elsewhere', drain_id=drain_id, server_id=server['id'],
            target='new1', done_timeout=60, timeout=120)

        left = result['left']
        self.assertEqual(('new3', 'Needs operator'),
                         (left['To'], left['State']))
        self.assertIn('new3 has 2.0 GiB free', left['Last Error / Remedy'])
        # Enabled, running hosts the drain neither empties (old1) nor
        # already tried (new3); new2 is disabled.
        self.assertEqual(['new1', 'old2'], result['offered'])
        self.assertIn('Success: Queued the VM again, to new1.',
                      result['messages'])
        # At once, and whatever it shows meanwhile: new3's refusal never
        # stands beside new1.
        after = result['after_retry']
        self.assertEqual('new1', after['To'])
        self.assertNotIn('new3', after['Last Error / Remedy'])
        done = result['done']
        self.assertEqual(('new1', 'Done', ''),
                         (done['To'], done['State'],
                          done['Last Error / Remedy']))
        self.assertFalse(result['reloaded'])
        self.assertEqual('new1', self.api.get_server(server['id'])[
            'OS-EXT-SRV-ATTR:host'])
        self.assertEqual(1, self.moves[server['id']])
        info = self.wait_for(drain_id,
                             lambda i: i['state'] == states.COMPLETED,
                             timeout=30)
        self.assertEqual({'done': 1}, info['tasks'])
        task = self.task(drain_id, server['id'])
        self.assertEqual(('new1', 'done', ''), (
            task['To'], task['State'], task['Remedy / last error']))
        # The refusal stays in the audit log, with its host.
        self.assertTrue(any(
            'retry asked by %s' % OPERATOR in row['Detail'] and
            'to new1; on new3: ' in row['Detail'] and refusal in row['Detail']
            for row in self.cli('audit', 'list', drain_id)))


class FortyVMDrainTest(DrainPagesBase, FortyVMs):
    """A drain of 40 VMs, every page photographed."""

    def test_forty_vms(self):
        servers = self.servers
        refused = servers[7]
        refuse_live_migrations(
            self, NEW, 'disk_fit: %(host)s is too full for it (test)',
            once_for={refused['id']})
        result = self.browse_as_operator(
            'drain_pages', sources=['old1', 'old2'],
            name='old racks, 40 VMs', vms=len(servers),
            refused=refused['id'], done_timeout=90, timeout=220)

        # The review of 40 moves: totals first, the moves folded.
        review = result['review']
        self.assertEqual(str(len(servers)), review['moves'])
        self.assertTrue(review['folded'])
        self.assertEqual(sorted(NEW), [row[0] for row in
                                       review['per_target']])
        self.assertEqual(len(servers), sum(int(row[1]) for row in
                                           review['per_target']))
        self.assertEqual([['live', str(len(servers))]],
                         [row[:2] for row in review['per_method']])
        self.assertEqual('old racks, 40 VMs', self.cli(
            'show', result['drain_id'])['name'])

        self.assertEqual(sorted(s['name'] for s in servers),
                         result['vms_rows'])
        # Polled while another tab was shown, the VMs table once had a
        # "No items to display." row more below them at every poll.
        self.assertEqual(0, result['empty_rows'])
        self.assertEqual({}, result['misaligned'])
        self.assertEqual('Running', result['running']['state'])
        self.assertTrue(result['eta_shown'])
        self.assertEqual({'Done': 39, 'Needs operator': 1},
                         result['settled'])
        self.assertIn('Completed, VMs left for you',
                      result['needs_you']['list'])
        self.assertIn('1 VM', result['needs_you']['list'])
        self.assertIn('1 VM needs you', result['needs_you']['overview'])
        planned = result['refused_row']['To']
        self.assertEqual(sorted(set(NEW) - {planned}), result['offered'])
        self.assertEqual({'state': 'Completed', 'progress': '100.0%',
                          'counts': 'Done 40'}, result['completed'])
        self.assertEqual([], result['header_actions'])
        self.assertIn('100.0%', result['list_row'])
        # Each VM's start and end at least, and the drain's own.
        self.assertGreater(result['audit_rows'], 2 * len(servers))
        for server in servers:
            server = self.api.get_server(server['id'])
            self.assertIn(server['OS-EXT-SRV-ATTR:host'], NEW)
            self.assertEqual(1, self.moves[server['id']], server['name'])
        self.assertEqual(result['retried_to'], self.api.get_server(
            refused['id'])['OS-EXT-SRV-ATTR:host'])
