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
"""Whether an instance's guest lives on this host, as libvirt sees it.

Nova's records and the hypervisors can disagree after a fault: when the
source's nova-compute dies during a live migration, libvirt may still
finish the copy, and nova-compute, started again, records the migration
as failed with the VM on the source. A new move of that VM would then
find no guest on the source, and nova's rollback on the destination
would destroy the only running guest and delete its disks (seen in the
lab: ``tests/lab/test_faults.py``). The driver asks this module before
either step.
"""

import enum

from nova import exception

# libvirt's virDomainState and virDomainPausedReason (stable API values).
VIR_DOMAIN_PAUSED = 3
VIR_DOMAIN_PAUSED_MIGRATION = 2
VIR_DOMAIN_PAUSED_STARTING_UP = 11


class Residency(enum.Enum):
    ABSENT = 'absent'          # no domain here
    INCOMING = 'incoming'      # the paused shell of an incoming migration
    RESIDENT = 'resident'      # a guest that lives here, running or not


def classify(state, reason):
    """Residency of a domain in libvirt *state* for *reason*.

    An incoming migration's domain is paused "starting up" then paused
    "migrating"; anything else (running, shut off, paused by a user) is a
    guest whose disks here may be its only current copy.
    """
    if state == VIR_DOMAIN_PAUSED and reason in (
            VIR_DOMAIN_PAUSED_MIGRATION, VIR_DOMAIN_PAUSED_STARTING_UP):
        return Residency.INCOMING
    return Residency.RESIDENT


def residency(host, instance):
    """Residency of *instance* on the libvirt *host* (nova's Host)."""
    try:
        guest = host.get_guest(instance)
    except exception.InstanceNotFound:
        return Residency.ABSENT
    domain = guest._domain
    try:
        state, reason = domain.state()
    except AttributeError:      # nova's fake libvirt knows info() only
        state, reason = domain.info()[0], 0
    return classify(state, reason)


def missing_on_source(instance, host):
    """The refusal when nova's host for *instance* has no domain of it."""
    return ('No libvirt domain of instance %s on %s, where nova records '
            'it (moved by an interrupted migration?). Nothing was changed: '
            "find where it runs (virsh list --all) and fix nova's record."
            % (instance.uuid, host))


def resident_on_destination(instance, host):
    """The log line when a rollback would destroy a guest living here."""
    return ('Not rolling back instance %s on %s: its guest lives here (a '
            'migration nova records as failed completed). Its domain and '
            "disks are kept; make nova's record point at %s, or move the "
            'guest back, before anything else.' % (instance.uuid, host, host))
