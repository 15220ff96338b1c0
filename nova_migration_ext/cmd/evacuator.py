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
"""``nova-migration-evacuator``: run the evacuation engine as a service.

Configuration (``--config-file /etc/nova-migration-ext/evacuator.conf``):
``[oslo_messaging_notifications] transport_url`` (nova's RabbitMQ, for
its notifications), ``[database]`` (oslo.db's options: the evacuation
database), ``[evacuator]`` (name, intervals, database time-out) and
``[nova]`` (keystoneauth credentials of a service or application
credential, which renew their token by themselves). It serves no API:
``nova-migration-ext-api`` does, on the same database.
"""

import sys

from oslo_service import backend


def main(argv=None):
    # The backend must be chosen before oslo.service's modules are
    # imported: they select the default (eventlet) one on import.
    backend.init_backend(backend.BackendType.THREADING)
    from oslo_config import cfg
    from oslo_log import log as logging
    from oslo_service import service as os_service

    from nova_migration_ext.engine import service

    conf = cfg.CONF
    logging.register_options(conf)
    service.register_opts(conf)
    conf(sys.argv[1:] if argv is None else argv,
         project='nova-migration-ext', prog='nova-migration-evacuator')
    logging.setup(conf, 'nova-migration-ext')
    engine = service.build_engine(conf)
    launcher = os_service.launch(
        conf, service.EvacuatorService(conf, engine), restart_method='mutate')
    launcher.wait()
    return 0


if __name__ == '__main__':
    sys.exit(main())
