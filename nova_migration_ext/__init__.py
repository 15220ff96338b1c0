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
"""Safe, fast host drains for OpenStack Nova.

The package is split by part, each with its audience:

* ``compute/``: the libvirt driver's extension, run inside nova-compute
  (install with the ``nova`` extra); ``prechecks/``: the checks it loads
  through stevedore (``prechecks.base`` imports neither nova nor Django,
  so third-party prechecks can use it);
* ``engine/``: plans, runs, watches and recovers drains (the evacuator
  daemon, its database), through nova's public API only;
* ``api/``: the REST API (Keystone, policy) over the engine;
* ``contract/`` and ``client/``: what the API's resources are and a Python
  client for them, imported by the CLI (``cli/``) and Horizon without the
  engine;
* ``conf.py``: every option, in one place; ``cmd/``: the console scripts.
"""
