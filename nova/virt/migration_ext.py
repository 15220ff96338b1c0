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
"""Shim that lets nova load the driver by name.

nova prefixes ``[DEFAULT] compute_driver`` with ``nova.virt.`` (see
``nova.virt.driver.load_compute_driver``), so an out-of-tree driver must be
importable under that package. This module is the only file installed
there; the code lives in ``nova_migration_ext``. Set::

    [DEFAULT]
    compute_driver = migration_ext.MigrationExtLibvirtDriver
"""

from nova_migration_ext.compute.driver import MigrationExtLibvirtDriver

__all__ = ['MigrationExtLibvirtDriver']
