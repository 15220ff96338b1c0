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
"""Builders of small inventories and stores for the unit tests."""

import os

import fixtures

from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.engine import inventory
from nova_migration_ext.engine import store as store_mod

GiB = drain_policy.GiB
MiB = drain_policy.MiB
LIBVIRT = 8000000
QEMU = 6002000


def host(name, **kwargs):
    """A roomy, empty host: 16 vCPU, 64 GiB RAM, 1000 GiB disk."""
    fields = dict(vcpus=16, vcpus_used=0, memory_mb=65536,
                  memory_mb_used=0, disk_free_bytes=1000 * GiB)
    fields.update(kwargs)
    return inventory.Host(name=name, **fields)


def server(server_id, host='src', status='ACTIVE', **kwargs):
    """A VM of 2 vCPU, 4 GiB RAM and 20 GiB disk on *host*."""
    fields = dict(name='vm-%s' % server_id, vcpus=2, memory_mb=4096,
                  disk_bytes=20 * GiB, project_id='p1')
    fields.update(kwargs)
    return inventory.Server(id=server_id, host=host, status=status,
                            **fields)


def sqlite_store(test):
    """An upgraded store on a new SQLite file, closed when *test* ends."""
    test.useFixture(fixtures.FakeLogger(name='alembic'))
    path = test.useFixture(fixtures.TempDir()).path
    store = store_mod.Store('sqlite:///%s' % os.path.join(
        path, 'evacuator.sqlite'))
    test.addCleanup(store.engine.dispose)
    store.upgrade()
    return store
