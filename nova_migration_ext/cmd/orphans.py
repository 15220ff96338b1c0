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
"""``nova-migration-ext-orphans``: list instances whose image was deleted.

Uses the standard ``OS_*`` environment or ``--os-*`` options (admin
credentials; servers of all projects are listed).
"""

import argparse
import json
import sys

from keystoneauth1 import loading

from nova_migration_ext.compute import orphans


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='List instances whose Glance image was deleted, with '
                    'the base file name each compute host must keep.')
    loading.register_session_argparse_arguments(parser)
    loading.register_auth_argparse_arguments(parser, argv or sys.argv[1:],
                                             default='password')
    parser.add_argument('--os-region-name', default=None)
    parser.add_argument('-f', '--format', choices=('table', 'json'),
                        default='table')
    args = parser.parse_args(argv)
    auth = loading.load_auth_from_argparse_arguments(args)
    session = loading.load_session_from_argparse_arguments(args, auth=auth)
    found = orphans.list_orphaned_images(session, args.os_region_name)
    if args.format == 'json':
        print(json.dumps([{'image_id': o.image_id,
                           'base_file': o.cache_name,
                           'instances': [dict(zip(('id', 'name', 'host'), i))
                                         for i in o.instances]}
                          for o in found], indent=2))
    else:
        print(orphans.format_report(found))
    return 0


if __name__ == '__main__':
    sys.exit(main())
