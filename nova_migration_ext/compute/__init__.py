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
"""What runs inside nova-compute: the libvirt driver's extension.

The driver (:mod:`.driver`) wraps nova's migration paths with the
prechecks (:mod:`nova_migration_ext.prechecks`), token renewal, the
verified cold copy (:mod:`.cold_copy`, :mod:`.diskcopy`) and the host facts
it publishes. :mod:`.host_stats` (the facts' encoding), :mod:`.throttle`
(the signed per-VM settings) and :mod:`.orphans` (the image cache's names)
are the wire formats the engine reads and writes; they import no nova.
"""
