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
"""An operator retries a VM its target refused on another host.

Config: ``drain_id``, ``server_id`` (the VM left for the operator),
``target`` (the host to choose), ``done_timeout``. Result: ``left``
(its row before: {header: text}), ``offered`` (hosts the modal offers),
``messages`` (after the retry), ``after_retry`` (its row on the page
the retry lands on), ``done`` (its row once Done, no longer polled),
``reloaded`` (whether the page reloaded meanwhile: it polls).
"""

import sys

import common
import vms


def scenario(s):
    c = s.config
    server = c['server_id']
    s.login('/admin/drains/%s/' % c['drain_id'])
    vms.open_drain(s, c['drain_id'])
    s.step('the VMs tab shows the VM left for the operator')
    vms.show_tab(s, 'tasks', 'table#tasks')
    s.result['left'] = vms.task_row(s, server)
    s.check(s.result['left'] and
            s.result['left'].get('State') == 'Needs operator',
            'not left for the operator: %s' % s.result['left'])
    s.screenshot('needs-operator')
    s.result['offered'] = vms.open_retry_elsewhere(s, server)
    s.screenshot('retry-modal')
    s.result['messages'] = vms.retry_elsewhere(s, c['target'])
    vms.show_tab(s, 'tasks', 'table#tasks')
    s.result['after_retry'] = vms.task_row(s, server)
    s.step('wait until it is done')
    s.page.evaluate('window.nmeWatching = true')
    vms.wait_for_vms(
        s, lambda rows: any(r['id'] == server and r.get('State') == 'Done'
                            and not r['polling'] for r in rows),
        c.get('done_timeout', 60), 'not done')
    s.result['done'] = vms.task_row(s, server)
    s.result['reloaded'] = not s.page.evaluate('window.nmeWatching === true')
    s.screenshot('done')


if __name__ == '__main__':
    sys.exit(common.run(scenario))
