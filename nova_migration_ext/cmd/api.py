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
"""``nova-migration-ext-api``: the evacuations' REST API.

Reads the evacuator's configuration (``--config-file
/etc/nova-migration-ext/evacuator.conf``): its database and ``[nova]``
credentials, plus ``[keystone_authtoken]``, ``[oslo_policy]`` and
``[api] bind_host/bind_port``. This serves with the standard library's
WSGI server, for a small deployment and for tests; behind uwsgi, use
``nova_migration_ext.api.wsgi:application``.
"""

import sys
from wsgiref import simple_server

from oslo_config import cfg
from oslo_log import log as logging

from nova_migration_ext.api import wsgi


def main(argv=None):
    conf = cfg.CONF
    application = wsgi.init_application(
        sys.argv[1:] if argv is None else argv, conf)
    server = simple_server.make_server(conf.api.bind_host,
                                       conf.api.bind_port, application)
    logging.getLogger(__name__).info('Serving the evacuation API on %s:%d',
                                     conf.api.bind_host, conf.api.bind_port)
    server.serve_forever()
    return 0


if __name__ == '__main__':
    sys.exit(main())
