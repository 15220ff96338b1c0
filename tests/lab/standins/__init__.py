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
"""Stand-ins for Neutron and Cinder in the real-hypervisor lab.

Real Neutron and Cinder are too heavy for the lab machine, so these two
small WSGI applications answer the requests nova 34 makes of them, and
nothing more. They are stand-ins, not the services: the Neutron stand-in
is a cloud without a single port (servers boot with ``networks: none``),
the Cinder stand-in hands out loop devices as ``local`` volumes.

Run one with ``python -m tests.lab.standins {neutron|cinder} --port P
--state-dir D [--log FILE]``.
"""
