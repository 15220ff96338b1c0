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
"""Tests of the token_lifetime precheck."""

from nova_migration_ext.prechecks import base
from nova_migration_ext.prechecks import token_lifetime
from tests.unit import utils

GiB = utils.GiB
REMEDY = ('Set [service_user] send_service_user_token = true with valid '
          '[service_user] credentials on every nova service, or retry with '
          'a fresh token.')


class TestTokenLifetime(utils.TestCase):

    def setUp(self):
        super().setUp()
        self.check = token_lifetime.TokenLifetime(self.conf)

    def request(self, allocated=200 * GiB, **kwargs):
        kwargs.setdefault('user_token_remaining', 3000.0)
        kwargs.setdefault('throughput_bytes_per_s', 100e6)
        return utils.make_request(
            disks=(base.Disk('vda', allocated_size=allocated),), **kwargs)

    def test_name_scope_and_options(self):
        self.assertEqual('token_lifetime', self.check.name)
        self.assertEqual(3600, self.conf.migration_ext.user_token_lifetime)
        self.assertEqual('fail',
                         self.conf.migration_ext.token_lifetime_action)
        for kind in base.MigrationKind:
            self.assertTrue(self.check.applies_to(utils.make_request(
                kind=kind, phase=base.Phase.SOURCE)))
            self.assertFalse(self.check.applies_to(utils.make_request(
                kind=kind, phase=base.Phase.DESTINATION)))

    def test_option_validation(self):
        self.assertRaises(ValueError, self.flags,
                          token_lifetime_action='ignore')
        self.assertRaises(ValueError, self.flags, user_token_lifetime=0)

    def test_service_token(self):
        verdict = self.check.check(self.request(
            service_token=True, user_token_remaining=1.0))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('a service token is sent with the callbacks.',
                         verdict.reason)

    def test_skip_when_token_lifetime_unknown(self):
        verdict = self.check.check(self.request(user_token_remaining=None))
        self.assertEqual(base.Status.SKIP, verdict.status)
        self.assertEqual('not applicable: token lifetime unknown',
                         verdict.reason)

    def test_skip_when_throughput_unknown(self):
        for throughput in (None, 0):
            verdict = self.check.check(self.request(
                throughput_bytes_per_s=throughput))
            self.assertEqual('not applicable: duration unknown',
                             verdict.reason)

    def test_skip_when_disk_size_unknown(self):
        verdict = self.check.check(self.request(allocated=None))
        self.assertEqual(base.Status.SKIP, verdict.status)
        self.assertEqual('not applicable: duration unknown', verdict.reason)

    def test_fits_in_token_life(self):
        verdict = self.check.check(self.request(
            allocated=100 * GiB, user_token_remaining=3600.0))
        self.assertEqual(base.Status.PASS, verdict.status)
        # 100 GiB at 100 MB/s: 1073.7 s.
        self.assertEqual('about 1073s expected, token valid 3600s more.',
                         verdict.reason)
        self.assertEqual({'estimated_seconds': 1074,
                          'token_remaining_seconds': 3600},
                         verdict.details)

    def test_outlives_token(self):
        verdict = self.check.check(self.request(queued_migrations=2))
        self.assertEqual(base.Status.FAIL, verdict.status)
        # 200 GiB at 100 MB/s is 2147 s, three times with two queued ahead.
        self.assertEqual(
            'Migration of instance %s is expected to take about 6442s '
            '(200.0 GiB at 100 MB/s, 2 migration(s) queued ahead) but the '
            'user token expires in 3000s and no service token will be sent.'
            % utils.INSTANCE_UUID, verdict.reason)
        self.assertEqual(REMEDY, verdict.remedy)
        self.assertEqual({'estimated_seconds': 6442,
                          'token_remaining_seconds': 3000},
                         verdict.details)

    def test_queue_decides(self):
        self.assertEqual(base.Status.PASS, self.check.check(
            self.request()).status)
        self.assertEqual(base.Status.FAIL, self.check.check(
            self.request(queued_migrations=1)).status)

    def test_duration_equal_to_remaining_fails(self):
        verdict = self.check.check(self.request(
            allocated=10 ** 9, throughput_bytes_per_s=1e6,
            user_token_remaining=1000.0))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('about 1000s (953.7 MiB at 1 MB/s, 0 migration(s) '
                      'queued ahead) but the user token expires in 1000s',
                      verdict.reason)

    def test_planned_base_copy_counted(self):
        image = base.BaseImage('img-1', 'abc123', size=30 * GiB,
                               deleted_in_glance=True, copy_planned=True)
        verdict = self.check.check(self.request(
            base_image=image, user_token_remaining=2400.0))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('about 2469s (230.0 GiB at 100 MB/s,', verdict.reason)

    def test_live_migration_copies_no_disk(self):
        verdict = self.check.check(self.request(
            kind=base.MigrationKind.LIVE, allocated=None,
            user_token_remaining=5.0))
        self.assertEqual(base.Status.PASS, verdict.status)
        self.assertEqual('about 0s expected, token valid 5s more.',
                         verdict.reason)

    def test_expired_token(self):
        verdict = self.check.check(self.request(
            kind=base.MigrationKind.LIVE, user_token_remaining=-30.0))
        self.assertEqual(base.Status.FAIL, verdict.status)
        self.assertIn('but the user token expires in 0s', verdict.reason)
        self.assertEqual(-30, verdict.details['token_remaining_seconds'])

    def test_action_warn(self):
        self.flags(token_lifetime_action='warn')
        verdict = self.check.check(self.request(queued_migrations=2))
        self.assertEqual(base.Status.WARN, verdict.status)
        self.assertIn('expected to take about 6442s', verdict.reason)
        self.assertEqual(REMEDY, verdict.remedy)
