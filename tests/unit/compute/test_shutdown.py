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
"""Tests of the clean shutdown that looks at the guest ten times a second."""

from nova_migration_ext.compute import shutdown
from tests.unit import utils


class FakeGuest:
    """A guest that goes off *takes* seconds after the request it heeds.

    *deaf*: requests it misses (still starting up) before it heeds one.
    """

    def __init__(self, takes, deaf=0):
        self.ms = 0     # whole milliseconds: no drift from adding 0.1s
        self.takes = takes
        self.deaf = deaf
        self.requests = []
        self.off_at = None

    @property
    def now(self):
        return self.ms / 1000.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.ms += round(seconds * 1000)

    def request(self):
        self.requests.append(self.now)
        if len(self.requests) > self.deaf and self.off_at is None:
            self.off_at = self.now + self.takes

    def is_off(self):
        return self.off_at is not None and self.now >= self.off_at

    def wait(self, timeout=60, retry_interval=10, **kwargs):
        return shutdown.wait_for_shutdown(
            self.request, self.is_off, timeout, retry_interval,
            clock=self.clock, sleep=self.sleep, **kwargs)


class WaitForShutdownTest(utils.TestCase):

    def test_sees_the_guest_off_within_a_poll(self):
        guest = FakeGuest(takes=0.35)
        took = guest.wait()
        self.assertAlmostEqual(0.4, took)
        self.assertEqual([0.0], guest.requests)

    def test_control_nova_poll_of_one_second(self):
        # The same guest watched once a second, as nova's _clean_shutdown
        # does: seen off only at 1 s.
        self.assertAlmostEqual(1.0, FakeGuest(takes=0.35).wait(poll=1.0))

    def test_already_off_is_not_asked(self):
        guest = FakeGuest(takes=0)
        guest.off_at = 0.0
        self.assertEqual(0.0, guest.wait())
        self.assertEqual([], guest.requests)

    def test_asks_again_every_retry_interval(self):
        guest = FakeGuest(takes=0.5, deaf=2)
        took = guest.wait(timeout=60, retry_interval=3)
        self.assertEqual(3, len(guest.requests))
        self.assertAlmostEqual(6.0, guest.requests[-1], places=5)
        self.assertAlmostEqual(6.5, took, places=5)

    def test_gives_up_after_the_timeout(self):
        guest = FakeGuest(takes=0.5, deaf=1000)
        self.assertIsNone(guest.wait(timeout=5, retry_interval=0))
        self.assertEqual(1, len(guest.requests))
        self.assertAlmostEqual(5.0, guest.now)
