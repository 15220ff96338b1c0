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
"""The API's policy refuses the user a plan: the panel says so.

Config: ``source``. Result: ``errors`` (what the Plan Drain workflow
showed at its review) and ``drains`` (the rows of the list afterwards,
reloaded).
"""

import sys

import common
import panel


def scenario(s):
    c = s.config
    panel.open_panel(s)
    panel.open_plan_modal(s)
    s.step('plan emptying %s' % c['source'])
    errors = panel.fill_plan(s, [c['source']], name='refused by policy')
    s.check(not errors, 'a step was refused: %s' % errors)
    # The dry run is a plan too: the policy refuses it at the review.
    s.result['errors'] = panel.review(s)
    s.check(s.result['errors'], 'the plan was accepted')
    s.screenshot('policy-refused')

    s.result['drains'] = panel.drains_reloaded(s)


if __name__ == '__main__':
    sys.exit(common.run(scenario))
