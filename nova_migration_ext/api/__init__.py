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
"""The host-drain REST API: Keystone tokens, oslo.policy, JSON schemas.

A WSGI application served like other OpenStack APIs
(``nova-migration-ext-api``, or uwsgi with
``nova_migration_ext.api.wsgi:application``). keystonemiddleware's
``auth_token`` checks every request's token; :mod:`.policies` decides
what the token's roles allow; :mod:`.schemas` rejects malformed bodies
before anything is planned or changed; the actor recorded in the audit
log is the token's user.
"""
