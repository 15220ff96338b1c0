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
"""A clean shutdown that sees the guest go down within a tenth of a second.

nova's ``_clean_shutdown`` asks the guest to shut down, then looks at its
state once a second: a guest down in 0.3 s stays "running" for nova until
its next look. Where the VM's downtime is the point (a cold migration's
copy starts only then) that second counts. ``wait_for_shutdown`` keeps
nova's rules (ask again every *retry_interval* seconds, give up after
*timeout*) and looks every ``POLL`` seconds.
"""

import time

POLL = 0.1   # seconds between two looks at the guest's power state


def wait_for_shutdown(request, is_off, timeout, retry_interval, poll=POLL,
                      clock=time.monotonic, sleep=time.sleep):
    """Ask the guest to shut down until it is off.

    :param request: sends the guest the shutdown request (ACPI).
    :param is_off: True once the guest is shut off or gone.
    :returns: the seconds it took, or None if it still ran after *timeout*.
    """
    if is_off():
        return 0.0
    start = asked = clock()
    request()
    while True:
        sleep(poll)
        now = clock()
        if is_off():
            return now - start
        if now - start >= timeout:
            return None
        if retry_interval and now - asked >= retry_interval:
            # It may have been starting up and missed the first request.
            request()
            asked = now
