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
"""Cold migration and resize through the REST API with our driver."""

import os
import time
from unittest import mock

import fixtures
from nova.compute import vm_states
from nova import context as nova_context
from nova import objects
from nova.tests import fixtures as nova_fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.virt.libvirt import utils as libvirt_utils
from oslo_concurrency import processutils

from nova_migration_ext.compute import cold_copy
from tests.functional import base


class ColdMigrationTest(base.MigrationExtTestBase):

    def setUp(self):
        super().setUp()
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]

    def test_cold_migrate_and_confirm_copies_real_disks(self):
        server = self.boot('src')
        src_disk = self.local_disk_paths('src', server)[0]
        with open(src_disk, 'rb') as f:
            src_bytes = f.read()

        server = self.cold_migrate(server, 'dest')
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        dest_disk = self.folders.rebase('dest', src_disk)
        with open(dest_disk, 'rb') as f:
            self.assertEqual(src_bytes, f.read())

        server = self._confirm_resize(server)
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])

    def test_resize_to_bigger_flavor(self):
        server = self.boot('src')
        flavors = sorted(self.api.get_flavors(), key=lambda f: f['disk'])
        bigger = next(f for f in flavors if f['disk'] > 1 and
                      f['ram'] <= 4096 and f['vcpus'] <= 2)
        self.use_host_paths('src')
        self.folders.alias(self.flags_my_ip(), 'dest')
        self.api.post_server_action(
            server['id'], {'resize': {'flavorRef': bigger['id']}})
        server = self._wait_for_state_change(server, 'VERIFY_RESIZE')
        self.assertEqual(bigger['name'], server['flavor']['original_name'])
        server = self._confirm_resize(server)
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])


class DeletedImageTest(base.MigrationExtTestBase):
    """The Glance image of the instance was deleted after boot.

    nova's image backend is mocked in this harness (Image.cache does
    nothing), so nova's own copy of a missing base file from the source
    (fallback_from_host, nova 34) cannot happen here, and a base file on
    the destination alone would not say who put it there. The tests
    assert that our seeder copied it: its log line, the copy it asked of
    its transport, and the bytes. The lab (tests/lab/test_deleted_image,
    test_stock_control) runs the real image backend.
    """

    def setUp(self):
        super().setUp()
        # The image cache manager touches files through privsep; run it
        # in-process.
        self.useFixture(nova_fixtures.PrivsepFixture())
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]
        self.seeds = []
        for host in ('src', 'dest'):
            self.record_seeding(host)
        image = dict(self.glance.show(None, self.glance.image1['id']))
        image.pop('id')
        image['name'] = 'deleted-later'
        self.image_id = self.glance.create(None, image)['id']
        self.server = self.boot('src', image_uuid=self.image_id)
        self.glance.delete(None, self.image_id)
        self.flags(remove_unused_base_images=True,
                   remove_unused_original_minimum_age_seconds=0,
                   remove_unused_resized_minimum_age_seconds=0,
                   group='image_cache')

    def record_seeding(self, host):
        """Record the copies *host*'s seeder asks of its transport."""
        transport = self.computes[host].driver._seeder.transport
        for method in ('push', 'pull'):
            def recording(peer, src, dest, _copy=getattr(transport, method),
                          _method=method):
                self.seeds.append((host, _method, os.path.basename(dest)))
                return _copy(peer, src, dest)
            setattr(transport, method, recording)

    def assert_seeded_by_us(self, server, seeding_host, method, log):
        name = self.base_name(server)
        self.assertEqual([(seeding_host, method, name)], self.seeds)
        self.assertIn('Seeding base image %s %s' % (name, log),
                      self.stdlog.logger.output)
        with open(self.base_path('src', server), 'rb') as src, \
                open(self.base_path('dest', server), 'rb') as dest:
            self.assertEqual(src.read(), dest.read())

    def run_image_cache_pass(self, host):
        self.use_host_paths(host)
        self.flags(host=host)
        ctxt = nova_context.get_admin_context()
        self.computes[host].manager._run_image_cache_manager_pass(ctxt)

    def test_cold_migration_seeds_base_and_cache_keeps_it(self):
        server = self.cold_migrate(self.server, 'dest')
        self.assertEqual('VERIFY_RESIZE', server['status'])
        dest_base = self.base_path('dest', server)
        src_base = self.base_path('src', server)
        self.assertTrue(os.path.exists(dest_base), 'base was not seeded')
        # The source pushed it before powering off (nova names the
        # destination by its address).
        self.assert_seeded_by_us(server, 'src', 'push', 'on ')

        # Cleanup on both hosts while the resize waits for confirmation.
        self.run_image_cache_pass('src')
        self.run_image_cache_pass('dest')
        self.assertTrue(os.path.exists(src_base))
        self.assertTrue(os.path.exists(dest_base))

        server = self._confirm_resize(server)
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])

    def test_block_live_migration_seeds_base(self):
        server = self.live_migrate(self.server, 'dest')
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        self.assertTrue(os.path.exists(self.base_path('dest', server)))
        # The destination pulled it in pre_live_migration.
        self.assert_seeded_by_us(server, 'dest', 'pull', 'from src')

    def test_no_copy_anywhere_is_refused(self):
        os.unlink(self.base_path('src', self.server))
        self.cold_migrate(self.server, 'dest', expected_state='ACTIVE')
        self._wait_for_migration_status(self.server, ['error'])
        server = self.api.get_server(self.server['id'])
        self.assertEqual('src', server['OS-EXT-SRV-ATTR:host'])
        message = '\n'.join(self.action_event_details(server))
        self.assertIn('orphaned_base_image: base file _base/%s of deleted '
                      'Glance image %s is on neither src nor dest'
                      % (self.base_name(server), self.image_id), message)
        [notification] = self.precheck_notifications()
        self.assertEqual('migration_ext.precheck.fail', notification[1])
        verdict = [v for v in notification[2]['verdicts']
                   if v['status'] == 'fail'][0]
        print('orphaned_base_image says: %s %s' % (verdict['reason'],
                                                   verdict['remedy']))
        self.assertFalse(os.path.exists(self.base_path('dest', server)))
        self.assertEqual([], self.seeds)
        for disk in self.local_disk_paths('src', server):
            self.assertTrue(os.path.exists(disk))


class VerifiedCopyTest(base.MigrationExtTestBase):
    """Our copy replaces nova's; stock is one option away."""

    def setUp(self):
        super().setUp()
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]
        self.events = []

    def resize_folder(self, server):
        return os.path.join(self.folders.paths['src'], server['id'] +
                            '_resize')

    def record_steps(self):
        """Log our copies and the power-off, in order."""
        real_copy = cold_copy.copy_disk
        real_power_off = self.src.driver.power_off

        def copy_disk(conf, from_path, to_path, host, *args, **kwargs):
            self.events.append('precopy' if kwargs.get('precopy')
                               else 'copy')
            return real_copy(conf, from_path, to_path, host, *args,
                             **kwargs)

        def power_off(*args, **kwargs):
            self.events.append('power_off')
            return real_power_off(*args, **kwargs)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.compute.cold_copy.copy_disk', copy_disk))
        self.src.driver.power_off = power_off

    def test_copy_is_verified_and_recorded_until_confirm(self):
        server = self.boot('src')
        server = self.cold_migrate(server, 'dest')
        record = cold_copy.read_record(self.resize_folder(server))
        self.assertTrue(record['verified'])
        self.assertEqual(['disk'], [os.path.basename(d['source'])
                                    for d in record['disks']])
        self.assertEqual([cold_copy.ONE_PHASE_CHUNK],
                         [d['chunk'] for d in record['disks']])
        self._confirm_resize(server)
        self.assertFalse(os.path.exists(self.resize_folder(server)))

    def test_stock_copy_control(self):
        self.flags(cold_copy='stock', group='migration_ext')
        self.record_steps()
        server = self.cold_migrate(self.boot('src'), 'dest')
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(['power_off'], self.events)
        self.assertIsNone(cold_copy.read_record(self.resize_folder(server)))

    def test_two_phase_copies_before_the_power_off(self):
        self.flags(cold_copy_two_phase=True, group='migration_ext')
        self.record_steps()
        server = self.cold_migrate(self.boot('src'), 'dest')
        self.assertEqual(['precopy', 'power_off', 'copy'], self.events)
        record = cold_copy.read_record(self.resize_folder(server))
        self.assertTrue(record['verified'])
        # 1 MiB: the final pass resends a whole chunk per scattered write.
        self.assertEqual([cold_copy.TWO_PHASE_CHUNK],
                         [d['chunk'] for d in record['disks']])

    def test_failed_copy_puts_the_vm_back_running_on_its_source(self):
        server = self.boot('src')
        disks = self.local_disk_paths('src', server)

        def refuse(conf, from_path, to_path, host, source_host, **kwargs):
            raise cold_copy.CopyFailed(cold_copy.explain(
                {'code': 5, 'error': 'No space left on device'}, host,
                source_host), 5)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.compute.cold_copy.copy_disk', refuse))
        self.cold_migrate(server, 'dest', expected_state='ACTIVE')
        self._wait_for_migration_status(server, ['error'])
        server = self.api.get_server(server['id'])
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual('src', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(1, self.domain('src', server['id']).info()[0])
        for disk in disks:
            self.assertTrue(os.path.exists(disk), disk)
        self.assertFalse(os.path.exists(self.resize_folder(server)))
        self.assertFalse(os.path.exists(
            self.folders.rebase('dest', os.path.dirname(disks[0]))))
        message = '\n'.join(self.action_event_details(server))
        self.assertIn('No space left on device. Nothing was lost', message)
        self.assertIn('free space on', message)

    def slow_first_passes(self, seconds):
        """First passes last *seconds* each (the VM's writes), then none.

        They only take time here (no process is started, so a loaded
        machine does not stretch them); the final pass copies for real.
        """
        real_copy = cold_copy.copy_disk
        durations = list(seconds)

        def copy_disk(conf, from_path, to_path, host, *args, **kwargs):
            if kwargs.get('precopy'):
                time.sleep(durations.pop(0) if durations else 0.0)
                return {'bytes_sent': 0, 'verified': False}
            return real_copy(conf, from_path, to_path, host, *args,
                             **kwargs)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.compute.cold_copy.copy_disk', copy_disk))

    def test_first_passes_repeat_until_one_is_short(self):
        self.flags(cold_copy_two_phase=True, cold_copy_max_downtime=0.5,
                   group='migration_ext')
        self.slow_first_passes([1.0, 0.7])
        self.record_steps()
        server = self.boot('src')
        # Longer than nova's wait for VERIFY_RESIZE: wait for the record.
        self.use_host_paths('src')
        self.folders.alias(self.flags_my_ip(), 'dest')
        self.api.post_server_action(server['id'],
                                    {'migrate': {'host': 'dest'}})
        self._wait_for_migration_status(server, ['finished'])
        # Passes while each is shorter than the one before, until one
        # lasts no more than 0.5 s; then the power-off and the last pass.
        self.assertGreaterEqual(self.events.count('precopy'), 3)
        self.assertEqual(['power_off', 'copy'], self.events[-2:])
        self.assertTrue(cold_copy.read_record(
            self.resize_folder(server))['verified'])

    def test_vm_writing_faster_than_the_link_is_never_stopped(self):
        self.flags(cold_copy_two_phase=True, cold_copy_max_downtime=0.5,
                   group='migration_ext')
        self.slow_first_passes([1.0, 2.0])
        self.record_steps()
        server = self.boot('src')
        disks = self.local_disk_paths('src', server)
        self.cold_migrate(server, 'dest', expected_state='ACTIVE')
        self._wait_for_migration_status(server, ['error'])
        server = self.api.get_server(server['id'])
        self.assertEqual(('ACTIVE', 'src'), (
            server['status'], server['OS-EXT-SRV-ATTR:host']))
        self.assertEqual(['precopy', 'precopy'], self.events)
        self.assertEqual(1, self.domain('src', server['id']).info()[0])
        for disk in disks:
            self.assertTrue(os.path.exists(disk), disk)
        self.assertFalse(os.path.exists(
            self.folders.rebase('dest', os.path.dirname(disks[0]))))
        message = '\n'.join(self.action_event_details(server))
        self.assertIn('The VM writes to its disks faster than they can be '
                      'sent to', message)
        self.assertIn('after 2 first pass(es) (', message)
        self.assertIn('Nothing was lost: the VM never stopped', message)

    def test_unreachable_destination_changes_nothing(self):
        server = self.boot('src')

        def refuse(host, path, **kwargs):
            raise processutils.ProcessExecutionError(
                stderr='ssh: connect to host %s port 22: Connection '
                       'refused' % host, cmd='ssh %s mkdir -p %s'
                % (host, path))
        self.src.driver._remotefs.create_dir = refuse
        self.record_steps()
        self.cold_migrate(server, 'dest', expected_state='ACTIVE')
        self._wait_for_migration_status(server, ['error'])
        server = self.api.get_server(server['id'])
        self.assertEqual(('ACTIVE', 'src'), (
            server['status'], server['OS-EXT-SRV-ATTR:host']))
        self.assertEqual([], self.events)     # never stopped, nothing sent
        self.assertEqual(1, self.domain('src', server['id']).info()[0])
        message = '\n'.join(self.action_event_details(server))
        self.assertIn('over ssh to prepare the copy: ssh: connect to host',
                      message)
        # (The harness's CONF.host is the last compute started: the
        # source's name in the message is not checked here.)
        self.assertIn('Nothing was changed: the VM is still on', message)
        self.assertIn('To do: check that sshd runs on dest (192.0.2.2)',
                      message)

    def test_two_phase_disk_info_refused_before_the_power_off(self):
        # disk.info goes before the power-off in two phases: its copy
        # failing leaves the VM running where it was, with what to do.
        self.flags(cold_copy_two_phase=True, group='migration_ext')
        server = self.boot('src')
        # (This harness's image backend writes none: as nova's would.)
        folder = os.path.join(self.folders.paths['src'], server['id'])
        with open(os.path.join(folder, 'disk.info'), 'w') as f:
            f.write('{"%s/disk": "qcow2"}' % folder)
        real_copy_image = self._copy_image
        refused = []

        def copy_image(src, dest, host=None, **kwargs):
            if host and src.endswith('disk.info'):
                refused.append(src)
                raise processutils.ProcessExecutionError(
                    stderr='ssh: connect to host %s port 22: Connection '
                           'refused' % host, cmd='scp %s' % src)
            return real_copy_image(src, dest, host=host, **kwargs)
        # The harness patched it already: its copy, refused for disk.info.
        libvirt_utils.copy_image.side_effect = copy_image
        self.record_steps()
        self.cold_migrate(server, 'dest', expected_state='ACTIVE')
        self._wait_for_migration_status(server, ['error'])
        server = self.api.get_server(server['id'])
        self.assertEqual(1, len(refused))
        self.assertEqual(('ACTIVE', 'src'), (
            server['status'], server['OS-EXT-SRV-ATTR:host']))
        self.assertEqual(['precopy'], self.events)   # never powered off
        self.assertEqual(1, self.domain('src', server['id']).info()[0])
        message = '\n'.join(self.action_event_details(server))
        self.assertIn('Cannot reach dest (192.0.2.2) over ssh to prepare '
                      'the copy: ssh: connect to host 192.0.2.2 port 22: '
                      'Connection refused', message)
        # (The source's name is the harness's CONF.host: not checked.)
        self.assertIn('Nothing was changed: the VM is still on', message)
        self.assertIn('To do: check that sshd runs on dest', message)

    def test_confirm_keeps_the_source_of_an_unverified_copy(self):
        server = self.cold_migrate(self.boot('src'), 'dest')
        folder = self.resize_folder(server)
        os.unlink(os.path.join(folder, cold_copy.RECORD))
        self._confirm_resize(server)
        self.assertFalse(os.path.exists(folder))
        self.assertTrue(os.path.exists(folder + '_unverified'))
        self.assertIn('its source disks are kept in',
                      self.stdlog.logger.output)


class ResizeLeftoversTest(base.MigrationExtTestBase):
    """A cold move that ERROR left unconfirmable is cleaned on its source.

    The VM goes to ERROR in VERIFY_RESIZE after its disks moved, and is
    reset to ACTIVE on its destination (by the evacuator, or an operator).
    nova can no longer confirm it: without us the source keeps the old
    disks, the domain and its claim for ever.
    """

    def setUp(self):
        super().setUp()
        self.flags(resize_leftovers_grace=0, resize_leftovers_interval=0,
                   group='migration_ext')
        self.src = self.computes[self.start_compute('src')]
        self.dest = self.computes[self.start_compute('dest')]

    def moved_then_reset(self):
        server = self.cold_migrate(self.boot('src'), 'dest')
        ctxt = nova_context.get_admin_context()
        instance = objects.Instance.get_by_uuid(ctxt, server['id'])
        instance.vm_state = vm_states.ERROR
        instance.save()
        self.api.post_server_action(server['id'],
                                    {'os-resetState': {'state': 'active'}})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual('dest', server['OS-EXT-SRV-ATTR:host'])
        return server

    def sweep_source(self):
        # As in src's own nova-compute process: its folder, its host name.
        self.use_host_paths('src')
        self.flags(host='src')
        self.src.manager.update_available_resource(
            nova_context.get_admin_context())

    def migration(self, server):
        [migration] = self.api.api_get(
            '/os-migrations?instance_uuid=%s' % server['id']
        ).body['migrations']
        return migration

    def src_usages(self):
        usages = self._get_provider_usages(
            self._get_provider_uuid_by_host('src'))
        return {rc: n for rc, n in usages.items() if n}

    def test_source_is_cleaned_as_a_confirm_would(self):
        server = self.moved_then_reset()
        folder = os.path.join(self.folders.paths['src'],
                              server['id'] + '_resize')
        self.assertTrue(os.path.isdir(folder))
        self.assertNotEqual({}, self.src_usages())
        self.sweep_source()
        self.assertFalse(os.path.exists(folder))
        self.assertRaises(fakelibvirt.libvirtError, self.domain, 'src',
                          server['id'])
        self.assertEqual({}, self.src_usages())
        self.assertEqual('confirmed', self.migration(server)['status'])
        self.assertEqual(1, self.domain('dest', server['id']).info()[0])
        self.assertIn('doing what a confirm does on this host',
                      self.stdlog.logger.output)

    def test_confirm_that_failed_on_the_source_then_reset(self):
        # nova's own path: the source's confirm fails at its first step
        # (Neutron), the VM goes to ERROR, the migration to error, and
        # nova drops the claim and the stashed flavors regardless.
        server = self.cold_migrate(self.boot('src'), 'dest')
        with mock.patch.object(
                self.src.manager.network_api, 'setup_networks_on_host',
                side_effect=Exception('Neutron is down')):
            self.api.post_server_action(server['id'],
                                        {'confirmResize': None})
            server = self._wait_for_state_change(server, 'ERROR')
        self.assertEqual('error', self.migration(server)['status'])
        folder = os.path.join(self.folders.paths['src'],
                              server['id'] + '_resize')
        self.assertTrue(os.path.isdir(folder))
        self.api.post_server_action(server['id'],
                                    {'os-resetState': {'state': 'active'}})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.sweep_source()
        self.assertFalse(os.path.exists(folder))
        self.assertRaises(fakelibvirt.libvirtError, self.domain, 'src',
                          server['id'])
        self.assertEqual('error', self.migration(server)['status'])
        self.assertEqual({}, self.src_usages())

    def test_control_with_the_sweep_off_leaks(self):
        self.flags(remove_resize_leftovers=False, group='migration_ext')
        server = self.moved_then_reset()
        self.sweep_source()
        self.assertTrue(os.path.isdir(os.path.join(
            self.folders.paths['src'], server['id'] + '_resize')))
        self.assertIsNotNone(self.domain('src', server['id']))
        self.assertNotEqual({}, self.src_usages())
        self.assertEqual('finished', self.migration(server)['status'])

    def test_resize_waiting_for_confirm_is_left_to_nova(self):
        server = self.cold_migrate(self.boot('src'), 'dest')
        self.sweep_source()
        folder = os.path.join(self.folders.paths['src'],
                              server['id'] + '_resize')
        self.assertTrue(os.path.isdir(folder))
        self.assertIn('the VM is resized: nova may still confirm or revert',
                      self.stdlog.logger.output)
        self._revert_resize(server)
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual('src', server['OS-EXT-SRV-ATTR:host'])

    def test_stock_copy_leftovers_stay_for_the_operator(self):
        server = self.moved_then_reset()
        folder = os.path.join(self.folders.paths['src'],
                              server['id'] + '_resize')
        os.unlink(os.path.join(folder, cold_copy.RECORD))
        self.sweep_source()
        self.assertTrue(os.path.isdir(folder))
        self.assertIn('no copy record (nova\'s stock copy): check the VM on '
                      'dest, then delete the folder',
                      self.stdlog.logger.output)
