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
"""The host-drain API as a WSGI application, for uwsgi and the like.

``NOVA_MIGRATION_EXT_API_CONFIG`` names the configuration file (default
``/etc/nova-migration-ext/evacuator.conf``).
"""

import os

from oslo_config import cfg
from oslo_log import log as logging

from nova_migration_ext.api import app
from nova_migration_ext.engine import service

DEFAULT_CONFIG = '/etc/nova-migration-ext/evacuator.conf'


def init_application(argv=None, conf=None):
    """Read the configuration, build the engine, return the API."""
    conf = conf or cfg.CONF
    logging.register_options(conf)
    service.register_opts(conf)
    if argv is None:
        argv = ['--config-file', os.environ.get(
            'NOVA_MIGRATION_EXT_API_CONFIG', DEFAULT_CONFIG)]
    conf(argv, project='nova-migration-ext', prog='nova-migration-ext-api')
    logging.setup(conf, 'nova-migration-ext')
    return app.build(conf, service.build_engine(conf))


def __getattr__(name):
    # uwsgi's "module = nova_migration_ext.api.wsgi:application": built on
    # first access, not at import (tests import this module).
    if name == 'application':
        return init_application()
    raise AttributeError(name)
