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
"""Tests of the dirty-rate probe.

The probe's libvirt is a small stand-in here (the calls and their
answers as libvirt documents them); the lab's real QEMU measures real
guests (tests/lab/test_live_migration.py).
"""

import types

import fixtures
import testtools

from nova_migration_ext.compute import dirty_rates

MiB = 1024 ** 2


class LibvirtError(Exception):
    pass


LIBVIRT = types.SimpleNamespace(
    VIR_DOMAIN_STATS_DIRTYRATE=512,
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING=16,
    libvirtError=LibvirtError)


class Domain:

    def __init__(self, uuid, stats):
        self.uuid, self.stats, self.started = uuid, stats, []

    def UUIDString(self):
        return self.uuid

    def startDirtyRateCalc(self, seconds, flags):
        self.started.append(seconds)


class Connection:

    def __init__(self, domains, error=None):
        self.domains, self.error, self.asked = domains, error, []

    def getAllDomainStats(self, stats, flags):
        self.asked.append((stats, flags))
        if self.error:
            raise self.error
        return [(d, d.stats) for d in self.domains]


class DirtyRateProbeTest(testtools.TestCase):

    def test_measured_rates_are_read_and_the_next_measure_started(self):
        measured = Domain('u1', {'dirtyrate.calc_status': 2,
                                 'dirtyrate.megabytes_per_second': 12})
        measuring = Domain('u2', {'dirtyrate.calc_status': 1})
        never = Domain('u3', {})
        connection = Connection([measured, measuring, never])
        probe = dirty_rates.DirtyRateProbe(sample_seconds=2)
        self.assertEqual({'u1': 12 * MiB}, probe.sample(connection, LIBVIRT))
        self.assertEqual([(512, 16)], connection.asked)
        # A measure under way is left to end; the others start anew.
        self.assertEqual(([2], [], [2]), (measured.started,
                                          measuring.started, never.started))

    def test_unsupported_is_said_once_then_not_asked_again(self):
        logger = self.useFixture(fixtures.FakeLogger())
        connection = Connection([], error=LibvirtError('no calc-dirty-rate'))
        probe = dirty_rates.DirtyRateProbe(sample_seconds=1)
        self.assertIsNone(probe.sample(connection, LIBVIRT))
        self.assertIsNone(probe.sample(connection, LIBVIRT))
        self.assertEqual(1, len(connection.asked))
        self.assertEqual(1, logger.output.count('cannot be measured here'))

    def test_an_old_binding_without_the_constant(self):
        old = types.SimpleNamespace(libvirtError=LibvirtError)
        self.assertIsNone(dirty_rates.DirtyRateProbe(1).sample(
            Connection([]), old))

    def test_zero_seconds_measures_nothing(self):
        connection = Connection([Domain('u1', {})])
        self.assertIsNone(dirty_rates.DirtyRateProbe(0).sample(
            connection, LIBVIRT))
        self.assertEqual([], connection.asked)
