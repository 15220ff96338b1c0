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
"""The one way a test skips for want of a service on this machine.

A developer's machine may lack RabbitMQ, MariaDB, Redis, Chromium or
root: tests that need one skip there. CI's machine has them all, so a
skip there hides a broken set-up: with ``NMX_REQUIRE_SERVICES=1`` (set by
``tools/run-tests.sh`` when ``CI=true``) such a test fails instead, naming
what is missing. Imports neither nova nor Django: the Horizon tests, in an
environment without nova, use it too.
"""

import os

REQUIRE_ENV = 'NMX_REQUIRE_SERVICES'

RABBITMQ = 'RabbitMQ'
MARIADB = 'MariaDB'
REDIS = 'Redis'
CHROMIUM = 'Chromium'
HORIZON_VENV = 'the Horizon virtualenv'
ROOT = 'root'


def required():
    """Whether a missing service must fail the test (CI)."""
    return os.environ.get(REQUIRE_ENV, '').strip().lower() in (
        '1', 'true', 'yes')


def skip_missing(test, service, reason):
    """Skip *test* for want of *service*, or fail it when one is required.

    :param test: the running ``unittest.TestCase``.
    :param service: what is missing, e.g. :data:`RABBITMQ`.
    :param reason: the detail shown in the skip or failure.
    """
    if required():
        test.fail('%s is missing although %s=1 (CI has it): %s'
                  % (service, REQUIRE_ENV, reason))
    test.skipTest('%s missing: %s' % (service, reason))
