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
"""Tests of the bandwidth cap key shared by the evacuator and the driver."""

from nova_migration_ext import throttle
from tests.unit import utils


class TestBandwidthCap(utils.TestCase):

    def test_cap(self):
        self.assertEqual(40, throttle.bandwidth_cap(
            {throttle.BANDWIDTH_KEY: '40', 'other': 'x'}))

    def test_no_cap(self):
        for metadata in (None, {}, {'other': '40'},
                         {throttle.BANDWIDTH_KEY: ''},
                         {throttle.BANDWIDTH_KEY: 'fast'},
                         {throttle.BANDWIDTH_KEY: '0'},
                         {throttle.BANDWIDTH_KEY: '-3'}):
            self.assertIsNone(throttle.bandwidth_cap(metadata), metadata)
