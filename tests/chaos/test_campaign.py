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
"""The fault campaign on a fixed set of seeds (CI), and its regressions.

Each seed draws a drain and a schedule of faults (tests.chaos.campaign),
runs the engine against the simulated nova stand-in (tests.chaos.simnova)
and checks the invariants after every step and at the end. CI's unit step
runs this module through tests/unit/test_chaos_campaign.py.

A seed that ever failed goes into REGRESSIONS with its diagnosis. While
the engine still has the defect, the seed is an expected failure (it
shows as xfail); once the engine is fixed, it shows as an unexpected
success, which fails the run: then move it to FIXED.
"""

import unittest

import fixtures
import testtools

from tests.chaos import campaign

# Seeds CI runs, each one drain (about 0.5-1 s each here).
CI_SEEDS = range(1, 51)

# The defects the campaign found (doc/chaos.md, "Defects found").
DEFECTS = {
    'verify': 'a cold move reconciled from SUBMITTING (after a crash or a '
              'database outage) is marked done while the VM waits in '
              'VERIFY_RESIZE: never confirmed',
    'audit': 'a repair (confirm, revert, reset-state) is audited after '
             'nova answers: a crash, a database outage or a lost reply '
             'in between leaves an action without an audit entry',
    'stopped-error': 'a stopped VM set to ERROR on its source by a failed '
                     'cold migration: its retry waited for it to rest, '
                     'forever; the evacuation never ended',
    'abort': 'an abort of a stuck live migration followed by '
             'needs_operator: the audit entry says "stuck N times", not '
             'that the migration was aborted',
}
# Seeds that found a violation, and the defect, while it is open.
REGRESSIONS = {}
# Former regressions the engine now passes: they run as plain seeds,
# with the defect each one found.
FIXED = {
    10: 'audit', 24: 'verify', 42: 'audit', 94: 'audit', 122: 'audit',
    130: 'audit', 136: 'verify', 140: 'audit', 141: 'verify', 143: 'audit',
    167: 'audit', 175: 'audit', 181: 'audit', 195: 'audit', 234: 'abort',
    237: 'verify', 251: 'verify', 288: 'audit', 291: 'audit', 303: 'audit',
    344: 'audit', 349: 'abort', 353: 'audit', 355: 'audit', 371: 'verify',
    389: 'audit', 452: 'audit', 467: 'audit', 471: 'audit', 505: 'audit',
    528: 'audit', 607: 'audit', 612: 'audit', 698: 'audit', 715: 'audit',
    798: 'audit', 803: 'audit', 811: 'verify', 821: 'verify', 868: 'audit',
    886: 'audit', 952: 'audit', 960: 'audit', 978: 'audit',
    777: 'stopped-error',
}


class CampaignTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.FakeLogger(level=40))   # ERROR and up

    def check_seed(self, seed):
        result = campaign.run_seed(seed)
        problems = result['violations'] + result['lost_vms']
        self.assertEqual(
            [], problems, 'seed %d failed (replay: tools/chaos.sh --seed %d '
            '--schedules 1)\n%s' % (seed, seed,
                                    campaign.describe(result['schedule'])))
        self.assertGreater(result['moved'] + result['flagged'] +
                           result['gone'], 0)


def _seed_test(seed):
    def test(self):
        self.check_seed(seed)
    test.__name__ = 'test_seed_%d' % seed
    return test


for _seed in list(CI_SEEDS) + sorted(FIXED):
    if _seed not in REGRESSIONS:
        setattr(CampaignTest, 'test_seed_%d' % _seed, _seed_test(_seed))


class RegressionTest(testtools.TestCase):
    """Seeds that found a violation: expected to fail until fixed."""

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.FakeLogger(level=40))


def _regression_test(seed, why):
    @unittest.expectedFailure
    def test(self):
        result = campaign.run_seed(seed)
        self.assertEqual([], result['violations'] + result['lost_vms'],
                         why)
    test.__name__ = 'test_seed_%d' % seed
    test.__doc__ = why
    return test


for _seed, _defect in REGRESSIONS.items():
    setattr(RegressionTest, 'test_seed_%d' % _seed,
            _regression_test(_seed, DEFECTS[_defect]))


class DrawTest(testtools.TestCase):

    def test_a_seed_draws_the_same_schedule(self):
        self.assertEqual(campaign.draw(7), campaign.draw(7))
        self.assertNotEqual(campaign.draw(7), campaign.draw(8))

    def test_every_fault_kind_is_drawn(self):
        kinds = set()
        outcomes = set()
        for seed in range(200):
            for fault in campaign.draw(seed)['faults']:
                kinds.add(fault['kind'])
                outcomes.add(fault.get('outcome'))
        self.assertEqual(set(campaign.FAULT_KINDS), kinds)
        self.assertEqual(set(), set(campaign.LIVE_OUTCOMES +
                                    campaign.COLD_OUTCOMES) - outcomes)
