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
"""The server metadata key through which an evacuation caps migrations.

Nova's API takes no bandwidth with a live migration, only the per-host
``[libvirt] live_migration_bandwidth``. The evacuator therefore writes its
policy's cap in the server's metadata before asking for the migration, and
the driver passes it to libvirt when the migration starts. The evacuator
removes the key when the evacuation ends. This module needs neither nova
nor Django.
"""

BANDWIDTH_KEY = 'migration_ext:max_bandwidth_mib_per_s'


def bandwidth_cap(metadata):
    """The cap in MiB/s that *metadata* asks for, or None."""
    try:
        cap = int((metadata or {}).get(BANDWIDTH_KEY))
    except (TypeError, ValueError):
        return None
    return cap if cap > 0 else None
