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
"""Steps on the Host Drains panel shared by its scenarios."""

import re

import common

MODAL_FORM = '#plan_drain_form'


def open_panel(s):
    s.login('/admin/drains/')
    if not re.search(r'/admin/drains/$', s.page.url):
        s.goto('/admin/drains/')
    s.page.wait_for_selector('table#drains')


def drains(s):
    return common.table_rows(s.page, 'table#drains')


def drains_reloaded(s):
    """The list's rows after loading the index page again."""
    s.step('list the drains again')
    s.goto('/admin/drains/')
    s.page.wait_for_selector('table#drains')
    return drains(s)


def wording(s, where):
    """Record the page's title, menu entry and any "evacuation" it shows.

    nova's ``evacuate`` is another operation: the panel says drain.
    """
    s.result.setdefault('wording', {})[where] = {
        'title': s.page.title(),
        'menu': [' '.join(text.split()) for text in s.page.locator(
            '#sidebar-accordion a.openstack-panel[href$="/admin/drains/"]'
        ).all_text_contents()],
        'evacuation': 'evacuation' in s.page.inner_text('body').lower()}


def open_plan_modal(s):
    s.step('open the Plan Drain workflow')
    s.page.click('#drains__action_plan')
    s.page.wait_for_selector(MODAL_FORM, state='visible')


def step_tab(s, slug):
    return s.page.locator(MODAL_FORM).locator(
        'a[data-target="#plan_drain__%s"]' % slug)


def go_to_step(s, slug):
    """Back to an earlier step by its tab (no check going back)."""
    step_tab(s, slug).click()
    s.page.wait_for_selector('#plan_drain__%s.active' % slug)


def next_step(s, slug):
    """Next, as the operator does; the errors that kept it on the step.

    *slug*: the step it should show next.
    """
    form = s.page.locator(MODAL_FORM)
    form.locator('.button-next').click()
    # The wizard checks the step synchronously: it either moved on or
    # marked errors on the step.
    s.page.wait_for_function(
        """(slug) => {
            const f = document.querySelector('%s');
            return f.querySelector('#plan_drain__' + slug + '.active') ||
                f.querySelector('fieldset.active .has-error, '
                                + 'fieldset.active .alert-danger');
        }""" % MODAL_FORM, arg=slug)
    return step_errors(s)


def step_errors(s):
    texts = s.page.locator(MODAL_FORM).locator(
        'fieldset.active .has-error .help-block, '
        'fieldset.active .alert-danger').all_inner_texts()
    return [' '.join(t.split()) for t in texts if t.strip()]


def tick_hosts(s, field, hosts):
    """Tick exactly *hosts* in the host table of *field*."""
    boxes = s.page.locator(MODAL_FORM).locator(
        'input[type=checkbox][name=%s]' % field)
    for i in range(boxes.count()):
        box = boxes.nth(i)
        box.set_checked(box.get_attribute('value') in hosts)


def fill_plan(s, sources, targets=(), name='', window='',
              target_aggregate='', max_total=None, screenshots=False):
    """Go through the steps up to the review; the errors on the way.

    Stops at the first step that does not let the operator go on and
    returns its errors; else returns [] with the review shown.
    *screenshots*: keep one of each step, filled. Records the hosts the
    Targets step offers no more (``emptied_targets``) and the VMs the
    Method and Downtime step lists (``downtime_vms``).
    """
    form = s.page.locator(MODAL_FORM)
    go_to_step(s, 'sources')
    form.locator('#id_name').fill(name)
    tick_hosts(s, 'sources', sources)
    for following, fill in (
            ('targets', lambda: None),
            ('method', lambda: (
                tick_hosts(s, 'targets', targets),
                form.locator('#id_target_aggregate').select_option(
                    target_aggregate))),
            ('limits', lambda: None),
            ('review', lambda: (
                form.locator('#id_window').fill(window),
                max_total is not None and form.locator(
                    '#id_max_total').fill(str(max_total))))):
        fill()
        if screenshots:
            s.screenshot('plan-before-' + following)
        errors = next_step(s, following)
        if errors:
            return errors
        if following == 'targets':
            s.result['emptied_targets'] = s.page.evaluate(
                """() => Array.from(document.querySelectorAll(
                    '#id_targets_table tr.nme-emptied input:disabled'))
                    .map(box => box.value)""")
        if following == 'method':
            s.result['downtime_vms'] = visible_rows(
                s, '#id_server_downtime_table')
    return []


def cells(s, table):
    """[[cell text]] of the body rows of a plain (not Horizon) table."""
    return s.page.evaluate(
        """(table) => Array.from(document.querySelectorAll(
            table + ' tbody tr')).map(tr => Array.from(tr.cells).map(
            td => td.innerText.trim()))""", table)


def visible_rows(s, table):
    """The first cell of the rows of *table* the operator sees."""
    return s.page.evaluate(
        """(table) => Array.from(document.querySelectorAll(
            table + ' tbody tr')).filter(tr => tr.offsetParent !== null)
            .map(tr => tr.cells[0].innerText.trim())""", table)


def review(s):
    """Wait for the Review step's dry run; what stops the plan, if any."""
    s.page.wait_for_selector(
        '#plan_review #plan_preview, #plan_review #plan_refused',
        state='visible')
    return [' '.join(t.split()) for t in s.page.locator(
        '#plan_review .plan_refusal').all_inner_texts()]


def submit_plan(s):
    """Press Create Drain; wait until Horizon replaced the modal or left.

    Returns the modal's errors (field and form), empty when none.
    """
    s.page.eval_on_selector(MODAL_FORM,
                            'f => f.setAttribute("data-submitted", "1")')
    url = s.page.url
    s.page.locator(MODAL_FORM).locator('.button-final').click()
    s.page.wait_for_function(
        """(url) => {
            const f = document.querySelector('%s');
            return location.href !== url ||
                (f && !f.hasAttribute('data-submitted') &&
                 !document.querySelector('.modal-backdrop.loading'));
        }""" % MODAL_FORM, arg=url)
    return modal_errors(s)


def modal_errors(s):
    if s.page.locator(MODAL_FORM).count() == 0:
        return []
    texts = s.page.locator(
        MODAL_FORM + ' .has-error .help-block, ' +
        MODAL_FORM + ' .alert-danger').all_inner_texts()
    return [' '.join(t.split()) for t in texts if t.strip()]
