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
"""Tests of the signed bandwidth cap shared by the evacuator and driver."""

from nova_migration_ext.compute import throttle
from tests.unit import utils

SECRET = 'operator-secret'
UUID = '4a8b1c2d-0000-4000-8000-000000000001'
NOW = 1767225600


class TestBandwidthCap(utils.TestCase):

    def cap(self, value, secret=SECRET, uuid=UUID, now=NOW):
        return throttle.verified_cap({throttle.BANDWIDTH_KEY: value,
                                      'other': 'x'}, secret, uuid, now=now)

    def test_signed_cap(self):
        value = throttle.sign(SECRET, UUID, 40, 600, now=NOW)
        self.assertEqual(40, self.cap(value))
        self.assertEqual(40, self.cap(value, now=NOW + 600))

    def test_no_key_no_cap(self):
        for metadata in (None, {}, {'other': '40'}):
            self.assertIsNone(throttle.verified_cap(metadata, SECRET, UUID))

    def test_tenant_values_refused(self):
        signed = throttle.sign(SECRET, UUID, 40, 600, now=NOW)
        version, cap, expires, digest = signed.split(':')
        for value in ('40', '', 'fast', '0', '-3', 'v1:40:1:2:3',
                      ':'.join((version, '1', expires, digest)),
                      ':'.join((version, cap, str(NOW + 9999), digest)),
                      ':'.join(('v2', cap, expires, digest)),
                      throttle.sign('guess', UUID, 40, 600, now=NOW),
                      throttle.sign(SECRET, UUID, 0, 600, now=NOW)):
            self.assertRaises(throttle.InvalidCap, self.cap, value)

    def test_bound_to_the_instance(self):
        value = throttle.sign(SECRET, 'another-vm', 40, 600, now=NOW)
        self.assertRaises(throttle.InvalidCap, self.cap, value)

    def test_expired(self):
        value = throttle.sign(SECRET, UUID, 40, 600, now=NOW)
        self.assertRaises(throttle.InvalidCap, self.cap, value,
                          now=NOW + 601)

    def test_no_secret_trusts_nothing(self):
        value = throttle.sign(SECRET, UUID, 40, 600, now=NOW)
        for secret in (None, ''):
            self.assertRaises(throttle.InvalidCap, self.cap, value,
                              secret=secret)
