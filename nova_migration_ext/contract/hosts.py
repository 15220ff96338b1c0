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
"""A compute host as a drain's planner sees it, for choosing hosts.

Its state and what its VMs use, from nova's API and Placement (the
allocation ratios, the reserved amounts) and, where its compute published
them, its own measurements (its real free disk).
"""

import dataclasses

from nova_migration_ext.contract import resource


@dataclasses.dataclass
class Host(resource.Resource):
    """One compute host: its state, its VMs, and the room left on it.

    ``vcpus`` and ``memory_mb`` are its capacity without overcommit (the
    reserved amounts left out); ``*_used``, what its VMs hold;
    ``disk_used_bytes`` is the local disk of its VMs (what emptying it
    copies), ``disk_free_bytes`` the disk a VM may still take there.
    """

    name: str
    enabled: bool = True
    up: bool = True
    vms: int = 0
    vcpus: int = 0
    vcpus_used: int = 0
    cpu_allocation_ratio: float = 1.0
    memory_mb: int = 0
    memory_mb_used: int = 0
    ram_allocation_ratio: float = 1.0
    disk_used_bytes: int = 0
    disk_free_bytes: int = 0
    aggregates: list = dataclasses.field(default_factory=list)

    @property
    def usable(self):
        """True when nova may place VMs on it: enabled and up."""
        return self.enabled and self.up
