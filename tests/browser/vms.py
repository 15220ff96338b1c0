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
"""Steps on a drain's page shared by scenarios: its tabs, its VMs."""

import common

# Rows of the VMs table as {header text: cell text}, plus ``id`` and
# ``polling`` (Horizon still refreshes the row: its state is not final).
TASK_ROWS_JS = """() => {
  const table = document.querySelector('table#tasks');
  if (!table) { return []; }
  const heads = Array.from(table.querySelectorAll(
      'thead tr:last-child th')).map(th => th.innerText.trim());
  return Array.from(table.querySelectorAll('tbody tr[data-object-id]'))
    .map(tr => {
      const row = {id: tr.dataset.objectId,
                   polling: tr.classList.contains('ajax-update') &&
                            tr.classList.contains('warning')};
      Array.from(tr.cells).forEach((td, i) => {
        if (heads[i]) { row[heads[i]] = td.innerText.trim(); }
      });
      return row;
    });
}"""
TAB = 'a[data-target="#drain_details__%s"]'


def open_drain(s, drain_id):
    s.goto('/admin/drains/%s/' % drain_id)
    s.page.wait_for_selector('#drain_overview', state='attached')


def header_actions(page):
    """What the drain's page header offers (Start, Pause, ...)."""
    return [text.strip() for text in page.locator(
        '.detail-actions button, .detail-actions a').all_inner_texts()]


def show_tab(s, slug, ready):
    """Click tab *slug* of the drain's page; wait for *ready* visible."""
    s.page.click(TAB % slug)
    s.page.wait_for_selector(ready, state='visible')


def task_rows(s):
    return s.page.evaluate(TASK_ROWS_JS)


def task_row(s, server_id):
    return next((r for r in task_rows(s) if r['id'] == server_id), None)


def wait_for_vms(s, predicate, timeout, message):
    """Poll the VMs tab (never reloaded) until *predicate(rows)*; rows."""
    seen = [[]]

    def ready():
        seen[0] = task_rows(s)
        return predicate(seen[0]) and seen[0]
    try:
        return s.wait_until(ready, timeout, interval=0.5, message=message)
    except common.ScenarioFailed as error:
        raise common.ScenarioFailed('%s; VMs per state: %s'
                                    % (error, summary(seen[0])))


def summary(rows):
    """{state: count} of the VMs table's rows."""
    counts = {}
    for row in rows:
        counts[row.get('State')] = counts.get(row.get('State'), 0) + 1
    return counts


def settled(rows, count):
    """All *count* VMs in a final state, no longer polled."""
    return len(rows) == count and all(
        r.get('State') in ('Done', 'Needs operator') and not r['polling']
        for r in rows)


def open_retry_elsewhere(s, server_id):
    """Open the row's "Retry on Another Host" modal; the hosts offered."""
    s.step('open "Retry on Another Host" of %s' % server_id)
    row = s.page.locator('table#tasks tr[data-object-id="%s"]' % server_id)
    row.locator('.dropdown-toggle').click()
    s.page.click('#tasks__row_%s__action_retry_elsewhere' % server_id)
    s.page.wait_for_selector('#retry_elsewhere_form', state='visible')
    return s.page.eval_on_selector_all(
        '#retry_elsewhere_form select#id_target option',
        'options => options.map(o => o.value)')


def retry_elsewhere(s, target):
    """Choose *target* in the open modal and submit it.

    Returns the messages Horizon shows on the drain's page it lands on.
    """
    s.step('retry on %s' % target)
    form = s.page.locator('#retry_elsewhere_form')
    form.locator('select#id_target').select_option(target)
    with s.page.expect_navigation():
        form.locator('input[type=submit]').click()
    s.page.wait_for_selector('#drain_overview', state='attached')
    return [' '.join(text.split()) for text in s.page.locator(
        '.messages .alert').all_inner_texts()]
