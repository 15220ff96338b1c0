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
"""Checks of the project's own files: tox, zuul, README, extras, CI."""

import configparser
import importlib.metadata
import os
import re
import subprocess
import sys

import testtools
import yaml

from nova_migration_ext import conf as ext_conf
from nova_migration_ext.engine import service
from nova_migration_ext.engine import store as store_mod

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _read(name):
    with open(os.path.join(ROOT, name)) as f:
        return f.read()


def _tox_envs():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(_read('tox.ini'))
    envs = set()
    for section in parser.sections():
        if not section.startswith('testenv:'):
            continue
        name = section[len('testenv:'):]
        match = re.fullmatch(r'\{([^}]*)\}', name)
        envs.update(match.group(1).split(',') if match else [name])
    return envs


class ZuulToxTest(testtools.TestCase):
    """Every tox env a zuul job names exists in tox.ini."""

    def _job_envlists(self):
        found = []

        def walk(node):
            if isinstance(node, dict):
                vars_ = node.get('vars')
                if isinstance(vars_, dict) and 'tox_envlist' in vars_:
                    found.append(vars_['tox_envlist'])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
        walk(yaml.safe_load(_read('.zuul.yaml')))
        return found

    def test_zuul_envs_exist_in_tox(self):
        envlists = self._job_envlists()
        self.assertGreater(len(envlists), 4)
        envs = _tox_envs()
        for envlist in envlists:
            for env in envlist.split(','):
                self.assertIn(env.strip(), envs,
                              'zuul names tox env %s missing in tox.ini'
                              % env)

    def test_jobs_on_other_projects_declare_them(self):
        jobs = {item['job']['name']: item['job']
                for item in yaml.safe_load(_read('.zuul.yaml'))
                if 'job' in item}
        for name, project in (
                ('nova-migration-ext-functional', 'openstack/nova'),
                ('nova-migration-ext-nova-functional', 'openstack/nova'),
                ('nova-migration-ext-horizon', 'openstack/horizon'),
                ('nova-migration-ext-lab', 'openstack/nova'),
                ('nova-migration-ext-lab', 'openstack/keystone')):
            self.assertIn(project, jobs[name].get('required-projects', []),
                          name)

    def test_tox_constraints_can_be_replaced(self):
        # As OpenStack's tox.ini files do: the gate passes its own
        # upper-constraints in TOX_CONSTRAINTS_FILE.
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(_read('tox.ini'))
        pinned = ('-c{env:TOX_CONSTRAINTS_FILE:'
                  '{toxinidir}/upper-constraints.txt}')
        for section in ('testenv', 'testenv:horizon', 'testenv:pep8',
                        'testenv:releasenotes'):
            self.assertIn(pinned, parser[section]['deps'].split(), section)
        self.assertNotIn('constraints', parser['testenv'])

    def test_tox_has_required_envs(self):
        envs = _tox_envs()
        for env in ('py3', 'functional', 'pep8', 'genconfig',
                    'releasenotes', 'ci'):
            self.assertIn(env, envs)


class ReadmeTest(testtools.TestCase):

    def test_every_option_documented(self):
        readme = _read('README.md')
        for group, opts in ext_conf.list_opts() + service.list_opts():
            if group == service.NOVA_GROUP:
                continue    # keystoneauth's session and auth options
            if group == service.DATABASE_GROUP:
                # oslo.db's: those the evacuation database uses.
                opts = [opt for opt in opts if opt.dest == 'connection' or
                        opt.dest in store_mod.DATABASE_DEFAULTS]
            for opt in opts:
                self.assertIn('`%s`' % opt.name, readme,
                              'option %s is not in README.md' % opt.name)

    def test_ci_runs_the_readme_test_command(self):
        readme = _read('README.md')
        self.assertIn('tools/run-tests.sh     # the whole test suite',
                      readme)
        self.assertIn('tools/run-tests.sh', _read('.ci/run'))

    def test_driver_setting_documented(self):
        self.assertIn(
            'compute_driver = migration_ext.MigrationExtLibvirtDriver',
            _read('README.md'))


class ReleaseNotesTest(testtools.TestCase):

    def test_notes_exist(self):
        notes = os.listdir(os.path.join(ROOT, 'releasenotes', 'notes'))
        self.assertTrue([n for n in notes if n.endswith('.yaml')])


class AudienceTest(testtools.TestCase):
    """One distribution, two audiences: nova-compute and Horizon."""

    def test_extras_split_the_audiences(self):
        cfg = configparser.ConfigParser()
        cfg.read_string(_read('setup.cfg'))
        extras = {name: value.split() for name, value in cfg['extras'].items()}
        self.assertEqual(['nova>=34.0.0', 'psutil>=5.8.0'], extras['nova'])
        self.assertFalse([r for r in extras['horizon']
                          if r.lower().startswith('nova')])
        base = _read('requirements.txt').lower()
        for forbidden in ('\nnova', '\nhorizon', '\ndjango'):
            self.assertNotIn(forbidden, '\n' + base)

    def _imported(self, modules):
        code = ('import sys\n' + ''.join('import %s\n' % m for m in modules)
                + 'print(" ".join(sorted({m.split(".")[0] '
                  'for m in sys.modules})))')
        out = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                             check=True, capture_output=True, text=True)
        return set(out.stdout.split())

    def test_horizon_side_imports_no_nova(self):
        loaded = self._imported([
            'nova_migration_ext.conf',
            'nova_migration_ext.prechecks.base',
            'nova_migration_ext.prechecks.runner',
            'nova_migration_ext.compute.orphans',
        ])
        self.assertNotIn('nova', loaded)
        self.assertNotIn('django', loaded)

    def test_nova_extra_installs_no_horizon(self):
        # The tests' environment is made from the '[nova]' extra.
        for name in ('horizon', 'Django'):
            self.assertRaises(importlib.metadata.PackageNotFoundError,
                              importlib.metadata.version, name)
        self.assertTrue(importlib.metadata.version('nova'))

    def test_nova_side_imports_no_django(self):
        loaded = self._imported(['nova.virt.migration_ext'])
        self.assertIn('nova', loaded)
        self.assertNotIn('django', loaded)
        self.assertNotIn('horizon', loaded)


class PanelPolicyFilesTest(testtools.TestCase):
    """The policy files the panel ships say what the API enforces."""

    def test_default_policies_are_the_apis(self):
        from horizon_panel import policy
        sys.path.insert(0, os.path.join(ROOT, 'tools'))
        self.addCleanup(sys.path.remove, os.path.join(ROOT, 'tools'))
        import dump_panel_policies
        with open(os.path.join(policy.CONF_DIR, policy.DEFAULTS_FILE)) as f:
            self.assertEqual(dump_panel_policies.render(), f.read(),
                             'run tools/dump_panel_policies.py')
        names = {rule['name'] for rule in yaml.safe_load(
            dump_panel_policies.render())}
        self.assertIn('drain:start', names)

    def test_overrides_file_overrides_nothing(self):
        from horizon_panel import policy
        with open(os.path.join(policy.CONF_DIR, policy.OVERRIDES_FILE)) as f:
            self.assertIsNone(yaml.safe_load(f))

    def test_files_are_packaged(self):
        self.assertIn('conf/default_policies/*.yaml', _read('setup.cfg'))
        self.assertIn('conf/*.yaml', _read('setup.cfg'))
