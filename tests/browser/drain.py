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
"""An operator plans, starts and watches a host drain in Horizon.

Config: ``source`` (host to empty), ``targets``, ``name``, ``vms`` (how
many VMs the plan must move), ``done_timeout`` (seconds for every VM to
be done). Result: ``source_row`` (the source's cells in the workflow's
host table), ``dry_run_moves`` ([VM, from, to, method, downtime]) and
``dry_run_prechecks`` (each move's prechecks) of the Review step,
``create_enabled`` (Create Drain once reviewed),
``drains_after_dry_run`` (rows of the list after the dry run),
``drain_id``, ``planned_state``, ``start_message``, ``snapshots``
(the VMs' states each time the polled rows changed, in a browser tab
opened before the start), ``final_tasks``, ``overview`` (state, progress
and counts that tab's overview shows at the end, and whether it
reloaded),
``audit`` ([actor, action]), ``audit_polling`` (the audit tab's
``data-polling`` once ended), ``task_colours`` ([label class, bar
class] per VM when done), ``misaligned`` (per table, the cells not
under their header after list -> drain -> list while it ran; empty when
all line up), ``reloaded`` (whether the VMs tab
reloaded: neither page may, they poll) and ``wording`` (title, menu
entry and whether "evacuation" shows, of the list, the Plan Drain workflow
and the drain's page).
"""

import re
import sys
from urllib import parse

import common
import panel


def dry_run(s, c):
    panel.wording(s, 'list')
    panel.open_plan_modal(s)
    panel.wording(s, 'modal')
    s.step('choose the hosts, then the targets, and go to the review')
    # The hosts show what they hold before the operator ticks one.
    cells = s.page.locator('#id_sources_table tr[data-host="%s"] td'
                           % c['source']).all_inner_texts()
    s.result['source_row'] = [' '.join(cell.split()) for cell in cells]
    errors = panel.fill_plan(s, [c['source']], c['targets'], name=c['name'],
                             screenshots=True)
    s.check(not errors, 'a step was refused: %s' % errors)
    refusals = panel.review(s)
    s.check(not refusals, 'the dry run was refused: %s' % refusals)
    moves = s.page.locator('#plan_preview_moves_table tbody tr')
    rows = [[' '.join(cell.split()) for cell in
             moves.nth(i).locator('td').all_inner_texts()]
            for i in range(moves.count())]
    s.result['dry_run_moves'] = [row[:5] for row in rows]
    s.result['dry_run_prechecks'] = [row[5] for row in rows]
    s.result['dry_run_vms'] = s.page.inner_text('#plan_preview_vms').strip()
    s.result['create_enabled'] = s.page.locator(
        panel.MODAL_FORM + ' .button-final').is_enabled()
    s.screenshot('dry-run')
    s.check(len(s.result['dry_run_moves']) == c['vms'],
            'the dry run shows %d moves, not %d'
            % (len(s.result['dry_run_moves']), c['vms']))


def plan(s, c):
    s.step('create the drain reviewed')
    # The drains behind the modal: the dry run created none.
    s.result['drains_after_dry_run'] = panel.drains(s)
    errors = panel.submit_plan(s)
    s.check(not errors, 'the plan was refused: %s' % errors)
    s.page.wait_for_url(re.compile(r'/admin/drains/(?!plan/)[^/]+/$'))
    s.result['drain_id'] = s.page.url.rstrip('/').rsplit('/', 1)[-1]
    s.page.wait_for_selector('#drain_overview')
    s.result['planned_state'] = s.page.inner_text(
        '#drain_state').strip()
    panel.wording(s, 'detail')


def open_tasks_tab(s, c):
    """A second tab shows the VMs before the start: Pending, then polled.

    The operator keeps it open; its rows must change by Horizon's row
    polling alone (``window.nmeWatching`` is gone if the page reloads).
    """
    s.step('open the VMs tab in a second browser tab')
    watcher = s.new_page()
    watcher.goto(s.page.url)
    watcher.click('a[data-target="#drain_details__tasks"]')
    watcher.wait_for_selector('table#tasks', state='visible')
    watcher.evaluate('window.nmeWatching = true')
    s.result['snapshots'] = [task_states(common.table_rows(
        watcher, 'table#tasks'))]
    return watcher


def task_states(rows):
    """['VM:State'] of the rows of the VMs table, sorted."""
    return sorted('%s:%s' % (next((x for x in r['cells'] if x), r['id']),
                             r['status']) for r in rows)


def start(s, c):
    s.step('start it from its page')
    drain_id = s.result['drain_id']
    s.page.click('#drains__row_%s__action_start' % drain_id)
    s.page.wait_for_load_state()
    s.result['after_start_path'] = parse.urlsplit(s.page.url).path
    s.result['start_message'] = ' '.join(s.page.locator(
        '.alert-success, .messages .alert').all_inner_texts())
    s.check('Started' in s.result['start_message'],
            'no "Started" message: %r %s' % (s.result['start_message'],
                                             s.alert_text()))


def alignment(s, c):
    """Index, the drain, index again while it runs: headers over cells.

    Horizon keeps a table's actions on its class; a drain's page (and its
    poll) once re-pointed them while the list rendered, and the list's
    headers then stood one column off their cells.
    """
    s.step('list, drain, list again while it runs: headers over cells')
    detail = parse.urlsplit(s.page.url).path
    problems = {}
    s.goto('/admin/drains/')
    s.page.wait_for_selector('table#drains tbody tr[data-object-id]')
    problems['list'] = common.misaligned(s.page, 'table#drains')
    s.page.click('table#drains a[href="%s"]' % detail)
    s.page.wait_for_selector('#drain_overview', state='attached')
    s.page.click('a[data-target="#drain_details__tasks"]')
    s.page.wait_for_selector('table#tasks', state='visible')
    problems['vms'] = common.misaligned(s.page, 'table#tasks')
    # The overview's poll runs meanwhile, building the list's table.
    s.page.wait_for_timeout(3000)
    s.goto('/admin/drains/')
    s.page.wait_for_selector('table#drains tbody tr[data-object-id]')
    s.page.wait_for_timeout(3000)       # the rows' polls too
    problems['list again'] = common.misaligned(s.page, 'table#drains')
    s.result['misaligned'] = {k: v for k, v in problems.items() if v}
    s.screenshot('list-after-a-drain')
    s.goto(detail)
    # Its tabs are sticky: the VMs tab opens, the overview is there.
    s.page.wait_for_selector('#drain_overview', state='attached')


def watch(s, c, watcher):
    s.step('watch the VMs tab until every VM is done')
    s.page = watcher        # screenshots of this tab from now on
    snapshots = s.result['snapshots']

    def all_done():
        rows = common.table_rows(watcher, 'table#tasks')
        states = task_states(rows)
        if snapshots[-1] != states:
            snapshots.append(states)
        return (len(rows) == c['vms'] and
                all(r['status'] == 'Done' and not r['polling']
                    for r in rows)) and rows
    rows = s.wait_until(all_done, c.get('done_timeout', 90), interval=0.5,
                        message='VMs not all done: %s' % snapshots[-1])
    s.result['final_tasks'] = [r['cells'] for r in rows]
    # How the VMs table draws them: each state's label and bar colour.
    s.result['task_colours'] = watcher.evaluate(
        """() => Array.from(document.querySelectorAll(
            'table#tasks tbody tr[data-object-id]')).map(tr => [
            (tr.querySelector('.nme-state') || {}).className || '',
            (tr.querySelector('.progress-bar') || {}).className || ''])""")
    s.result['reloaded'] = not watcher.evaluate(
        'window.nmeWatching === true')
    s.screenshot('done')


def overview(s, c, page):
    """The overview of the watching tab, never reloaded, ends current."""
    s.step('switch the watching tab to the overview it refreshed itself')
    page.click('a[data-target="#drain_details__overview"]')

    def final():
        state = page.inner_text('#drain_state').strip()
        return state == 'Completed' and state
    s.wait_until(final, 30, interval=0.5,
                 message='the overview still says %s' % page.inner_text(
                     '#drain_state'))
    s.result['overview'] = {
        'state': page.inner_text('#drain_state').strip(),
        'progress': ' '.join(page.inner_text(
            '#drain_progress').split()),
        'counts': page.inner_text('#drain_counts').strip(),
        'reloaded': not page.evaluate('window.nmeWatching === true')}
    # The header's actions, drawn when the tab opened (planned: Start,
    # Cancel), follow the state too: nothing is left to do when done.
    s.wait_until(lambda: not header_actions(page) or None, 15,
                 interval=0.5, message='the header still offers %s'
                 % header_actions(page))
    s.result['header_actions'] = header_actions(page)


def header_actions(page):
    return [text.strip() for text in page.locator(
        '.detail-actions button, .detail-actions a').all_inner_texts()]


def audit(s, c):
    s.step('read the audit log tab')
    s.page.click('a[data-target="#drain_details__audit"]')
    s.page.wait_for_selector('table#audit tbody tr', state='visible')
    # Ended: the tab no longer fetches itself.
    s.result['audit_polling'] = s.page.get_attribute('#drain_audit',
                                                     'data-polling')
    rows = s.page.locator('table#audit tbody tr')
    s.result['audit'] = []
    for i in range(rows.count()):
        cells = rows.nth(i).locator('td').all_inner_texts()
        if len(cells) >= 3:
            s.result['audit'].append([cells[1].strip(), cells[2].strip()])


def scenario(s):
    c = s.config
    panel.open_panel(s)
    dry_run(s, c)
    plan(s, c)
    watcher = open_tasks_tab(s, c)
    start(s, c)
    alignment(s, c)
    watch(s, c, watcher)
    overview(s, c, watcher)
    audit(s, c)


if __name__ == '__main__':
    sys.exit(common.run(scenario))
