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
"""Tests of the evacuator's drive loop when its database fails."""

import time
from unittest import mock

import eventlet
import fixtures
from oslo_config import cfg
from oslotest import base as oslotest_base
import sqlalchemy as sa

from nova_migration_ext.engine import service


def db_error():
    return sa.exc.OperationalError(
        'SELECT evacuations.id FROM evacuations', {},
        Exception('(2006, MySQL server has gone away)'))


class FlakyStore:
    """A store whose first *failures* reads fail."""

    def __init__(self, failures):
        self.failures = failures
        self.calls = 0

    def list_evacuations(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise db_error()
        return []


class TestDriveLoop(oslotest_base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.logger = self.useFixture(fixtures.FakeLogger(
            name='nova_migration_ext'))
        self.conf = cfg.ConfigOpts()
        service.register_opts(self.conf)
        self.conf([], project='nova-migration-ext-tests',
                  default_config_files=[], default_config_dirs=[])
        self.conf.set_override('poll_interval', 0.1, group='evacuator')
        self.conf.set_override('listen_notifications', False,
                               group='evacuator')

    def evacuator(self, failures):
        engine = mock.Mock(store=FlakyStore(failures))
        return service.EvacuatorService(self.conf, engine)

    def test_database_error_is_logged_kept_and_backed_off(self):
        evacuator = self.evacuator(failures=2)

        intervals = [evacuator.drive() for _ in range(3)]

        # 0.1 s, doubled after each failure in a row, then back to 0.1 s.
        self.assertEqual([0.2, 0.4, 0.1], intervals)
        self.assertIn('MySQL server has gone away', evacuator.last_error)
        self.assertIn('Pass over the evacuations failed',
                      self.logger.output)

    def test_backoff_is_bounded(self):
        evacuator = self.evacuator(failures=100)

        intervals = [evacuator.drive() for _ in range(20)]

        self.assertEqual(service.MAX_BACKOFF, intervals[-1])

    def test_loop_resumes_after_database_errors(self):
        evacuator = self.evacuator(failures=2)

        evacuator.start()
        self.addCleanup(evacuator.stop)
        deadline = time.monotonic() + 10
        while evacuator.engine.store.calls < 4 and \
                time.monotonic() < deadline:
            # Yields to the loop, whether it is a green or a real thread
            # (oslo.service's backend).
            eventlet.sleep(0.05)

        self.assertGreaterEqual(evacuator.engine.store.calls, 4)
