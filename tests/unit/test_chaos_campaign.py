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
"""CI's unit step runs the fault campaign's fixed seeds from here.

The tests live in tests/chaos/test_campaign.py (doc/chaos.md); stestr's
discovery of tests/unit loads them through load_tests.
"""

from tests.chaos import test_campaign


def load_tests(loader, standard_tests, pattern):
    standard_tests.addTests(loader.loadTestsFromModule(test_campaign))
    return standard_tests
