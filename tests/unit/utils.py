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
"""Shared helpers for the unit tests of the prechecks."""

import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslotest import base as oslotest_base

from nova_migration_ext import conf as ext_conf
from nova_migration_ext.prechecks import base

GiB = base.GiB
MiB = base.MiB
INSTANCE_UUID = '1f0e8d3c-7b3a-4d8e-9a51-0c2d6f4b9e11'
INSTANCES_PATH = '/var/lib/nova/instances'
SOURCE = 'c7-01'
DESTINATION = 'c7-03'


def make_conf():
    """Return a parsed ConfigOpts with the [migration_ext] options."""
    conf = cfg.ConfigOpts()
    ext_conf.register_opts(conf)
    conf([], project='nova-migration-ext-tests', default_config_files=[],
         default_config_dirs=[])
    return conf


def host(name, **kwargs):
    """Return HostFacts for *name* with the usual instances path."""
    kwargs.setdefault('instances_path', INSTANCES_PATH)
    return base.HostFacts(host=name, **kwargs)


def make_request(source=None, destination=None, **kwargs):
    """Return a PrecheckInput of a block migration, source phase."""
    kwargs.setdefault('instance_uuid', INSTANCE_UUID)
    kwargs.setdefault('kind', base.MigrationKind.BLOCK)
    kwargs.setdefault('phase', base.Phase.SOURCE)
    return base.PrecheckInput(
        source=source or host(SOURCE),
        destination=destination or host(DESTINATION),
        **kwargs)


class TestCase(oslotest_base.BaseTestCase):
    """Base class with a fresh, isolated oslo.config object."""

    def setUp(self):
        super().setUp()
        # register_group() copies the module's OptGroup shallowly, so every
        # ConfigOpts shares its option dict: options a test registers in
        # [migration_ext] would leak into later tests.
        self.useFixture(fixtures.MonkeyPatch(
            'nova_migration_ext.conf.GROUP._opts',
            dict(ext_conf.GROUP._opts)))
        self.conf = make_conf()
        self.conf_fixture = self.useFixture(config_fixture.Config(self.conf))

    def flags(self, **kwargs):
        """Override [migration_ext] options for this test."""
        self.conf_fixture.config(group='migration_ext', **kwargs)
