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
"""Bad input in the Plan Drain workflow: messages, nothing created.

Config: ``source``, ``bad_window`` (refused by the form with the
evacuator's own policy check), ``aggregate`` (a target aggregate holding
only the source: refused by the evacuator). Result: ``window_errors``,
``aggregate_errors`` (the messages the workflow showed),
``create_enabled`` (whether Create Drain could be pressed after the
refused review) and
``drains`` (the rows of the list afterwards, reloaded).
"""

import sys

import common
import panel


def scenario(s):
    c = s.config
    panel.open_panel(s)
    panel.open_plan_modal(s)
    s.step('plan with the window %s' % c['bad_window'])
    # Refused by its step: Next stays on Limits and Window.
    s.result['window_errors'] = panel.fill_plan(
        s, [c['source']], name='bad window', window=c['bad_window'])
    s.check(s.result['window_errors'], 'the bad window was accepted')
    s.screenshot('bad-window')

    s.step('plan towards aggregate %s' % c['aggregate'])
    # Refused by the drain service: the review says so, Create is off.
    errors = panel.fill_plan(s, [c['source']], name='bad aggregate',
                             target_aggregate=c['aggregate'])
    s.check(not errors, 'a step was refused: %s' % errors)
    s.result['aggregate_errors'] = panel.review(s)
    s.result['create_enabled'] = s.page.locator(
        panel.MODAL_FORM + ' .button-final').is_enabled()
    s.check(s.result['aggregate_errors'], 'the aggregate was accepted')
    s.screenshot('bad-aggregate')

    s.result['drains'] = panel.drains_reloaded(s)


if __name__ == '__main__':
    sys.exit(common.run(scenario))
