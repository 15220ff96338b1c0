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
"""Every page of a large drain, as the operator sees it, photographed.

The operator plans the drain in the Plan Drain workflow and creates it
after its review, starts it from its page, watches the overview and the
VMs tab, retries the VM its target refused on another host, and reads
the audit log; a screenshot of each page is kept. Config: ``sources``,
``name``, ``vms`` (how many), ``refused`` (the VM left for the
operator), ``done_timeout``. Result: ``review`` (the review's moves,
whether their list starts folded, its rows per target and per method),
``drain_id``, ``running`` and ``completed`` (the overview's state,
progress, counts), ``vms_rows`` (VM names), ``empty_rows`` ("No items
to display." rows under them), ``settled`` (VMs per state once none
moves), ``needs_you`` (the list's row and the overview's warning once
the drain ended with the VM left), ``refused_row`` (its row before the
retry), ``offered``, ``retried_to``, ``audit_rows``, ``list_row`` (the
drain's cells in the list at the end), ``header_actions`` (the drain's
page offers once completed) and ``misaligned`` (per page, the cells
not under their header).
"""

import re
import sys

import common
import panel
import vms


def overview(page):
    return {'state': page.inner_text('#drain_state').strip(),
            'progress': ' '.join(page.inner_text('#drain_progress').split()),
            'counts': page.inner_text('#drain_counts').strip()}


def progress(page):
    return float(overview(page)['progress'].rstrip('%') or 0)


def plan(s, c):
    """Plan it in the workflow, each step photographed; create it."""
    panel.open_panel(s)
    panel.open_plan_modal(s)
    s.step('plan emptying %s' % ', '.join(c['sources']))
    errors = panel.fill_plan(s, c['sources'], name=c['name'],
                             screenshots=True)
    s.check(not errors, 'a step was refused: %s' % errors)
    refusals = panel.review(s)
    s.check(not refusals, 'the review was refused: %s' % refusals)
    s.result['review'] = {
        'moves': s.page.inner_text('#plan_preview_moves').strip(),
        'folded': s.page.get_attribute('#plan_preview_moves_list',
                                       'open') is None,
        'per_target': panel.cells(s, '#plan_preview_targets_table'),
        'per_method': panel.cells(s, '#plan_preview_methods_table')}
    s.screenshot('plan-review')
    errors = panel.submit_plan(s)
    s.check(not errors, 'the plan was refused: %s' % errors)
    s.page.wait_for_url(re.compile(r'/admin/drains/(?!plan/)[^/]+/$'))
    c['drain_id'] = s.result['drain_id'] = \
        s.page.url.rstrip('/').rsplit('/', 1)[-1]


def start(s, c):
    s.step('start the drain from its page')
    vms.open_drain(s, c['drain_id'])
    with s.page.expect_navigation():
        s.page.click('#drains__row_%s__action_start' % c['drain_id'])
    s.page.wait_for_selector('#drain_overview', state='attached')
    s.page.evaluate('window.nmeWatching = true')
    s.step('the overview while it runs')
    s.wait_until(lambda: progress(s.page) > 0 or
                 overview(s.page)['state'] != 'Running', 60,
                 message='no progress: %s' % overview(s.page))
    s.result['running'] = overview(s.page)
    s.result['eta_shown'] = s.page.locator('#drain_eta').count() == 1
    s.screenshot('overview-running')


def vms_tab(s, c):
    s.step('the VMs tab while it runs')
    vms.show_tab(s, 'tasks', 'table#tasks')
    rows = vms.task_rows(s)
    s.result['vms_rows'] = sorted(r['VM'] for r in rows)
    # Its rows were polled while the overview was shown.
    s.result['empty_rows'] = s.page.locator(
        'table#tasks tbody tr.empty').count()
    s.result['misaligned']['vms running'] = common.misaligned(
        s.page, 'table#tasks')
    s.screenshot('vms-running')


def listed_until_settled(s, c):
    """The list while it runs, until it ends with the VM left.

    The list polls one row: the drain's page, 40 (each VM's).
    """
    s.step('the list while it runs')
    s.goto('/admin/drains/')
    row = s.page.locator('table#drains tr[data-object-id="%s"]'
                         % c['drain_id'])
    row.wait_for()
    s.result['misaligned']['list running'] = common.misaligned(
        s.page, 'table#drains')
    s.screenshot('list-running')
    s.step('wait until it ends, a VM left for the operator')
    s.wait_until(lambda: 'VMs left for you' in row.inner_text(),
                 c.get('done_timeout', 90), interval=1,
                 message='the list says %s' % row.inner_text())
    s.result['needs_you'] = {'list': ' '.join(row.inner_text().split())}
    s.result['misaligned']['list ended'] = common.misaligned(
        s.page, 'table#drains')
    s.screenshot('list-needs-you')


def settled(s, c):
    s.step('the drain\'s page once every VM settled')
    vms.open_drain(s, c['drain_id'])
    s.result['needs_you']['overview'] = ' '.join(s.page.inner_text(
        '#drain_needs_you').split())
    s.screenshot('overview-needs-you')
    vms.show_tab(s, 'tasks', 'table#tasks')
    rows = vms.wait_for_vms(s, lambda rows: vms.settled(rows, c['vms']),
                            15, 'VMs still moving')
    s.result['settled'] = vms.summary(rows)
    s.result['misaligned']['vms settled'] = common.misaligned(
        s.page, 'table#tasks')
    s.screenshot('vms-settled')


def retry(s, c):
    s.result['refused_row'] = vms.task_row(s, c['refused'])
    offered = vms.open_retry_elsewhere(s, c['refused'])
    s.result['offered'] = offered
    s.screenshot('retry-modal')
    s.check(offered, 'no host offered')
    s.result['retried_to'] = offered[0]
    vms.retry_elsewhere(s, offered[0])
    vms.show_tab(s, 'tasks', 'table#tasks')
    vms.wait_for_vms(
        s, lambda rows: any(r['id'] == c['refused'] and
                            r.get('State') == 'Done' and not r['polling']
                            for r in rows),
        60, 'the VM retried is not done')


def completed(s, c):
    s.step('the overview once completed')
    vms.show_tab(s, 'overview', '#drain_overview')
    s.wait_until(lambda: overview(s.page)['state'] == 'Completed', 30,
                 message='the overview says %s' % overview(s.page))
    s.result['completed'] = overview(s.page)
    # The header's actions, drawn while it ran again, follow it.
    s.wait_until(lambda: not vms.header_actions(s.page) or None, 15,
                 message='the header offers %s' % vms.header_actions(s.page))
    s.result['header_actions'] = vms.header_actions(s.page)
    s.screenshot('overview-completed')


def audit(s, c):
    s.step('the audit log')
    vms.show_tab(s, 'audit', 'table#audit')
    s.result['audit_rows'] = s.page.locator(
        'table#audit tbody tr[data-object-id]').count()
    s.result['misaligned']['audit'] = common.misaligned(s.page,
                                                        'table#audit')
    s.screenshot('audit')


def listed(s, c):
    s.step('the list at the end')
    s.goto('/admin/drains/')
    s.page.wait_for_selector('table#drains tbody tr[data-object-id]')
    rows = {r['id']: r for r in common.table_rows(s.page, 'table#drains')}
    s.result['list_row'] = rows[c['drain_id']]['cells']
    s.result['misaligned']['list again'] = common.misaligned(
        s.page, 'table#drains')
    s.screenshot('list')


def scenario(s):
    c = s.config
    s.result['misaligned'] = {}
    plan(s, c)
    start(s, c)
    vms_tab(s, c)
    listed_until_settled(s, c)
    settled(s, c)
    retry(s, c)
    completed(s, c)
    audit(s, c)
    listed(s, c)
    s.result['misaligned'] = {k: v for k, v in
                              s.result['misaligned'].items() if v}


if __name__ == '__main__':
    sys.exit(common.run(scenario))
