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
"""nova's own libvirt migration functional tests, run on our driver.

Our driver subclasses ``LibvirtDriver`` and overrides most of the
migration path, so nova's tests of that path are the best proof that the
overrides keep nova's behaviour. Those tests hard-code
``compute_driver = libvirt.LibvirtDriver``; copying them would rot, and
editing nova is not an option. Instead ``load_tests`` loads nova's test
modules as they are and runs every test case in a subclass whose
``start_service`` swaps the stock driver for ours just before a compute
starts, then asserts that the compute really runs our class.

The tests keep their names under this package: nova's
``nova.tests.functional.libvirt.test_live_migration`` runs as
``tests.functional.nova_suite.test_live_migration``, with the same class
and method names. Those module names are labels for ``stestr``'s filters:
the classes are built here and no such module files exist.
"""

import functools
import unittest

# The first nova import is nova's functional test package: it applies
# eventlet's monkey patching, which must precede nova.conf and the rest.
from nova.tests.functional.libvirt import base as libvirt_base
from nova.tests.functional.libvirt import test_evacuate
from nova.tests.functional.libvirt import test_live_migration
from nova.tests.functional.libvirt import test_migration_addr
from nova.tests.functional.libvirt import test_numa_live_migration
from nova import context as nova_context  # noqa: H306
from nova import test as nova_test
from nova.virt.libvirt import driver as libvirt_driver
from oslo_config import cfg
from oslo_log import log as logging

from nova_migration_ext.compute import driver as ext_driver

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

STOCK_DRIVER = 'libvirt.LibvirtDriver'
EXT_DRIVER = 'migration_ext.MigrationExtLibvirtDriver'

NOVA_MODULES = (
    test_evacuate,
    test_live_migration,
    test_migration_addr,
    test_numa_live_migration,
)


class UseExtDriver(object):
    """Start every libvirt compute with our driver instead of nova's.

    Mixed in first, so that it wraps ``nova.test.TestCase.start_service``,
    which every compute start in nova's tests goes through (``start_compute``
    and ``restart_compute_service`` included). The option is changed with
    ``self.flags`` at that moment rather than in ``setUp`` because the
    tests set it themselves, some after their base ``setUp`` has run.
    """

    def start_service(self, name, *args, **kwargs):
        if name == 'compute' and CONF.compute_driver == STOCK_DRIVER:
            self.flags(compute_driver=EXT_DRIVER)
            # nova's cold-migration tests mock LibvirtDriver's
            # migrate_disk_and_power_off, which our verified copy replaces
            # (tests/functional/test_cold_migration runs that one): here
            # the driver takes nova's path, as with cold_copy = stock.
            self.flags(cold_copy='stock', group='migration_ext')
            self.flags(disk_probe_mib=4, group='migration_ext')
        service = super().start_service(name, *args, **kwargs)
        driver = getattr(service.manager, 'driver', None)
        if isinstance(driver, libvirt_driver.LibvirtDriver):
            # Proof that the swap took: no libvirt compute runs nova's own
            # class, whichever way the test configured it.
            self.assertIs(ext_driver.MigrationExtLibvirtDriver, type(driver))
            self.ext_computes = getattr(self, 'ext_computes', 0) + 1
        return service


def _suite_module(nova_module):
    """The label that stands for ``nova_module`` under this package."""
    return '%s.%s' % (__name__, nova_module.__name__.rpartition('.')[2])


def run_periodics_unlocked(self, raise_on_error=False):
    """nova's ``TestCase._run_periodics``, without the cell lock held.

    nova's version runs each compute's ``update_available_resource``
    inside ``context.target_cell``, which in nova's ``CellDatabases``
    fixture holds a read lock of a reader-writer lock for the whole call.
    That call now waits on a thread pool whose task asks the same lock
    for an untargeted DB read (``_get_disk_over_committed_size_total``).
    When the test's API polling asks for the write lock in between, the
    pending writer blocks the new reader, which blocks the holder, which
    blocks the writer: the test hangs, and the fixture's time-out cannot
    interrupt the eventlet hub (seen: ``NUMALiveMigrationRollbackTests.
    test_rollback``, whose migrate stub runs the periodics, hung CI's
    nova-functional step until its 900 s limit). Here the context is
    targeted with ``set_target_cell``, which takes no lock.
    """
    for host, compute in self.computes.items():
        LOG.info('Running periodic for compute (%s)', host)
        cctxt = nova_context.get_admin_context()
        nova_context.set_target_cell(cctxt,
                                     self.host_mappings[host].cell_mapping)
        compute.manager.update_available_resource(cctxt)
    if raise_on_error and \
            'Traceback (most recent call last' in self.stdlog.logger.output:
        raise nova_test.TestingException(
            self.stdlog.logger.output.splitlines()[-1])
    LOG.info('Finished with periodics')


@functools.lru_cache(maxsize=None)
def wrap(test_class, module_name):
    """``test_class`` with ``UseExtDriver`` mixed in, named for this suite.

    Classes that keep nova's ``_run_periodics`` get
    :func:`run_periodics_unlocked`; those that define their own keep it.
    """
    attrs = {'__module__': module_name,
             '__qualname__': test_class.__qualname__,
             '__doc__': test_class.__doc__}
    if test_class._run_periodics is nova_test.TestCase._run_periodics:
        attrs['_run_periodics'] = run_periodics_unlocked
    return type(test_class.__name__, (UseExtDriver, test_class), attrs)


def _tests(suite):
    for item in suite:
        if hasattr(item, '__iter__'):
            yield from _tests(item)
        else:
            yield item


def load_tests(loader, standard_tests, pattern):
    """The unittest hook: nova's tests, each in its wrapped class.

    unittest's own loader picks nova's tests, so this suite runs exactly
    what ``stestr`` runs in nova. ``standard_tests``, the self-tests
    below, are kept.
    """
    for nova_module in NOVA_MODULES:
        module_name = _suite_module(nova_module)
        for test in _tests(loader.loadTestsFromModule(nova_module)):
            wrapped = wrap(type(test), module_name)
            standard_tests.addTest(wrapped(test._testMethodName))
    return standard_tests


class DriverSwapTest(UseExtDriver, libvirt_base.ServersTestBase):
    """The swap reaches computes as nova's tests start them."""

    def test_started_and_restarted_computes_run_ext_driver(self):
        self.start_compute('compute1')
        self.restart_compute_service('compute1')
        self.assertIs(ext_driver.MigrationExtLibvirtDriver,
                      type(self.computes['compute1'].driver))
        self.assertEqual(EXT_DRIVER, CONF.compute_driver)
        self.assertEqual(2, self.ext_computes)


class LoadTestsTest(unittest.TestCase):
    """Every nova test is loaded, once, in a wrapped class."""

    def test_nova_tests_are_wrapped(self):
        loader = unittest.TestLoader()
        suite = load_tests(loader, unittest.TestSuite(), None)
        ids = []
        for test in _tests(suite):
            self.assertIsInstance(test, UseExtDriver)
            ids.append(test.id())
        stock = [test.id().rpartition('.libvirt.')[2]
                 for module in NOVA_MODULES
                 for test in _tests(loader.loadTestsFromModule(module))]
        self.assertEqual(sorted(stock),
                         sorted(i[len(__name__) + 1:] for i in ids))

    def test_periodics_run_without_the_cell_lock(self):
        loader = unittest.TestLoader()
        suite = load_tests(loader, unittest.TestSuite(), None)
        rollback = [t for t in _tests(suite) if type(t).__name__ ==
                    'NUMALiveMigrationRollbackTests']
        self.assertTrue(rollback)
        for test in rollback:
            self.assertIs(run_periodics_unlocked, type(test)._run_periodics)

    def test_own_periodics_are_kept(self):
        class OwnPeriodics(libvirt_base.ServersTestBase):
            def _run_periodics(self):
                pass

        wrapped = wrap(OwnPeriodics, __name__)
        self.assertIs(OwnPeriodics._run_periodics, wrapped._run_periodics)
