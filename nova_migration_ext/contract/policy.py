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
"""How a drain may move VMs: the policy a client sends and the engine obeys.

Standard library only: the CLI and Horizon check an operator's input with
it before anything is sent.
"""

import dataclasses

from nova_migration_ext.contract import resource

MiB = 1024 ** 2
GiB = 1024 ** 3

METHOD_LIVE = 'live'      # live migration, disks on shared storage
METHOD_BLOCK = 'block'    # live migration copying local disks
METHOD_COLD = 'cold'      # cold migration (the VM is down meanwhile)
# What a policy's ``method`` may say: ``auto`` picks per VM.
POLICY_METHODS = ('auto', METHOD_LIVE, METHOD_COLD)


def _validate_window(window):
    """Check a (start, end) pair of zero-padded UTC ``HH:MM`` times."""
    example = 'for example 22:00 and 06:00 for nights'
    if len(window) != 2:
        raise ValueError('window takes a start and an end time (%s), not '
                         '%r.' % (example, window))
    for value in window:
        hours, sep, minutes = str(value).partition(':')
        if not (sep and len(hours) == 2 and len(minutes) == 2 and
                hours.isdigit() and minutes.isdigit() and
                int(hours) < 24 and int(minutes) < 60):
            raise ValueError('window times are UTC HH:MM from 00:00 to '
                             '23:59 (%s); %r is not one.' % (example, value))
    if window[0] == window[1]:
        raise ValueError('window %s-%s is empty: nothing would ever start. '
                         'Leave the window out to allow any time.'
                         % tuple(window))


def parse_window(text):
    """``('HH:MM', 'HH:MM')`` from ``'HH:MM-HH:MM'``; None when empty.

    What the CLI's ``--window`` and Horizon's form take.

    :raises ValueError: saying how to write a usable window.
    """
    if not text or not text.strip():
        return None
    start, sep, end = text.strip().partition('-')
    if not (sep and start.strip() and end.strip()):
        raise ValueError('Give the window as HH:MM-HH:MM in UTC, for '
                         'example 22:00-06:00 for nights; %r is not one.'
                         % text)
    window = (start.strip(), end.strip())
    _validate_window(window)
    return window


def downtime_overrides(allowed, denied):
    """``{id: True/False}`` from the ids allowed and refused downtime.

    What ``Policy.downtime_projects`` and ``downtime_servers`` take.

    :raises ValueError: when an id is both allowed and refused.
    """
    both = sorted(set(allowed) & set(denied))
    if both:
        raise ValueError('Downtime both allowed and refused for %s; say '
                         'one or the other.' % ', '.join(both))
    overrides = dict.fromkeys(allowed, True)
    overrides.update(dict.fromkeys(denied, False))
    return overrides


@dataclasses.dataclass
class Policy(resource.Resource):
    """How an evacuation may move VMs.

    :param method: ``auto`` (live when possible, cold when needed), ``live``
        (never cold) or ``cold`` (always cold).
    :param allow_downtime: cold migration of a running VM is allowed;
        ``downtime_projects`` and ``downtime_servers`` override it per
        project id or server id.
    :param max_per_source: migrations at once off one source host; None
        (the default): derived from the drain (:mod:`.scheduling`).
    :param max_per_target: migrations at once onto one target host; None:
        derived from the drain.
    :param max_total: migrations at once in the whole evacuation; None: no
        overall limit (each host's link is the limit).
    :param bandwidth_mb_per_s: speed of a host's migration link (MB/s)
        where its compute does not report one; the migrations on a host
        share it (the scheduler and the plan's estimates).
    :param max_bandwidth_mib_per_s: optional cap on each live migration
        (MiB/s, as libvirt counts), applied by the driver on the source.
    :param window: optional (``HH:MM``, ``HH:MM``) UTC window in which new
        migrations may start.
    :param two_phase_cold: cold migrations of running VMs copy their disks
        while they still run, then only what changed (the driver's
        two-phase copy, signed in the server's metadata like the cap).
    :param require_verified_copy: confirm a cold migration only if the
        source's driver recorded a verified copy (its instance action event
        ``migration_ext_verified_copy``); else leave it to the operator.
    """

    method: str = 'auto'
    allow_downtime: bool = False
    downtime_projects: dict = dataclasses.field(default_factory=dict)
    downtime_servers: dict = dataclasses.field(default_factory=dict)
    max_per_source: int | None = None
    max_per_target: int | None = None
    max_total: int | None = None
    bandwidth_mb_per_s: float = 1000.0
    max_bandwidth_mib_per_s: int | None = None
    live_failures_before_cold: int = 2
    max_attempts: int = 3
    window: tuple | None = resource.pair(default=None)
    tunnelled: bool = False
    two_phase_cold: bool = False
    require_verified_copy: bool = True

    def downtime_allowed(self, server):
        if server.id in self.downtime_servers:
            return bool(self.downtime_servers[server.id])
        if server.project_id in self.downtime_projects:
            return bool(self.downtime_projects[server.project_id])
        return self.allow_downtime

    def validate(self):
        """Raise ValueError with what to fix when the policy is unusable."""
        if self.method not in POLICY_METHODS:
            raise ValueError('method must be one of %s, not %r.'
                             % (', '.join(POLICY_METHODS), self.method))
        for name in ('max_per_source', 'max_per_target', 'max_total'):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError('%s must be at least 1 (got %s): a limit '
                                 'of 0 would never move anything; '
                                 'leave it out to let the drain derive it.'
                                 % (name, getattr(self, name)))
        if self.bandwidth_mb_per_s <= 0:
            raise ValueError('bandwidth_mb_per_s must be positive.')
        if self.max_bandwidth_mib_per_s is not None and (
                int(self.max_bandwidth_mib_per_s) !=
                self.max_bandwidth_mib_per_s or
                self.max_bandwidth_mib_per_s <= 0):
            raise ValueError('max_bandwidth_mib_per_s must be a whole '
                             'number of MiB/s above 0 (got %s); leave it '
                             'out for no cap.'
                             % self.max_bandwidth_mib_per_s)
        if self.max_attempts <= 0:
            raise ValueError('max_attempts must be at least 1.')
        if self.window is not None:
            _validate_window(self.window)

    def copy_rate(self, method):
        """Bytes per second one migration of *method* copies alone.

        A cold copy is also bound by its copy tool
        (:func:`.scheduling.stream_cap`).
        """
        rate = self.bandwidth_mb_per_s * 1e6
        if self.max_bandwidth_mib_per_s and method != METHOD_COLD:
            rate = min(rate, self.max_bandwidth_mib_per_s * MiB)
        return rate

    def in_window(self, now):
        """Whether new migrations may start at *now* (UTC)."""
        if not self.window:
            return True
        start, end = self.window
        current = now.strftime('%H:%M')
        if start <= end:
            return start <= current < end
        return current >= start or current < end     # across midnight
