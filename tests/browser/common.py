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
"""What every browser scenario shares: Chromium, logging in, the result.

The scenarios run with the Horizon virtualenv's python (Playwright is
there, and the functional tests' process is patched by eventlet), one
process per scenario, started by tests/functional/horizon_stack.py:

    python <scenario>.py CONFIG.json

CONFIG holds ``horizon_url``, ``username``, ``password``,
``screenshots`` (a directory) and whatever the scenario needs. The last
line the scenario prints is its JSON result: ``{"ok": true, ...}``, or
``{"ok": false, "error": ..., "step": ..., "screenshots": [...]}`` with
a screenshot of the page as it was when it failed (exit status 1).
"""

import json
import os
import sys
import tempfile
import time
import traceback

from playwright import sync_api

CHROMIUM = os.environ.get('NOVA_MIGRATION_EXT_CHROMIUM', '/usr/bin/chromium')
# Without the background-networking flags Chromium keeps trying to reach
# Google's hosts, which this machine's closed network refuses.
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
         '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync']
TIMEOUT_MS = 30000


class ScenarioFailed(Exception):
    """The page did not show what the scenario expected."""


class Scenario:
    """One browser session: ``page``, ``config``, and the ``result``."""

    def __init__(self, config):
        self.config = config
        self.base = config['horizon_url'].rstrip('/')
        self.result = {'ok': False, 'steps': [], 'console': []}
        self.step_name = 'start'
        self.started = time.time()
        self.context = None
        self.page = None

    def new_page(self):
        """Another tab of the same browser (same session cookie)."""
        page = self.context.new_page()
        page.on('console', lambda msg: (
            self.console('%s: %s' % (msg.type, msg.text))
            if msg.type == 'error' else None))
        page.on('pageerror', lambda error: (
            self.console('pageerror: %s' % error)))
        return page

    def step(self, name):
        """Name what the scenario does now (reported if it fails)."""
        self.step_name = name
        line = '%.1fs %s' % (time.time() - self.started, name)
        self.result['steps'].append(line)
        sys.stderr.write(line + '\n')     # seen even if we are killed
        sys.stderr.flush()

    def console(self, line):
        """Keep the browser's errors (each once, the first 40)."""
        lines = self.result['console']
        if line not in lines and len(lines) < 40:
            lines.append(line)

    def check(self, condition, message):
        if not condition:
            raise ScenarioFailed(message)

    def screenshot(self, name):
        directory = self.config['screenshots']
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, '%s.png' % name)
        try:
            self.page.screenshot(path=path, full_page=True)
        except Exception as error:      # the page may be gone
            self.result.setdefault('screenshot_errors', []).append(
                str(error))
            return None
        self.result.setdefault('screenshots', []).append(path)
        return path

    def goto(self, path):
        response = self.page.goto(self.base + path)
        self.check(response is not None and response.status < 400,
                   '%s answered %s' % (path, response and response.status))
        return response

    def login(self, next_path):
        """Log in through Horizon's form, landing on *next_path*."""
        self.step('log in as %s' % self.config['username'])
        self.goto('/auth/login/?next=%s' % next_path)
        self.page.fill('#id_username', self.config['username'])
        self.page.fill('#id_password', self.config['password'])
        self.page.click('#loginBtn')
        self.page.wait_for_load_state()
        self.check('/auth/login' not in self.page.url,
                   'still on the login page: %s' % self.alert_text())

    def alert_text(self):
        """The text of Horizon's messages and form errors on the page."""
        texts = self.page.locator(
            '.alert, .messages .alert, .help-block, .error, '
            '.form-group.has-error').all_inner_texts()
        return ' | '.join(' '.join(t.split()) for t in texts if t.strip())

    def wait_until(self, predicate, timeout, interval=0.5, message=''):
        """Poll *predicate* (no reload) until it returns something true."""
        deadline = time.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.time() > deadline:
                raise ScenarioFailed('timed out after %ss: %s'
                                     % (timeout, message))
            self.page.wait_for_timeout(interval * 1000)


# Rows of a Horizon table: object id, cell texts, the status cell's text,
# whether Horizon still polls the row (its status is not final).
TABLE_ROWS_JS = """(selector) => Array.from(
    document.querySelectorAll(selector + ' tbody tr[data-object-id]')).map(
    tr => ({id: tr.dataset.objectId,
            cells: Array.from(tr.cells).map(td => td.innerText.trim()),
            status: ((tr.querySelector('td.status_up, td.status_down, '
                                       + 'td.warning') || {}).innerText
                     || '').trim(),
            polling: tr.classList.contains('ajax-update') &&
                     tr.classList.contains('warning')}))"""


# Where a Horizon table's column headers do not stand over their cells:
# a row with another number of cells than there are headers, or a cell
# more than 2 px off its header's left edge or width.
MISALIGNED_JS = """(selector) => {
  const table = document.querySelector(selector);
  if (!table) { return ['no table ' + selector]; }
  const heads = Array.from(table.querySelectorAll('thead tr:last-child th'));
  const problems = [];
  for (const tr of table.querySelectorAll('tbody tr[data-object-id]')) {
    const cells = Array.from(tr.cells);
    if (cells.length !== heads.length) {
      problems.push(tr.dataset.objectId + ': ' + cells.length +
                    ' cells under ' + heads.length + ' headers');
      continue;
    }
    cells.forEach((td, i) => {
      const head = heads[i].getBoundingClientRect();
      const cell = td.getBoundingClientRect();
      if (Math.abs(head.left - cell.left) > 2 ||
          Math.abs(head.width - cell.width) > 2) {
        problems.push(tr.dataset.objectId + ': column ' + i + ' (' +
                      heads[i].innerText.trim() + ') header at ' +
                      Math.round(head.left) + '+' + Math.round(head.width) +
                      ', cell at ' + Math.round(cell.left) + '+' +
                      Math.round(cell.width));
      }
    });
  }
  return problems;
}"""


def misaligned(page, selector):
    """What of the Horizon table *selector* is not under its header."""
    return page.evaluate(MISALIGNED_JS, selector)


def table_rows(page, selector):
    """[{id, cells, status, polling}] of the Horizon table *selector*."""
    return page.evaluate(TABLE_ROWS_JS, selector)


def load_config():
    with open(sys.argv[1]) as f:
        return json.load(f)


def run(scenario_function):
    """Run ``scenario_function(scenario)``; print the JSON result."""
    scenario = Scenario(load_config())
    profile = tempfile.mkdtemp(prefix='chromium-profile-')
    status = 1
    try:
        with sync_api.sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True,
                args=FLAGS, viewport={'width': 1400, 'height': 1000})
            try:
                context.set_default_timeout(TIMEOUT_MS)
                scenario.context = context
                scenario.page = scenario.new_page()
                scenario_function(scenario)
                scenario.result['ok'] = True
                status = 0
            except Exception as error:
                scenario.result.update(
                    error='%s: %s' % (type(error).__name__, error),
                    step=scenario.step_name,
                    traceback=traceback.format_exc(),
                    url=scenario.page.url if scenario.page else None)
                if scenario.page is not None:
                    scenario.screenshot('failure')
                    try:
                        scenario.result['alerts'] = scenario.alert_text()
                    except Exception:
                        pass
            finally:
                context.close()
    except Exception as error:      # Chromium did not start
        scenario.result.update(error='%s: %s' % (type(error).__name__,
                                                 error),
                               step=scenario.step_name,
                               traceback=traceback.format_exc())
    scenario.result['seconds'] = round(time.time() - scenario.started, 1)
    sys.stdout.write(json.dumps(scenario.result) + '\n')
    sys.stdout.flush()
    return status
