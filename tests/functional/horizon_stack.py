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
"""A real Keystone, a real Horizon and Chromium for the panel's tests.

The functional tests run in nova's in-process harness, patched by
eventlet and without Horizon; Keystone, Horizon and the browser run as
processes of the Horizon virtualenv (``NOVA_MIGRATION_EXT_HORIZON_VENV``,
else ``VENV_HORIZON``, by default ``.venv-horizon`` in the checkout, made
by tools/setup-horizon-env.sh), nothing mocked:

* :class:`KeystoneServer`: Keystone on SQLite, bootstrapped with an
  admin and a ``compute`` service whose endpoints are the nova API the
  test serves;
* :class:`HorizonServer`: stock ``openstack_dashboard`` settings plus a
  generated ``local_settings`` (Keystone URL, ``NOVA_MIGRATION_EXT``, our
  panel's enabled file), under ``django-admin runserver``;
* :func:`run_browser`: one ``tests/browser/<scenario>.py`` in headless
  Chromium through Playwright; its JSON result is returned, its output
  and screenshots become the test's details.

Each server's log becomes a detail of the test using the fixture.
"""

import json
import os
import shutil
import socket
import subprocess as std_subprocess
import time
import urllib.error
import urllib.request

import fixtures
import testtools.content
import testtools.content_type

from tests.functional import processes
from tests import services

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BROWSER = os.path.join(ROOT, 'tests', 'browser')
CHROMIUM = os.environ.get('NOVA_MIGRATION_EXT_CHROMIUM', '/usr/bin/chromium')
ADMIN_USER = 'admin'
ADMIN_PASSWORD = 'horizon-stack-secret'
REGION = 'RegionOne'
# The Horizon venv's python talks to our 127.0.0.1 servers only.
_NO_PROXY = {'no_proxy': '127.0.0.1,localhost',
             'NO_PROXY': '127.0.0.1,localhost'}


def _timeouts():
    # eventlet's green subprocess may raise the stdlib's TimeoutExpired.
    return (processes.green_subprocess().TimeoutExpired,
            std_subprocess.TimeoutExpired)


def venv():
    """The path of Horizon's virtualenv.

    $NOVA_MIGRATION_EXT_HORIZON_VENV, else $VENV_HORIZON (as
    tools/run-tests.sh exports it, relative to the checkout), else
    .venv-horizon in the checkout.
    """
    path = (os.environ.get('NOVA_MIGRATION_EXT_HORIZON_VENV') or
            os.environ.get('VENV_HORIZON') or '.venv-horizon')
    return os.path.join(ROOT, path)


def venv_python():
    return os.path.join(venv(), 'bin', 'python')


def skip_reason(browser=True):
    """Why this machine can't run the Horizon stack, or None.

    :returns: None or (service, reason), *service* one of
        :mod:`tests.services`' names.
    """
    if not os.access(venv_python(), os.X_OK):
        return (services.HORIZON_VENV,
                'needs the Horizon virtualenv at %s (run '
                'tools/setup-horizon-env.sh, or set '
                'NOVA_MIGRATION_EXT_HORIZON_VENV)' % venv())
    if browser and not os.access(CHROMIUM, os.X_OK):
        return (services.CHROMIUM,
                'needs Chromium at %s (apt-get install chromium)' % CHROMIUM)
    return None


def require(test, browser=True):
    """Skip *test* (fail it on CI) unless the Horizon stack can run."""
    missing = skip_reason(browser)
    if missing:
        services.skip_missing(test, *missing)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _env(**extra):
    env = dict(os.environ, **_NO_PROXY)
    # Nothing of the nova venv (nor its test settings) may leak in.
    for name in ('PYTHONPATH', 'VIRTUAL_ENV', 'PYTHONHOME',
                 'DJANGO_SETTINGS_MODULE', 'OS_KEYSTONE_CONFIG_FILES'):
        env.pop(name, None)
    env['PATH'] = '%s:%s' % (os.path.join(venv(), 'bin'),
                             os.environ.get('PATH', ''))
    env.update(extra)
    return env


def _tail(path, limit=20000):
    try:
        with open(path, errors='replace') as f:
            text = f.read()
    except OSError as error:
        return '(%s)' % error
    return text[-limit:]


class StackError(Exception):
    """A server of the stack did not start."""


class _ServerFixture(fixtures.Fixture):
    """A process of the Horizon venv with its log as a detail."""

    name = 'server'

    def __init__(self, workdir):
        super().__init__()
        self.workdir = os.path.join(workdir, self.name)
        self.process = None
        self._logs = {}

    def _log_detail(self, name, path):
        """The log, read when reported or cached when the fixture ends

        (the test's temporary directory is gone by the time results
        are reported).
        """
        self._logs[path] = None

        def read():
            cached = self._logs.get(path)
            return [(cached if cached is not None else _tail(path))
                    .encode('utf-8')]
        self.addDetail(name, testtools.content.Content(
            testtools.content_type.UTF8_TEXT, read))

    def _keep_logs(self):
        for path in self._logs:
            self._logs[path] = _tail(path)

    def spawn(self, argv, **env):
        """Start the server; it is killed (its whole group) on cleanUp."""
        log = os.path.join(self.workdir, '%s.log' % self.name)
        self._log_detail('%s.log' % self.name, log)
        out = open(log, 'w')
        self.process = processes.green_subprocess().Popen(
            argv, cwd=self.workdir, stdout=out, stderr=std_subprocess.STDOUT,
            env=_env(**env), start_new_session=True)

        def stop():
            processes.kill_group(self.process)
            out.close()
        self.addCleanup(stop)
        self.log = log

    def wait_for(self, url, timeout=90, accept=(200,)):
        """Wait until *url* answers with a status in *accept*."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise StackError('%s exited %s before answering: %s' % (
                    self.name, self.process.returncode, _tail(self.log, 4000)))
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    if response.status in accept:
                        return response.read()
                    last = response.status
            except urllib.error.HTTPError as error:
                if error.code in accept:
                    return error.read()
                last = error
            except OSError as error:
                last = error
            time.sleep(0.3)
        raise StackError('%s did not answer %s within %ss: %s' % (
            self.name, url, timeout, last))

    def _setUp(self):
        os.makedirs(self.workdir, exist_ok=True)
        self.addCleanup(self._keep_logs)


class KeystoneServer(_ServerFixture):
    """Keystone on SQLite with the test's nova API in its catalog.

    ``url`` is its ``/v3`` endpoint; ``ADMIN_USER``/``ADMIN_PASSWORD`` in
    project ``admin`` has the admin role.

    Setting up the database takes Keystone about 15 s: without
    *compute_url*, ``setUp`` only starts it, so the caller can build its
    cloud meanwhile, then call :meth:`finish` with the compute endpoint.
    """

    name = 'keystone'

    def __init__(self, workdir, compute_url=None, port=None):
        super().__init__(workdir)
        self.compute_url = compute_url
        self.port = port or free_port()
        self.url = 'http://127.0.0.1:%d/v3' % self.port
        self._bootstrap = None

    def _write_config(self):
        for folder in ('fernet-keys', 'credential-keys'):
            os.makedirs(os.path.join(self.workdir, folder), exist_ok=True)
        path = os.path.join(self.workdir, 'keystone.conf')
        with open(path, 'w') as f:
            f.write('[DEFAULT]\n'
                    'debug = False\n'
                    '[database]\n'
                    'connection = sqlite:///%(dir)s/keystone.sqlite\n'
                    '[fernet_tokens]\n'
                    'key_repository = %(dir)s/fernet-keys\n'
                    '[fernet_receipts]\n'
                    'key_repository = %(dir)s/fernet-keys\n'
                    '[credential]\n'
                    'key_repository = %(dir)s/credential-keys\n'
                    '[token]\n'
                    'provider = fernet\n'
                    'expiration = 7200\n'
                    % {'dir': self.workdir})
        return path

    def _bootstrap_script(self, config):
        """keystone-manage's steps, one after the other, as a script."""
        manage = '%s --config-file %s' % (
            os.path.join(venv(), 'bin', 'keystone-manage'), config)
        owner = '--keystone-user %d --keystone-group %d' % (
            os.getuid(), os.getgid())
        url = self.url + '/'
        return ' && '.join([
            'set -x',
            '%s db_sync' % manage,
            '%s fernet_setup %s' % (manage, owner),
            '%s credential_setup %s' % (manage, owner),
            '%s bootstrap --bootstrap-username %s --bootstrap-password %s '
            '--bootstrap-project-name admin --bootstrap-role-name admin '
            '--bootstrap-service-name keystone --bootstrap-region-id %s '
            '--bootstrap-admin-url %s --bootstrap-internal-url %s '
            '--bootstrap-public-url %s' % (
                manage, ADMIN_USER, ADMIN_PASSWORD, REGION, url, url, url)])

    def _setUp(self):
        super()._setUp()
        self.config = self._write_config()
        log = os.path.join(self.workdir, 'bootstrap.log')
        self._log_detail('keystone-bootstrap.log', log)
        out = open(log, 'w')
        self._bootstrap = processes.green_subprocess().Popen(
            ['sh', '-c', self._bootstrap_script(self.config)],
            cwd=self.workdir, stdout=out, stderr=std_subprocess.STDOUT,
            env=_env(), start_new_session=True)
        self._bootstrap.log = log

        def stop():
            processes.kill_group(self._bootstrap)
            out.close()
        self.addCleanup(stop)
        if self.compute_url:
            self.finish(self.compute_url)

    def finish(self, compute_url=None, timeout=180):
        """Wait for the bootstrap, serve Keystone, register nova."""
        self.compute_url = compute_url or self.compute_url
        try:
            self._bootstrap.wait(timeout=timeout)
        except _timeouts():
            processes.kill_group(self._bootstrap)
        if self._bootstrap.returncode:
            raise StackError('keystone-manage failed (%s): %s' % (
                self._bootstrap.returncode,
                _tail(self._bootstrap.log, 4000)))
        self.spawn([venv_python(), os.path.join(BROWSER, 'serve_wsgi.py'),
                    'keystone.wsgi.api:application', str(self.port)],
                   OS_KEYSTONE_CONFIG_FILES=self.config)
        self.wait_for(self.url)
        if self.compute_url:
            self.register_compute()
        return self

    def request(self, method, path, body=None, token=None):
        """Call Keystone's API; returns (headers, JSON body)."""
        request = urllib.request.Request(
            self.url + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={'Content-Type': 'application/json'})
        if token:
            request.add_header('X-Auth-Token', token)
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return response.headers, json.loads(text) if text else None

    def admin_token(self):
        headers, _body = self.request('POST', '/auth/tokens', {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': ADMIN_USER, 'domain': {'id': 'default'},
                'password': ADMIN_PASSWORD}}},
            'scope': {'project': {'name': 'admin',
                                  'domain': {'id': 'default'}}}}})
        return headers['X-Subject-Token']

    def authtoken_section(self):
        """``[keystone_authtoken]`` of a service that checks tokens here."""
        return ('[keystone_authtoken]\n'
                'www_authenticate_uri = %(url)s\n'
                'auth_url = %(url)s\n'
                'auth_type = password\n'
                'username = %(user)s\n'
                'password = %(password)s\n'
                'project_name = admin\n'
                'user_domain_id = default\n'
                'project_domain_id = default\n'
                % {'url': self.url, 'user': ADMIN_USER,
                   'password': ADMIN_PASSWORD})

    def register_compute(self):
        self.register_service('compute', 'nova', self.compute_url)

    def register_service(self, service_type, name, url):
        """*url* in the catalog, for *service_type*, on every interface."""
        token = self.admin_token()
        _h, body = self.request('POST', '/services', {'service': {
            'type': service_type, 'name': name, 'enabled': True}}, token)
        for interface in ('public', 'internal', 'admin'):
            self.request('POST', '/endpoints', {'endpoint': {
                'service_id': body['service']['id'], 'region_id': REGION,
                'interface': interface, 'url': url}}, token)

    def create_user(self, name, password, project='admin', role='admin'):
        """A user of the default domain with *role* on *project*."""
        token = self.admin_token()
        _h, user = self.request('POST', '/users', {'user': {
            'name': name, 'password': password, 'domain_id': 'default',
            'enabled': True}}, token)
        _h, projects = self.request('GET', '/projects?name=%s' % project,
                                    token=token)
        _h, roles = self.request('GET', '/roles?name=%s' % role,
                                 token=token)
        self.request('PUT', '/projects/%s/users/%s/roles/%s' % (
            projects['projects'][0]['id'], user['user']['id'],
            roles['roles'][0]['id']), token=token)
        return user['user']['id']


LOCAL_SETTINGS = '''\
# Generated by tests/functional/horizon_stack.py: openstack_dashboard's
# settings.py imports it as ``local.local_settings``, before it reads the
# enabled files; it is what a deployment puts in
# openstack_dashboard/local/local_settings.py.
import os

DEBUG = True
SECRET_KEY = %(secret)r
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
OPENSTACK_HOST = '127.0.0.1'
OPENSTACK_KEYSTONE_URL = %(keystone)r
OPENSTACK_KEYSTONE_DEFAULT_ROLE = 'member'
OPENSTACK_SSL_NO_VERIFY = True
SESSION_ENGINE = 'django.contrib.sessions.backends.file'
SESSION_FILE_PATH = %(sessions)r
SESSION_TIMEOUT = 7200
CACHES = {'default': {
    'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}
COMPRESS_OFFLINE = False
STATIC_ROOT = %(static)r
MEDIA_ROOT = %(media)r
LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {'console': {'class': 'logging.StreamHandler'}},
    'root': {'handlers': ['console'], 'level': 'INFO'},
    'loggers': {'django.template': {'level': 'INFO'},
                'django.utils.autoreload': {'level': 'INFO'}},
}
NOVA_MIGRATION_EXT = %(nova_migration_ext)r

# The panel's enabled files, as if copied into
# openstack_dashboard/local/enabled/ (the venv is left untouched).
ENABLED = %(enabled)r
if ENABLED:
    import openstack_dashboard.local.enabled as _local_enabled
    _local_enabled.__path__ = list(_local_enabled.__path__) + ENABLED
'''


class HorizonServer(_ServerFixture):
    """Stock Horizon with our panel, logging in through *keystone_url*.

    ``url`` is its root. *panel* False leaves our panel out (stock
    Horizon only).
    """

    name = 'horizon'

    def __init__(self, workdir, keystone_url, panel=True, port=None,
                 extra_settings=None):
        super().__init__(workdir)
        self.keystone_url = keystone_url
        # The panel finds the API in the catalog: no address, no
        # credentials, only its time-outs.
        self.settings = {'timeout': 60, 'read_timeout': 20}
        self.settings.update(extra_settings or {})
        self.panel = panel
        self.port = port or free_port()
        self.url = 'http://127.0.0.1:%d' % self.port

    def _enabled(self):
        if not self.panel:
            return []
        folder = os.path.join(ROOT, 'horizon_panel', 'enabled')
        if not os.path.isdir(folder):
            raise StackError('no %s: the panel is not there' % folder)
        return [folder]

    def _write_settings(self):
        package = os.path.join(self.workdir, 'settings', 'local')
        os.makedirs(package, exist_ok=True)
        for folder in ('sessions', 'static', 'media'):
            os.makedirs(os.path.join(self.workdir, folder), exist_ok=True)
        open(os.path.join(package, '__init__.py'), 'w').close()
        with open(os.path.join(package, 'local_settings.py'), 'w') as f:
            f.write(LOCAL_SETTINGS % {
                'secret': os.urandom(24).hex(),
                'keystone': self.keystone_url,
                'sessions': os.path.join(self.workdir, 'sessions'),
                'static': os.path.join(self.workdir, 'static'),
                'media': os.path.join(self.workdir, 'media'),
                'nova_migration_ext': self.settings,
                'enabled': self._enabled()})
        return os.path.dirname(package)

    def _setUp(self):
        super()._setUp()
        settings = self._write_settings()
        # Our settings folder first (its ``local`` package shadows
        # openstack_dashboard/local, which settings.py puts last on the
        # path), then the checkout for the panel and the API's client.
        self.spawn([venv_python(), '-m', 'django', 'runserver',
                    '--noreload', '--skip-checks',
                    '127.0.0.1:%d' % self.port],
                   PYTHONPATH='%s:%s' % (settings, ROOT),
                   DJANGO_SETTINGS_MODULE='openstack_dashboard.settings',
                   PYTHONUNBUFFERED='1')
        self.wait_for(self.url + '/auth/login/', timeout=120)


def run_browser(test, scenario, timeout=150, **config):
    """Run tests/browser/<scenario>.py in Chromium; return its result.

    *config* goes to the scenario (with ``screenshots``); its output and
    screenshots become details of *test*. The test fails if the scenario
    does not print a result or reports ``ok: false``.
    """
    require(test)
    workdir = test.useFixture(fixtures.TempDir()).path
    config['screenshots'] = os.path.join(workdir, 'screenshots')
    path = os.path.join(workdir, 'config.json')
    with open(path, 'w') as f:
        json.dump(config, f)
    started = time.time()
    subprocess = processes.green_subprocess()
    process = subprocess.Popen(
        [venv_python(), os.path.join(BROWSER, '%s.py' % scenario), path],
        cwd=BROWSER, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=_env(PYTHONUNBUFFERED='1'), start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except _timeouts():
        processes.kill_group(process)
        stdout, stderr = process.communicate()
        stderr += b'\n(killed after %ds)' % timeout
    finally:
        processes.kill_group(process)
    stdout, stderr = (stdout.decode('utf-8', 'replace'),
                      stderr.decode('utf-8', 'replace'))
    test.addDetail('browser-%s-stdout' % scenario,
                   testtools.content.text_content(stdout[-20000:]))
    test.addDetail('browser-%s-stderr' % scenario,
                   testtools.content.text_content(stderr[-20000:]))
    test.addDetail('browser-%s-seconds' % scenario,
                   testtools.content.text_content(
                       '%.1f' % (time.time() - started)))
    _attach_screenshots(test, scenario, config['screenshots'])
    try:
        result = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        test.fail('browser scenario %s printed no result (exit %s)'
                  % (scenario, process.returncode))
    if not result.get('ok'):
        test.fail('browser scenario %s failed at %r: %s\n%s' % (
            scenario, result.get('step'), result.get('error'),
            result.get('alerts', '')))
    return result


def _attach_screenshots(test, scenario, directory):
    if not os.path.isdir(directory):
        return
    keep = os.environ.get('NOVA_MIGRATION_EXT_BROWSER_ARTIFACTS')
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        with open(path, 'rb') as f:
            data = f.read()
        test.addDetail('screenshot-%s-%s' % (scenario, name),
                       testtools.content.Content(
                           testtools.content_type.ContentType('image', 'png'),
                           lambda data=data: [data]))
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.copy(path, os.path.join(
                keep, '%s-%s-%s' % (test.id().rsplit('.', 1)[-1],
                                    scenario, name)))
