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
    s.step('open the Plan Drain modal')
    s.page.click('#drains__action_plan')
    s.page.wait_for_selector(MODAL_FORM, state='visible')


def fill_plan(s, sources, targets=(), name='', window='',
              target_aggregate='', dry_run=False, max_total=None):
    form = s.page.locator(MODAL_FORM)
    form.locator('#id_name').fill(name)
    form.locator('#id_sources').select_option(list(sources))
    form.locator('#id_targets').select_option(list(targets))
    form.locator('#id_target_aggregate').select_option(target_aggregate)
    form.locator('#id_window').fill(window)
    if max_total is not None:
        form.locator('#id_max_total').fill(str(max_total))
    set_checkbox(s, 'id_dry_run', dry_run)


def set_checkbox(s, field_id, checked):
    """Tick or untick *field_id* by its label, as a user does.

    Horizon's themable checkbox hides the input behind its label.
    """
    form = s.page.locator(MODAL_FORM)
    if form.locator('#' + field_id).is_checked() != checked:
        form.locator('label[for="%s"]' % field_id).first.click()
    s.check(form.locator('#' + field_id).is_checked() == checked,
            'could not set %s to %s' % (field_id, checked))


def submit_plan(s, button='input[type=submit]'):
    """Submit the modal; wait until Horizon replaced it or left the page.

    *button*: what to click in the modal's form. Returns the modal's
    errors (field and form), empty when none.
    """
    s.page.eval_on_selector(MODAL_FORM,
                            'f => f.setAttribute("data-submitted", "1")')
    url = s.page.url
    s.page.locator(MODAL_FORM).locator(button).click()
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
