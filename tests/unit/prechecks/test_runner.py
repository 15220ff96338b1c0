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
"""Tests of PrecheckRunner: loading, running, enforcing, notifying."""

import dataclasses
import importlib
import json
import logging
import os
import sys
from unittest import mock

import fixtures
from stevedore import _cache as stevedore_cache
from stevedore import extension

from nova_migration_ext import conf as ext_conf
from nova_migration_ext.prechecks import base
from nova_migration_ext.prechecks import disk_fit
from nova_migration_ext.prechecks import hypervisor_version
from nova_migration_ext.prechecks import orphaned_base_image
from nova_migration_ext.prechecks import runner
from nova_migration_ext.prechecks import shared_volumes
from nova_migration_ext.prechecks import token_lifetime
from tests.unit import utils

GiB = utils.GiB
UUID = utils.INSTANCE_UUID
SHIPPED = {
    'disk_fit': disk_fit.DiskFit,
    'hypervisor_version': hypervisor_version.HypervisorVersion,
    'orphaned_base_image': orphaned_base_image.OrphanedBaseImage,
    'shared_volumes': shared_volumes.SharedVolumes,
    'token_lifetime': token_lifetime.TokenLifetime,
}
HV_REASON = ('Destination c7-03 runs an older hypervisor than source c7-01 '
             '(libvirt 7.0.0 < 8.0.0); the guest may not start there or '
             'migrate back.')
HV_REMEDY = ('Choose a destination with the same or newer libvirt and QEMU, '
             'or upgrade c7-03 first.')
CRASH_REMEDY = ('Fix the check or remove it from [migration_ext] '
                'enabled_prechecks.')
ACME_MODULE = '''\
"""A third-party precheck, installed by an entry point alone."""

from oslo_config import cfg

from nova_migration_ext.prechecks import base


class AcmeCheck(base.Precheck):
    """Refuse to move the instance named like acme_forbidden_name."""

    name = 'acme'
    OPTS = [cfg.StrOpt('acme_forbidden_name', default='forbidden')]

    def check(self, request):
        forbidden = self.options.acme_forbidden_name
        if request.instance_name == forbidden:
            return base.Verdict.fail(
                self.name, 'instance %s may not move.' % forbidden,
                'Ask ACME first.')
        return base.Verdict.ok(self.name, 'allowed.')
'''


class EntryPointCache(fixtures.Fixture):
    """Give stevedore empty, private entry point caches.

    stevedore keeps the entry points of a namespace in a class attribute
    and, through stevedore._cache, in memory and in files under
    $XDG_CACHE_HOME/python-entrypoints. The fixture replaces both with a
    fresh cache whose folder disables the files.
    """

    def _setUp(self):
        cache_dir = self.useFixture(fixtures.TempDir()).path
        with open(os.path.join(cache_dir, '.disable'), 'w'):
            pass
        cache = stevedore_cache.Cache(cache_dir)
        self.useFixture(fixtures.MonkeyPatch(
            'stevedore._cache.get_group_all', cache.get_group_all))
        self.useFixture(fixtures.MonkeyPatch(
            'stevedore.extension.ExtensionManager.ENTRY_POINT_CACHE', {}))


class ThirdPartyPrecheck(fixtures.Fixture):
    """Install acme-precheck 1.0 in a temporary folder on sys.path."""

    MODULE = 'acme_precheck'

    def __init__(self, entry_points=None):
        super().__init__()
        self.entry_points = entry_points or {
            'acme': 'acme_precheck:AcmeCheck'}

    def _setUp(self):
        self.path = self.useFixture(fixtures.TempDir()).path
        with open(os.path.join(self.path, self.MODULE + '.py'), 'w') as f:
            f.write(ACME_MODULE)
        dist_info = os.path.join(self.path, 'acme_precheck-1.0.dist-info')
        os.mkdir(dist_info)
        with open(os.path.join(dist_info, 'METADATA'), 'w') as f:
            f.write('Metadata-Version: 2.1\nName: acme-precheck\n'
                    'Version: 1.0\n')
        with open(os.path.join(dist_info, 'entry_points.txt'), 'w') as f:
            f.write('[%s]\n' % runner.NAMESPACE)
            for name, value in sorted(self.entry_points.items()):
                f.write('%s = %s\n' % (name, value))
        self.useFixture(fixtures.MonkeyPatch('sys.path',
                                             [self.path] + sys.path))
        self.addCleanup(sys.modules.pop, self.MODULE, None)
        self.addCleanup(importlib.invalidate_caches)
        importlib.invalidate_caches()
        self.useFixture(EntryPointCache())


class FakeNotifier:
    """Records notifications like an oslo.messaging Notifier would."""

    def __init__(self):
        self.notifications = []

    def warn(self, context, event_type, payload):
        self.notifications.append(('warn', context, event_type, payload))

    def error(self, context, event_type, payload):
        self.notifications.append(('error', context, event_type, payload))


class RunnerTestCase(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(EntryPointCache())
        self.logger = self.useFixture(fixtures.FakeLogger())
        self.notifier = FakeNotifier()
        self.context = object()

    def runner(self, *names):
        if names:
            self.flags(enabled_prechecks=list(names))
        return runner.PrecheckRunner(self.conf, self.notifier)

    @staticmethod
    def request(dest_libvirt=8000000, **kwargs):
        """A block migration that every shipped check passes."""
        kwargs.setdefault('disks', (base.Disk('vda', allocated_size=GiB),))
        kwargs.setdefault('user_token_remaining', 3600.0)
        kwargs.setdefault('throughput_bytes_per_s', 100e6)
        return utils.make_request(
            source=utils.host(utils.SOURCE, libvirt_version=8000000),
            destination=utils.host(utils.DESTINATION, free_bytes=100 * GiB,
                                   base_images={},
                                   libvirt_version=dest_libvirt),
            **kwargs)


class TestLoading(RunnerTestCase):

    def test_defaults_in_order(self):
        self.assertEqual(ext_conf.DEFAULT_PRECHECKS, self.runner().names)

    def test_name_order_kept(self):
        self.assertEqual(['token_lifetime', 'disk_fit'],
                         self.runner('token_lifetime', 'disk_fit').names)

    def test_available(self):
        available = runner.PrecheckRunner.available()
        self.assertEqual(sorted(available), available)
        self.assertTrue(set(SHIPPED).issubset(available), available)

    def test_entry_points_resolve_to_the_shipped_classes(self):
        manager = extension.ExtensionManager(runner.NAMESPACE)
        plugins = {ext.name: ext.plugin for ext in manager}
        for name, cls in SHIPPED.items():
            self.assertIs(cls, plugins[name])

    def test_checks_built_with_the_service_conf(self):
        with mock.patch.object(disk_fit.DiskFit, 'check', autospec=True,
                               return_value=base.Verdict.ok('disk_fit')):
            self.runner('disk_fit').run(self.request())
            check = disk_fit.DiskFit.check.call_args[0][0]
        self.assertIsInstance(check, disk_fit.DiskFit)
        self.assertIs(self.conf, check.conf)

    def test_unknown_names(self):
        exc = self.assertRaises(runner.PrecheckConfigError, self.runner,
                                'disk_fit', 'nope', 'bogus')
        self.assertEqual(
            'Unknown precheck(s) bogus, nope in [migration_ext] '
            'enabled_prechecks; installed: %s. Fix the list in nova.conf or '
            'install the package that provides them.'
            % ', '.join(runner.PrecheckRunner.available()), str(exc))
        self.assertIn('installed: disk_fit, hypervisor_version, '
                      'orphaned_base_image, shared_volumes, token_lifetime',
                      str(exc))

    def test_empty_list(self):
        self.flags(enabled_prechecks=[])
        precheck_runner = runner.PrecheckRunner(self.conf, self.notifier)
        self.assertEqual([], precheck_runner.names)
        self.assertEqual([], precheck_runner.enforce(self.context,
                                                     self.request()))
        self.assertEqual([], self.notifier.notifications)


class TestRun(RunnerTestCase):

    def test_block_source_runs_every_check(self):
        verdicts = self.runner().run(self.request())
        self.assertEqual(ext_conf.DEFAULT_PRECHECKS,
                         [v.check for v in verdicts])
        self.assertEqual({base.Status.PASS}, {v.status for v in verdicts})
        self.assertEqual('no disk has a backing file.', verdicts[
            ext_conf.DEFAULT_PRECHECKS.index('orphaned_base_image')].reason)

    def test_only_applicable_checks_run(self):
        verdicts = self.runner().run(self.request(
            kind=base.MigrationKind.LIVE, phase=base.Phase.DESTINATION))
        self.assertEqual(['hypervisor_version'], [v.check for v in verdicts])

    def test_crash_becomes_failure(self):
        precheck_runner = self.runner()
        with mock.patch.object(disk_fit.DiskFit, 'check',
                               side_effect=RuntimeError('boom')):
            verdicts = precheck_runner.run(self.request())
        self.assertEqual(ext_conf.DEFAULT_PRECHECKS,
                         [v.check for v in verdicts])
        crashed = verdicts[0]
        self.assertEqual(base.Status.FAIL, crashed.status)
        self.assertEqual('the check crashed: boom.', crashed.reason)
        self.assertEqual(CRASH_REMEDY, crashed.remedy)
        self.assertEqual({base.Status.PASS},
                         {v.status for v in verdicts[1:]})
        self.assertIn('Precheck disk_fit crashed', self.logger.output)
        self.assertIn('RuntimeError: boom', self.logger.output)

    def test_crash_refuses_the_migration(self):
        precheck_runner = self.runner('disk_fit', 'hypervisor_version')
        with mock.patch.object(disk_fit.DiskFit, 'check',
                               side_effect=KeyError('vda')):
            exc = self.assertRaises(runner.PrecheckFailed,
                                    precheck_runner.enforce, self.context,
                                    self.request())
        self.assertEqual(
            "disk_fit: the check crashed: 'vda'. %s (Nothing was changed; "
            "instance %s stays on c7-01.)" % (CRASH_REMEDY, UUID), str(exc))

    def test_warning_kept_by_default(self):
        self.flags(hypervisor_version_allow_older=True)
        verdicts = self.runner('hypervisor_version').run(
            self.request(dest_libvirt=7000000))
        self.assertEqual(base.Status.WARN, verdicts[0].status)

    def test_warnings_are_failures(self):
        self.flags(hypervisor_version_allow_older=True,
                   warnings_are_failures=True)
        verdicts = self.runner('hypervisor_version').run(
            self.request(dest_libvirt=7000000))
        self.assertEqual(
            [base.Verdict.fail('hypervisor_version', HV_REASON, HV_REMEDY)],
            verdicts)

    def test_warning_without_remedy_becomes_failure(self):
        self.flags(warnings_are_failures=True)
        precheck_runner = self.runner('disk_fit')
        warning = base.Verdict.warn('disk_fit', 'odd.', size=1)
        with mock.patch.object(disk_fit.DiskFit, 'check',
                               return_value=warning):
            verdicts = precheck_runner.run(self.request())
        self.assertEqual(
            [base.Verdict.fail(
                'disk_fit', 'odd.',
                'Set [migration_ext] warnings_are_failures = false to '
                'proceed despite warnings.', size=1)],
            verdicts)


class TestEnforce(RunnerTestCase):

    def payload(self, request, verdicts):
        return {'instance_uuid': UUID, 'kind': 'block', 'phase': 'source',
                'source': 'c7-01', 'destination': 'c7-03',
                'verdicts': [v.to_dict() for v in verdicts]}

    def test_pass(self):
        verdicts = self.runner().enforce(self.context, self.request())
        self.assertEqual(5, len(verdicts))
        self.assertEqual([], self.notifier.notifications)

    def test_warning_notified_and_allowed(self):
        self.flags(hypervisor_version_allow_older=True)
        request = self.request(dest_libvirt=7000000)
        verdicts = self.runner('disk_fit', 'hypervisor_version').enforce(
            self.context, request)
        self.assertEqual([base.Status.PASS, base.Status.WARN],
                         [v.status for v in verdicts])
        self.assertEqual(
            [('warn', self.context, 'migration_ext.precheck.warn',
              self.payload(request, verdicts))],
            self.notifier.notifications)
        self.assertIn('Precheck hypervisor_version: warn for instance %s '
                      '(source phase): hypervisor_version: %s %s'
                      % (UUID, HV_REASON, HV_REMEDY), self.logger.output)

    def test_failure_notified_and_raised(self):
        request = self.request(dest_libvirt=7000000)
        exc = self.assertRaises(
            runner.PrecheckFailed,
            self.runner('disk_fit', 'hypervisor_version').enforce,
            self.context, request)
        self.assertEqual(
            'hypervisor_version: %s %s (Nothing was changed; instance %s '
            'stays on c7-01.)' % (HV_REASON, HV_REMEDY, UUID), str(exc))
        self.assertIs(request, exc.request)
        self.assertEqual(['disk_fit', 'hypervisor_version'],
                         [v.check for v in exc.verdicts])
        payload = self.payload(request, exc.verdicts)
        self.assertEqual(
            [('error', self.context, 'migration_ext.precheck.fail',
              payload)],
            self.notifier.notifications)
        self.assertEqual(payload, json.loads(json.dumps(payload)))
        self.assertEqual('fail', payload['verdicts'][1]['status'])

    def test_failure_and_warning(self):
        request = self.request(
            dest_libvirt=7000000, disks=(base.Disk('vda'),))
        exc = self.assertRaises(
            runner.PrecheckFailed,
            self.runner('disk_fit', 'hypervisor_version').enforce,
            self.context, request)
        self.assertEqual([base.Status.WARN, base.Status.FAIL],
                         [v.status for v in exc.verdicts])
        self.assertTrue(str(exc).startswith('hypervisor_version: '))
        self.assertNotIn('disk_fit', str(exc))
        self.assertEqual(1, len(self.notifier.notifications))
        priority, _ctxt, event_type, payload = self.notifier.notifications[0]
        self.assertEqual(('error', 'migration_ext.precheck.fail'),
                         (priority, event_type))
        self.assertEqual(['warn', 'fail'],
                         [v['status'] for v in payload['verdicts']])

    def test_two_failures(self):
        self.flags(disk_fit_margin_mb=0)
        request = self.request(
            dest_libvirt=7000000,
            disks=(base.Disk('vda', allocated_size=101 * GiB),))
        exc = self.assertRaises(
            runner.PrecheckFailed,
            self.runner('disk_fit', 'hypervisor_version').enforce,
            self.context, request)
        self.assertIn(' Choose another destination. | hypervisor_version: ',
                      str(exc))
        self.assertTrue(str(exc).startswith(
            'disk_fit: Destination c7-03 has 100.0 GiB free'))

    def test_without_notifier(self):
        precheck_runner = runner.PrecheckRunner(self.conf)
        self.assertIsNone(precheck_runner.notifier)
        self.assertRaises(runner.PrecheckFailed, precheck_runner.enforce,
                          self.context, self.request(dest_libvirt=7000000))

    def test_notifier_errors_do_not_hide_the_verdict(self):
        self.notifier = mock.Mock(spec=['warn', 'error'])
        self.notifier.error.side_effect = RuntimeError('rabbit down')
        self.notifier.warn.side_effect = RuntimeError('rabbit down')
        precheck_runner = self.runner('hypervisor_version')
        self.assertRaises(runner.PrecheckFailed, precheck_runner.enforce,
                          self.context, self.request(dest_libvirt=7000000))
        self.flags(hypervisor_version_allow_older=True)
        verdicts = precheck_runner.enforce(
            self.context, self.request(dest_libvirt=7000000))
        self.assertEqual(base.Status.WARN, verdicts[0].status)
        self.assertEqual(1, self.notifier.error.call_count)
        self.assertEqual(1, self.notifier.warn.call_count)
        self.assertIn('Could not emit notification '
                      'migration_ext.precheck.fail', self.logger.output)


class TestSkipped(RunnerTestCase):
    """A check that could not look is reported as skipped, not passed."""

    def unknown_free_space(self):
        return dataclasses.replace(self.request(), destination=utils.host(
            utils.DESTINATION, base_images={}, libvirt_version=8000000))

    def test_skip_is_reported_as_skipped(self):
        verdicts = self.runner('disk_fit', 'hypervisor_version').enforce(
            self.context, self.unknown_free_space())
        self.assertEqual([('disk_fit', base.Status.SKIP),
                          ('hypervisor_version', base.Status.PASS)],
                         [(v.check, v.status) for v in verdicts])
        self.assertEqual('skip', verdicts[0].to_dict()['status'])

    def test_skip_is_logged_as_a_warning_with_its_reason(self):
        self.logger = self.useFixture(fixtures.FakeLogger(
            level=logging.WARNING, format='%(levelname)s %(message)s'))
        self.runner('disk_fit').enforce(self.context,
                                        self.unknown_free_space())
        self.assertIn(
            'WARNING Precheck disk_fit skipped for instance %s (source '
            'phase): not applicable: free space on c7-03 is not known in '
            'this phase' % UUID, self.logger.output)

    def test_skip_alone_allows_and_notifies_nothing(self):
        self.runner('disk_fit').enforce(self.context,
                                        self.unknown_free_space())
        self.assertEqual([], self.notifier.notifications)


class TestPrecheckFailed(utils.TestCase):

    def test_message_lists_failures_only(self):
        request = utils.make_request()
        verdicts = [base.Verdict.ok('a', 'fine.'),
                    base.Verdict.fail('b', 'bad.', 'Fix b.'),
                    base.Verdict.warn('c', 'odd.', 'Look at c.'),
                    base.Verdict.fail('d', 'worse.', '')]
        exc = runner.PrecheckFailed(request, verdicts)
        self.assertEqual('b: bad. Fix b. | d: worse. (Nothing was changed; '
                         'instance %s stays on c7-01.)' % UUID, str(exc))
        self.assertIs(verdicts, exc.verdicts)
        self.assertIs(request, exc.request)


class TestThirdPartyPrecheck(RunnerTestCase):
    """A check enabled by installing a package and naming it, no more."""

    def test_runs_and_refuses(self):
        self.useFixture(ThirdPartyPrecheck())
        precheck_runner = self.runner('disk_fit', 'acme')
        self.assertEqual(['disk_fit', 'acme'], precheck_runner.names)
        self.assertIn('acme', runner.PrecheckRunner.available())

        request = self.request(instance_name='forbidden')
        exc = self.assertRaises(runner.PrecheckFailed,
                                precheck_runner.enforce, self.context,
                                request)
        self.assertEqual(
            'acme: instance forbidden may not move. Ask ACME first. '
            '(Nothing was changed; instance %s stays on c7-01.)' % UUID,
            str(exc))
        self.assertEqual([('disk_fit', base.Status.PASS),
                          ('acme', base.Status.FAIL)],
                         [(v.check, v.status) for v in exc.verdicts])
        payload = self.notifier.notifications[0][3]
        self.assertEqual('acme', payload['verdicts'][1]['check'])

    def test_runs_and_allows(self):
        self.useFixture(ThirdPartyPrecheck())
        verdicts = self.runner('disk_fit', 'acme').enforce(
            self.context, self.request(instance_name='web-1'))
        self.assertEqual([('disk_fit', base.Status.PASS),
                          ('acme', base.Status.PASS, 'allowed.')],
                         [(verdicts[0].check, verdicts[0].status),
                          (verdicts[1].check, verdicts[1].status,
                           verdicts[1].reason)])

    def test_plugin_options(self):
        self.useFixture(ThirdPartyPrecheck())
        precheck_runner = self.runner('acme')
        self.assertEqual('forbidden',
                         self.conf.migration_ext.acme_forbidden_name)
        self.flags(acme_forbidden_name='web-1')
        self.assertRaises(runner.PrecheckFailed, precheck_runner.enforce,
                          self.context, self.request(instance_name='web-1'))

    def test_unknown_name_lists_installed_plugins(self):
        self.useFixture(ThirdPartyPrecheck())
        exc = self.assertRaises(runner.PrecheckConfigError, self.runner,
                                'acme', 'acme2')
        self.assertIn('Unknown precheck(s) acme2 in [migration_ext] '
                      'enabled_prechecks; installed: acme, disk_fit, ',
                      str(exc))

    def test_load_failure(self):
        self.useFixture(ThirdPartyPrecheck({
            'acme': 'acme_precheck:AcmeCheck',
            'broken': 'acme_precheck:NoSuchCheck'}))
        exc = self.assertRaises(runner.PrecheckConfigError, self.runner,
                                'disk_fit', 'broken')
        self.assertTrue(str(exc).startswith(
            'Precheck broken could not be loaded: '), str(exc))
        self.assertIn('NoSuchCheck', str(exc))
        self.assertTrue(str(exc).endswith(
            '. Fix or uninstall it, or remove it from [migration_ext] '
            'enabled_prechecks.'), str(exc))
        self.assertIsInstance(exc.__cause__, AttributeError)

    def test_missing_module(self):
        self.useFixture(ThirdPartyPrecheck({
            'gone': 'acme_gone_module:Check'}))
        exc = self.assertRaises(runner.PrecheckConfigError, self.runner,
                                'gone')
        self.assertIn("could not be loaded: No module named "
                      "'acme_gone_module'.", str(exc))
        self.assertIsInstance(exc.__cause__, ImportError)

    def test_broken_plugin_not_loaded_unless_enabled(self):
        self.useFixture(ThirdPartyPrecheck({
            'acme': 'acme_precheck:AcmeCheck',
            'broken': 'acme_precheck:NoSuchCheck'}))
        self.assertEqual(['acme'], self.runner('acme').names)

    def test_uninstalled_after_cleanup(self):
        fixture = ThirdPartyPrecheck()
        fixture.setUp()
        try:
            self.assertIn('acme', runner.PrecheckRunner.available())
        finally:
            fixture.cleanUp()
        self.useFixture(EntryPointCache())
        self.assertNotIn('acme', runner.PrecheckRunner.available())
        self.assertNotIn(ThirdPartyPrecheck.MODULE, sys.modules)
        self.assertRaises(runner.PrecheckConfigError, self.runner, 'acme')
