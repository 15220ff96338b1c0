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
"""Tests of the [migration_ext] options in nova_migration_ext/conf.py."""

import importlib.metadata
import os

import fixtures
from oslo_config import cfg

from nova_migration_ext import conf as ext_conf
from nova_migration_ext.prechecks import disk_fit
from nova_migration_ext.prechecks import hypervisor_version
from nova_migration_ext.prechecks import orphaned_base_image
from nova_migration_ext.prechecks import shared_volumes
from nova_migration_ext.prechecks import token_lifetime
from tests.unit import utils

SHIPPED = (disk_fit.DiskFit, orphaned_base_image.OrphanedBaseImage,
           shared_volumes.SharedVolumes, hypervisor_version.HypervisorVersion,
           token_lifetime.TokenLifetime)
DEFAULTS = {
    'enabled_prechecks': ['disk_fit', 'orphaned_base_image',
                          'shared_volumes', 'hypervisor_version',
                          'token_lifetime'],
    'warnings_are_failures': False,
    'protect_in_flight_base_images': True,
    'service_token_check': 'warn',
    'service_token_min_validity': 300,
    'expected_throughput_mb_per_s': 100.0,
    'bandwidth_cap_secret': None,
    'disk_fit_margin_mb': 1024,
    'seed_orphaned_base_images': True,
    'hypervisor_version_allow_older': False,
    'user_token_lifetime': 3600,
    'token_lifetime_action': 'fail',
    'cold_copy': 'verified',
    'cold_copy_compression': 'none',
    'cold_copy_checksum': 'xxh128',
    'cold_copy_two_phase': False,
    'cold_copy_max_downtime': 0.0,
    'cold_copy_retries': 3,
    'cold_copy_max_bandwidth': 0.0,
    'cold_copy_remote_python': None,
    'remove_resize_leftovers': True,
    'resize_leftovers_interval': 600,
    'resize_leftovers_grace': 600,
    'dirty_rate_sample_seconds': 1,
    'disk_probe_mib': 256,
}


class TestRegisterOpts(utils.TestCase):

    def test_defaults(self):
        group = self.conf.migration_ext
        for name, value in DEFAULTS.items():
            self.assertEqual(value, group[name], name)

    def test_every_option_has_a_default_here(self):
        self.assertEqual(sorted(DEFAULTS),
                         sorted(self.conf.migration_ext.keys()))

    def test_group(self):
        group = self.conf._get_group('migration_ext')
        self.assertEqual('migration_ext', group.name)
        self.assertEqual('nova-migration-ext options', group.title)
        self.assertEqual(ext_conf.GROUP.help, group.help)

    def test_default_prechecks_match_the_shipped_checks(self):
        self.assertEqual([cls.name for cls in SHIPPED],
                         ext_conf.DEFAULT_PRECHECKS)

    def test_register_twice(self):
        ext_conf.register_opts(self.conf)
        self.assertEqual(300,
                         self.conf.migration_ext.service_token_min_validity)

    def test_precheck_registers_same_opts_again(self):
        for cls in SHIPPED:
            cls(self.conf)
        self.assertEqual(sorted(DEFAULTS),
                         sorted(self.conf.migration_ext.keys()))

    def test_precheck_first_then_register(self):
        conf = cfg.ConfigOpts()
        disk_fit.DiskFit(conf)
        ext_conf.register_opts(conf)
        conf([], default_config_files=[], default_config_dirs=[])
        self.assertEqual(1024, conf.migration_ext.disk_fit_margin_mb)
        self.assertEqual('warn', conf.migration_ext.service_token_check)

    def test_validation(self):
        for name, value in (('service_token_check', 'sometimes'),
                            ('service_token_min_validity', -1),
                            ('expected_throughput_mb_per_s', 0.0),
                            ('disk_fit_margin_mb', -1),
                            ('user_token_lifetime', 0),
                            ('token_lifetime_action', 'ignore')):
            self.assertRaises(ValueError, self.flags, **{name: value})

    def test_choices_accepted(self):
        for value in ('error', 'warn', 'ignore'):
            self.flags(service_token_check=value)
            self.assertEqual(value,
                             self.conf.migration_ext.service_token_check)

    def test_read_from_config_file(self):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'nova.conf')
        with open(path, 'w') as conf_file:
            conf_file.write('[migration_ext]\n'
                            'enabled_prechecks = disk_fit, acme\n'
                            'warnings_are_failures = true\n'
                            'disk_fit_margin_mb = 0\n'
                            'expected_throughput_mb_per_s = 250.5\n'
                            'token_lifetime_action = warn\n')
        conf = cfg.ConfigOpts()
        ext_conf.register_opts(conf)
        conf(['--config-file', path], default_config_files=[],
             default_config_dirs=[])
        self.addCleanup(conf.reset)
        group = conf.migration_ext
        self.assertEqual(['disk_fit', 'acme'], group.enabled_prechecks)
        self.assertTrue(group.warnings_are_failures)
        self.assertEqual(0, group.disk_fit_margin_mb)
        self.assertEqual(250.5, group.expected_throughput_mb_per_s)
        self.assertEqual('warn', group.token_lifetime_action)


class TestListOpts(utils.TestCase):

    def test_list_opts(self):
        result = ext_conf.list_opts()
        self.assertEqual(1, len(result))
        group, opts = result[0]
        self.assertIs(ext_conf.GROUP, group)
        names = [opt.name for opt in opts]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(sorted(DEFAULTS), sorted(names))

    def test_lists_every_shipped_check_option(self):
        listed = {opt.name for opt in ext_conf.list_opts()[0][1]}
        for cls in SHIPPED:
            for opt in cls.OPTS:
                self.assertIn(opt.name, listed, cls.name)

    def test_does_not_alias_core_opts(self):
        opts = ext_conf.list_opts()[0][1]
        opts.append(cfg.StrOpt('extra'))
        self.assertNotIn('extra',
                         [opt.name for opt in ext_conf.CORE_OPTS])
        self.assertNotIn('extra',
                         [opt.name for opt in ext_conf.list_opts()[0][1]])

    def test_help_texts(self):
        for opt in ext_conf.list_opts()[0][1]:
            self.assertTrue(opt.help, opt.name)

    def test_oslo_config_generator_entry_point(self):
        eps = [ep for ep in importlib.metadata.entry_points(
               group='oslo.config.opts') if ep.name == 'nova_migration_ext']
        self.assertTrue(eps)
        for ep in eps:
            self.assertEqual('nova_migration_ext.conf:list_opts', ep.value)
            self.assertIs(ext_conf.list_opts, ep.load())
