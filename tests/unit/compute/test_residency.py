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
"""Which libvirt domain states mean "a guest lives here"."""

from nova_migration_ext.compute import residency
from tests.unit import utils

RUNNING, SHUTOFF = 1, 5
# virDomainRunningReason MIGRATED, virDomainPausedReason USER.
RUNNING_MIGRATED, PAUSED_USER = 2, 1


class TestClassify(utils.TestCase):

    def test_incoming_migration_shell(self):
        # What the lab's destination shows during a block migration:
        # "paused (starting up)", then "paused (migrating)".
        for reason in (residency.VIR_DOMAIN_PAUSED_STARTING_UP,
                       residency.VIR_DOMAIN_PAUSED_MIGRATION):
            self.assertIs(residency.Residency.INCOMING, residency.classify(
                residency.VIR_DOMAIN_PAUSED, reason))

    def test_guest_that_lives_here(self):
        for state, reason in ((RUNNING, RUNNING_MIGRATED),
                              (SHUTOFF, 0),
                              (residency.VIR_DOMAIN_PAUSED, PAUSED_USER)):
            self.assertIs(residency.Residency.RESIDENT,
                          residency.classify(state, reason))
