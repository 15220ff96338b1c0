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
"""Log in as admin and list the hypervisors (stock Horizon panel).

Proves the stack: Keystone's catalog leads Horizon to the embedded nova.
Result: ``hypervisors``, the hostnames the table shows.
"""

import sys

import common


def scenario(s):
    s.login('/admin/hypervisors/')
    if not s.page.url.endswith('/admin/hypervisors/'):
        s.step('open /admin/hypervisors/')
        s.goto('/admin/hypervisors/')
    s.page.wait_for_selector('table#hypervisors')
    rows = s.page.locator('table#hypervisors tbody tr[data-object-id]')
    s.check(rows.count() > 0, 'no hypervisor rows: %s' % s.alert_text())
    s.result['hypervisors'] = sorted(
        ' '.join(text.split()) for text in
        rows.locator('td:nth-child(1)').all_inner_texts())
    s.result['title'] = s.page.title()


if __name__ == '__main__':
    sys.exit(common.run(scenario))
