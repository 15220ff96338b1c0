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
"""``nova-migration-ext-manage``: the evacuation database's schema.

    nova-migration-ext-manage --config-file evacuator.conf db sync
    nova-migration-ext-manage --config-file evacuator.conf db version

``db sync`` brings the database of ``[database] connection`` (oslo.db's
option; the deprecated ``[evacuator] connection`` while that one is not
set) to this release's schema (several at once on MariaDB wait for each
other); run it before the first start of the evacuators and the API and
after each upgrade: they check the schema at start and refuse to run on
another one. ``db version`` prints the database's revision and this
code's; its exit status is 0 when they match, 3 when a sync is needed.
"""

import sys

from oslo_config import cfg
from oslo_service import backend

NEEDS_SYNC = 3


def _service():
    # As nova-migration-evacuator: oslo.service's backend is chosen before
    # its modules are imported (they would select eventlet's).
    try:
        backend.init_backend(backend.BackendType.THREADING)
    except backend.exceptions.BackendAlreadySelected:
        pass
    from nova_migration_ext.engine import service
    return service


def _sync(conf):
    revision = _service().sync_database(conf)
    print('Evacuation database at schema revision %s.' % revision)
    return 0


def _version(conf):
    store = _service().open_store(conf)
    try:
        current, head = store.revisions()
    finally:
        store.engine.dispose()
    print('database: %s, code: %s' % (current or 'none (empty)', head))
    if current != head:
        print('Run "nova-migration-ext-manage db sync".')
        return NEEDS_SYNC
    return 0


def _add_commands(subparsers):
    db = subparsers.add_parser('db', help='The evacuation database.')
    actions = db.add_subparsers(dest='action')
    actions.required = True
    actions.add_parser('sync', help='Bring the schema to this release.')
    actions.add_parser('version', help='The schema revision, and whether '
                                       'a sync is needed.')


COMMAND = cfg.SubCommandOpt('category', title='Commands',
                            handler=_add_commands)
ACTIONS = {'sync': _sync, 'version': _version}


def main(argv=None, conf=None):
    conf = conf or cfg.ConfigOpts()
    _service().register_opts(conf)
    conf.register_cli_opt(COMMAND)
    conf(sys.argv[1:] if argv is None else argv,
         project='nova-migration-ext', prog='nova-migration-ext-manage')
    return ACTIONS[conf.category.action](conf)


if __name__ == '__main__':
    sys.exit(main())
