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
"""Refused migrations: the server stays ACTIVE on its source, untouched.

Each test reproduces one failure from the operators' report and checks
what our driver does about it.
"""

import subprocess

import fixtures
from nova.conductor.tasks import live_migrate as live_migrate_task
from nova import exception as nova_exception
from nova.tests import fixtures as nova_fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.virt.libvirt import driver as libvirt_driver

from tests.functional import base
from tests import services

MiB = 1024 * 1024


class SmallDestinationDiskTest(base.MigrationExtTestBase):
    """"Disk of instance is too large": the destination's real free space.

    placement believes the destination has 84 GiB free (flavor sizes); its
    instances path is really a 32 MiB file system.
    """

    def setUp(self):
        super().setUp()
        self.flags(disk_fit_margin_mb=0, group='migration_ext')
        dest_path = self.folders.add('dest')
        try:
            subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=32m',
                            'tmpfs', dest_path], check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            services.skip_missing(
                self, services.ROOT,
                'needs root to mount a small tmpfs: %s' % exc)
        self.addCleanup(subprocess.run, ['umount', '-l', dest_path])
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]
        self.server = self.boot('src')
        # 48 MiB of guest data on top of an 8 MiB base image.
        self.make_disks(self.server, 'src', data_mib=48)

    def assert_refused_by_disk_fit(self, server):
        [notification] = self.precheck_notifications()
        self.assertEqual('migration_ext.precheck.fail', notification[1])
        [verdict] = [v for v in notification[2]['verdicts']
                     if v['status'] == 'fail']
        self.assertEqual('disk_fit', verdict['check'])
        self.assertIn('Destination dest has', verdict['reason'])
        self.assertIn('instance %s needs' % server['id'], verdict['reason'])
        self.assertEqual('Choose another destination.', verdict['remedy'])
        print('disk_fit says: %s %s' % (verdict['reason'], verdict['remedy']))

    def test_block_live_migration_refused(self):
        self.live_migrate(self.server, 'dest',
                          migration_expected_state='error')
        self.assert_untouched_on_source(self.server)
        self.assert_refused_by_disk_fit(self.server)
        self.assertFalse(self.migrate_stub_ran)

    def test_cold_migration_refused_before_power_off(self):
        self.cold_migrate(self.server, 'dest', expected_state='ACTIVE')
        self._wait_for_migration_status(self.server, ['error'])
        server = self.assert_untouched_on_source(self.server)
        self.assert_refused_by_disk_fit(server)
        details = '\n'.join(self.action_event_details(server))
        self.assertIn('disk_fit: Destination dest has', details)


class BlockMigrationCopyingVolumeTest(base.MigrationExtTestBase):
    """Block migration must never copy an attached volume."""

    def setUp(self):
        super().setUp()
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]
        self.server = self.boot('src')
        self._attach_volume(self.server,
                            nova_fixtures.CinderFixture.IMAGE_BACKED_VOL)
        self.volume_dev = self.api.get_server_volumes(
            self.server['id'])[0]['device'].rpartition('/')[2]

    def test_disk_list_with_volume_is_refused(self):
        # A libvirt or nova that put the volume in migrate_disks, as the
        # operators saw on CentOS 6, which copied volumes onto themselves.
        original = self.src.driver._live_migration_copy_disk_paths

        def copy_volume_too(context, instance, guest):
            paths, names = original(context, instance, guest)
            return paths, names + [self.volume_dev]
        self.src.driver._live_migration_copy_disk_paths = copy_volume_too

        self.live_migrate(self.server, 'dest',
                          migration_expected_state='error')
        server = self.assert_untouched_on_source(self.server)
        self.assertFalse(self.migrate_stub_ran)
        self.assertIn('shared_volumes: Block migration of instance %s would '
                      'copy volume or shared disk(s) %s'
                      % (server['id'], self.volume_dev),
                      self.stdlog.logger.output)

    def test_tunnelled_block_migration_with_volume_is_refused_by_nova(self):
        # nova refuses this itself, in LibvirtDriver.
        # check_can_live_migrate_source, before our source prechecks run:
        # this pins that nova, not our code, acts here (as the
        # shared_volumes precheck assumes for volumes nova knows of).
        self.flags(live_migration_tunnelled=True, group='libvirt')
        for compute in (self.src, self.dest):
            compute.driver._parse_migration_flags()
        self.live_migrate(self.server, 'dest',
                          migration_expected_state='error')
        self.assert_untouched_on_source(self.server)
        self.assertFalse(self.migrate_stub_ran)
        self.assertIn('Selective block device migration is not supported '
                      'with tunnelled block migrations',
                      self.stdlog.logger.output)
        self.assertNotIn('shared_volumes:', self.stdlog.logger.output)
        self.assertEqual([], self.precheck_notifications())

    def tunnel_after_the_prechecks(self, live_migration):
        """Tunnel the migration once nova's and our prechecks passed.

        A source whose migration flags say "tunnelled" only when libvirt is
        called (nova's own check saw none): libvirt then copies every disk,
        the volume included.
        """
        driver = self.src.driver

        def tunnelled(*args, **kwargs):
            driver._block_migration_flags |= \
                fakelibvirt.VIR_MIGRATE_TUNNELLED
            return live_migration(*args, **kwargs)
        driver.live_migration = tunnelled

    def test_tunnelled_block_migration_refused_by_our_last_check(self):
        self.tunnel_after_the_prechecks(self.src.driver.live_migration)
        self.live_migrate(self.server, 'dest',
                          migration_expected_state='error')
        server = self.assert_untouched_on_source(self.server)
        self.assertFalse(self.migrate_stub_ran)
        self.assertIn('Refusing block migration: shared_volumes: Block '
                      'migration of instance %s is tunnelled, which cannot '
                      'exclude disks, and it has volume or shared disks (%s)'
                      % (server['id'], self.volume_dev),
                      self.stdlog.logger.output)

    def test_control_stock_tunnelled_block_migration_copies_volume(self):
        # The same migration through nova's own live_migration: libvirt is
        # called and would copy the volume onto itself.
        driver = self.src.driver
        self.tunnel_after_the_prechecks(
            lambda *a, **k: libvirt_driver.LibvirtDriver.live_migration(
                driver, *a, **k))
        server = self.live_migrate(self.server, 'dest')
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        self.assertTrue(self.migrate_stub_ran)
        self.assertNotIn('Refusing block migration',
                         self.stdlog.logger.output)


class OlderHypervisorTest(base.MigrationExtTestBase):
    """Never migrate to a host with an older libvirt or QEMU.

    nova's conductor refuses a live migration to an older QEMU itself
    (DestinationHypervisorTooOld), unless [workarounds]
    skip_hypervisor_version_check_on_lm is set; it never compares libvirt
    versions, and nothing in nova compares versions for a cold migration.
    The tests show which component refused; each control runs nova's
    stock driver on both hosts, where the same move goes through.
    """

    def start_hosts(self, driver=base.DRIVER, **src_versions):
        self.src = self.computes[self.start_compute(
            'src', driver=driver, **src_versions)]
        self.dest = self.computes[self.start_compute('dest', driver=driver)]
        self.server = self.boot('src')

    def assert_refused_by_hypervisor_version(self, older):
        [notification] = self.precheck_notifications()
        self.assertEqual('migration_ext.precheck.fail', notification[1])
        [verdict] = [v for v in notification[2]['verdicts']
                     if v['status'] == 'fail']
        self.assertEqual('hypervisor_version', verdict['check'])
        self.assertIn('runs an older hypervisor than source',
                      verdict['reason'])
        self.assertIn('(%s ' % older, verdict['reason'])
        print('hypervisor_version says: %s %s'
              % (verdict['reason'], verdict['remedy']))

    def test_live_migration_to_older_qemu_refused_by_conductor(self):
        # nova's check, not ours: the conductor drops the destination
        # (then NoValidHost) and our prechecks are never asked.
        refusals = []
        check = live_migrate_task.LiveMigrationTask.\
            _check_compatible_with_source_hypervisor

        def recording(task, destination):
            try:
                return check(task, destination)
            except nova_exception.DestinationHypervisorTooOld:
                refusals.append(destination)
                raise
        self.useFixture(fixtures.MonkeyPatch(
            'nova.conductor.tasks.live_migrate.LiveMigrationTask.'
            '_check_compatible_with_source_hypervisor', recording))
        self.start_hosts(qemu_version=fakelibvirt.FAKE_QEMU_VERSION + 1000)
        self.live_migrate(self.server, 'dest',
                          migration_expected_state='error')
        self.assert_untouched_on_source(self.server)
        self.assertFalse(self.migrate_stub_ran)
        self.assertEqual(['dest'], refusals)
        self.assertEqual([], self.precheck_notifications())
        self.assertNotIn('Precheck hypervisor_version',
                         self.stdlog.logger.output)

    def test_live_migration_to_older_qemu_refused_without_novas_check(self):
        self.flags(skip_hypervisor_version_check_on_lm=True,
                   group='workarounds')
        self.start_hosts(qemu_version=fakelibvirt.FAKE_QEMU_VERSION + 1000)
        self.live_migrate(self.server, 'dest',
                          migration_expected_state='error')
        self.assert_untouched_on_source(self.server)
        self.assertFalse(self.migrate_stub_ran)
        self.assert_refused_by_hypervisor_version('QEMU')

    def test_control_stock_live_migration_to_older_qemu(self):
        self.flags(skip_hypervisor_version_check_on_lm=True,
                   group='workarounds')
        self.start_hosts(driver=base.STOCK_DRIVER,
                         qemu_version=fakelibvirt.FAKE_QEMU_VERSION + 1000)
        server = self.live_migrate(self.server, 'dest')
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        self.assertTrue(self.migrate_stub_ran)

    def test_live_migration_to_older_libvirt_refused(self):
        # Same QEMU, older libvirt: the conductor lets it through.
        self.start_hosts(
            libvirt_version=fakelibvirt.FAKE_LIBVIRT_VERSION + 1000)
        self.live_migrate(self.server, 'dest',
                          migration_expected_state='error')
        self.assert_untouched_on_source(self.server)
        self.assertFalse(self.migrate_stub_ran)
        self.assert_refused_by_hypervisor_version('libvirt')

    def test_control_stock_live_migration_to_older_libvirt(self):
        self.start_hosts(
            driver=base.STOCK_DRIVER,
            libvirt_version=fakelibvirt.FAKE_LIBVIRT_VERSION + 1000)
        server = self.live_migrate(self.server, 'dest')
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        self.assertTrue(self.migrate_stub_ran)

    def test_cold_migration_to_older_qemu_refused(self):
        self.start_hosts(qemu_version=fakelibvirt.FAKE_QEMU_VERSION + 1000)
        self.cold_migrate(self.server, 'dest', expected_state='ACTIVE')
        self._wait_for_migration_status(self.server, ['error'])
        server = self.api.get_server(self.server['id'])
        self.assertEqual('src', server['OS-EXT-SRV-ATTR:host'])
        details = '\n'.join(self.action_event_details(server))
        self.assertIn('hypervisor_version: Destination dest runs an older',
                      details)
        self.assert_refused_by_hypervisor_version('QEMU')

    def test_control_stock_cold_migration_to_older_qemu(self):
        self.start_hosts(driver=base.STOCK_DRIVER,
                         qemu_version=fakelibvirt.FAKE_QEMU_VERSION + 1000)
        server = self.cold_migrate(self.server, 'dest')
        self.assertEqual('VERIFY_RESIZE', server['status'])
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])


class TokenLifetimeTest(base.MigrationExtTestBase):
    """A migration expected to outlive the user's token, no service token.

    The user token lives 2 s; 56 MiB at 1 MB/s take about a minute.
    """

    def setUp(self):
        super().setUp()
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]
        # The drivers registered the options; the checks read them late.
        self.flags(user_token_lifetime=2, expected_throughput_mb_per_s=1,
                   group='migration_ext')
        self.flags(send_service_user_token=False, group='service_user')
        self.server = self.boot('src')
        self.make_disks(self.server, 'src', data_mib=48)

    def token_lifetime_verdict(self, event_type):
        [notification] = self.precheck_notifications()
        self.assertEqual(event_type, notification[1])
        [verdict] = [v for v in notification[2]['verdicts']
                     if v['check'] == 'token_lifetime']
        self.assertIn('Migration of instance %s is expected to take about'
                      % self.server['id'], verdict['reason'])
        self.assertIn('no service token will be sent', verdict['reason'])
        self.assertIn('send_service_user_token = true', verdict['remedy'])
        return verdict

    def test_refused_by_default(self):
        self.live_migrate(self.server, 'dest',
                          migration_expected_state='error')
        self.assert_untouched_on_source(self.server)
        self.assertFalse(self.migrate_stub_ran)
        verdict = self.token_lifetime_verdict('migration_ext.precheck.fail')
        self.assertEqual('fail', verdict['status'])
        print('token_lifetime says: %s %s' % (verdict['reason'],
                                              verdict['remedy']))

    def test_warning_is_logged_and_notified_then_migration_goes_on(self):
        self.flags(token_lifetime_action='warn', group='migration_ext')
        server = self.live_migrate(self.server, 'dest')
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        verdict = self.token_lifetime_verdict('migration_ext.precheck.warn')
        self.assertEqual('warn', verdict['status'])
        self.assertIn(verdict['reason'], self.stdlog.logger.output)
