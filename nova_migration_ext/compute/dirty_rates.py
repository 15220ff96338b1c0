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
"""How fast each running guest dirties its memory, measured by QEMU.

The evacuator's scheduler starts a live migration only where its share of
the links outruns its guest (``evacuation/scheduling.py``); this is where
the guests' rates come from. At every resource-tracker update the driver
reads the result of the last measurement of each running domain
(libvirt's ``dirtyrate`` domain stats, QEMU's ``calc-dirty-rate`` by page
sampling: a few pages hashed twice, ``[migration_ext]
dirty_rate_sample_seconds`` apart, no guest pause) and starts the next
one. The rates travel with the host's facts.
"""

from oslo_log import log as logging

LOG = logging.getLogger(__name__)
MiB = 1024 ** 2
_MEASURED = 2     # VIR_DOMAIN_DIRTYRATE_MEASURED


class DirtyRateProbe:
    """Reads and restarts the dirty-rate measurement of running guests."""

    def __init__(self, sample_seconds):
        self.sample_seconds = sample_seconds
        self._unsupported = False

    def sample(self, connection, libvirt):
        """Instance uuid -> bytes per second, from the last measurements.

        :param connection: an open libvirt connection.
        :param libvirt: the libvirt module (the fake one in tests).
        :returns: the rates, or None when this libvirt or QEMU cannot
            measure them (said once in the log).
        """
        if self._unsupported or self.sample_seconds <= 0:
            return None
        try:
            records = connection.getAllDomainStats(
                libvirt.VIR_DOMAIN_STATS_DIRTYRATE,
                libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING)
        except (AttributeError, libvirt.libvirtError) as exc:
            return self._give_up(exc)
        rates = {}
        for domain, stats in records:
            if stats.get('dirtyrate.calc_status') == _MEASURED and \
                    'dirtyrate.megabytes_per_second' in stats:
                rates[domain.UUIDString()] = \
                    stats['dirtyrate.megabytes_per_second'] * MiB
            self._start(domain, stats, libvirt)
        return rates

    def _start(self, domain, stats, libvirt):
        if stats.get('dirtyrate.calc_status') == 1:    # still measuring
            return
        try:
            domain.startDirtyRateCalc(self.sample_seconds, 0)
        except (AttributeError, libvirt.libvirtError) as exc:
            LOG.debug('Cannot measure the dirty rate of %s: %s',
                      domain.UUIDString(), exc)

    def _give_up(self, exc):
        self._unsupported = True
        LOG.warning('Guests\' dirty rates cannot be measured here (%s); the '
                    'evacuator assumes a default rate for their VMs.', exc)
        return None
