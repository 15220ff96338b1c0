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
"""The drain commands of ``openstack drain …``.

cliff commands registered as a python-openstackclient plugin, over the
REST API with the user's token (:mod:`nova_migration_ext.client.v1`).
Tables by default; ``-f json`` and ``-f yaml`` give raw values (numbers,
lists, ISO timestamps) for scripts.
"""

import time

from osc_lib.command import command
from osc_lib import exceptions as osc_exceptions

from nova_migration_ext.client import v1 as client_v1
from nova_migration_ext.contract import display
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states

BAR_WIDTH = 30
# Exit status of --wait when the drain ended with VMs left for the
# operator, cancelled or failed (1 is an error of the command itself).
LEFT_FOR_OPERATOR = 3


RAW_FORMATS = ('json', 'yaml')


class CommandError(osc_exceptions.CommandError):
    """Shown to the operator as is."""


class _Errors:
    """Calls on a client; the REST client's errors become CommandError."""

    def __init__(self, api):
        self._api = api

    def __getattr__(self, name):
        method = getattr(self._api, name)

        def call(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except client_v1.ApiError as exc:
                raise CommandError(str(exc))
        return call


def _api(cmd):
    return _Errors(cmd.app.client_manager.drain)


def _raw(args):
    """Whether *args* ask for raw values (a machine format)."""
    return getattr(args, 'formatter', None) in RAW_FORMATS


def _overrides(allowed, denied):
    """{id: True/False} from the --allow/--deny-downtime-… lists."""
    try:
        return drain_policy.downtime_overrides(allowed, denied)
    except ValueError as exc:
        raise CommandError(str(exc))


def progress_bar(percent):
    filled = int(round(BAR_WIDTH * percent / 100.0))
    return '[%s%s] %5.1f%%' % ('#' * filled, '.' * (BAR_WIDTH - filled),
                               percent)


def counts_text(counts):
    """'done 2, migrating 1': the VMs per state, from {state: n}."""
    return ', '.join('%s %d' % kv for kv in sorted((counts or {}).items()))


def _iso(moment):
    return moment.isoformat() if moment else None


def _summary(drain, raw=False):
    """(names, values) of a :class:`~.drains.Drain`.

    *raw*: values as the API gave them (numbers, lists, ISO timestamps).
    """
    unplaceable = drain.plan.unplaceable if drain.plan else []
    if raw:
        fields = [('id', drain.id), ('name', drain.name),
                  ('state', drain.state), ('sources', list(drain.sources)),
                  ('vms', drain.vms), ('tasks', dict(drain.counts)),
                  ('needs_operator', drain.needs_operator),
                  ('progress', drain.progress),
                  ('eta_seconds', drain.eta_seconds),
                  ('window', drain.window), ('driven_by', drain.owner),
                  ('lease', drain.lease),
                  ('created_at', _iso(drain.created_at)),
                  ('started_at', _iso(drain.started_at)),
                  ('finished_at', _iso(drain.finished_at)),
                  ('unplaceable', [u.to_dict() for u in unplaceable])]
        return tuple(zip(*fields))
    fields = [('id', drain.id), ('name', drain.name),
              ('state', drain.state), ('sources', ', '.join(drain.sources)),
              ('vms', drain.vms), ('tasks', counts_text(drain.counts)),
              ('progress', progress_bar(drain.progress)),
              ('eta', display.duration(drain.eta_seconds)),
              ('window', drain.window or ''),
              ('driven by', drain.owner or ''),
              ('lease', drain.lease or '')]
    for item in unplaceable:
        fields.append(('unplaceable %s' % item.name,
                       '%s: %s' % (item.source, item.reason)))
    return tuple(zip(*fields))


def _dry_run(plan, raw=False):
    """(names, values) of a dry run's :class:`~.drains.Plan`."""
    if raw:
        summary = plan.to_dict()
        moves = summary.pop('moves')
        unplaceable = summary.pop('unplaceable')
        return tuple(zip(*[('id', None), ('plan', summary),
                           ('moves', moves), ('unplaceable', unplaceable)]))
    fields = [('id', '(dry run: nothing stored)'),
              ('vms', plan.vms), ('moves', plan.move_count),
              ('by method', ', '.join(
                  '%s %d' % kv for kv in sorted(plan.by_method.items()))),
              ('bytes', plan.bytes),
              ('estimated', display.duration(plan.estimated_seconds))]
    for move in plan.moves or ():
        down = move.expected_downtime_seconds
        fields.append((move.name, '%s -> %s (%s%s)' % (
            move.source, move.target, move.method,
            ', down ~%s' % display.duration(down) if down else '')))
    for item in plan.unplaceable:
        fields.append(('unplaceable %s' % item.name, item.reason))
    return tuple(zip(*fields))


class CreateDrain(command.ShowOne):
    """Plan emptying hosts (a dry run shows the plan and stores nothing)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('sources', nargs='+', metavar='<host>',
                            help='Hosts to empty.')
        targets = parser.add_mutually_exclusive_group()
        targets.add_argument('--target', action='append', dest='targets',
                             metavar='<host>',
                             help='Allowed target host (repeat); default: '
                                  'every other enabled host.')
        targets.add_argument('--target-aggregate', metavar='<aggregate>',
                             help='Allowed targets: the hosts of this host '
                                  'aggregate (the sources left out).')
        parser.add_argument('--name', default='')
        parser.add_argument('--method', choices=('auto', 'live', 'cold'),
                            default='auto')
        parser.add_argument('--allow-downtime', action='store_true',
                            help='Allow cold migration of running VMs.')
        for verb, allowed in (('allow', 'Allow'), ('deny', 'Refuse')):
            for kind in ('project', 'server'):
                parser.add_argument(
                    '--%s-downtime-%s' % (verb, kind), action='append',
                    default=[], metavar='<%s-id>' % kind,
                    help='%s cold migration of the running VMs of this '
                         '%s, whatever --allow-downtime says (repeat; a '
                         'server overrides its project).' % (allowed, kind))
        parser.add_argument('--max-per-source', type=int, default=None,
                            help='Migrations at once off one source; '
                                 'default: derived from the drain.')
        parser.add_argument('--max-per-target', type=int, default=None,
                            help='Migrations at once onto one target; '
                                 'default: derived from the drain.')
        parser.add_argument('--max-total', type=int, default=None,
                            help='Migrations at once in all; default: no '
                                 'overall limit (each host link is one).')
        parser.add_argument('--bandwidth', type=float, default=1000.0,
                            metavar='<MB/s>',
                            help='Speed of a host migration link where its '
                                 'compute does not report one; the '
                                 'migrations on a host share it.')
        parser.add_argument('--max-bandwidth', type=int,
                            metavar='<MiB/s>',
                            help='Cap on each live migration, applied by '
                                 'the driver on the source host.')
        parser.add_argument('--window', metavar='<HH:MM-HH:MM>',
                            help='UTC window in which migrations may start.')
        parser.add_argument('--accept-unverified-copies',
                            action='store_true',
                            help='Confirm cold migrations whose copy the '
                                 'source did not verify (computes with '
                                 '[migration_ext] cold_copy = stock); by '
                                 'default they are left to the operator.')
        parser.add_argument('--two-phase-cold', action='store_true',
                            help='Cold migrations of running VMs copy the '
                                 'disks while the VM runs, then only what '
                                 'changed: downtime for the second pass '
                                 'only.')
        parser.add_argument('--dry-run', action='store_true')
        return parser

    def take_action(self, args):
        try:
            policy = drain_policy.Policy(
                method=args.method, allow_downtime=args.allow_downtime,
                max_per_source=args.max_per_source,
                max_per_target=args.max_per_target,
                max_total=args.max_total,
                bandwidth_mb_per_s=args.bandwidth,
                max_bandwidth_mib_per_s=args.max_bandwidth,
                two_phase_cold=args.two_phase_cold,
                require_verified_copy=not args.accept_unverified_copies,
                downtime_projects=_overrides(args.allow_downtime_project,
                                             args.deny_downtime_project),
                downtime_servers=_overrides(args.allow_downtime_server,
                                            args.deny_downtime_server))
            try:
                policy.window = drain_policy.parse_window(args.window)
            except ValueError as exc:
                raise CommandError('--window: %s' % exc)
            policy.validate()
        except ValueError as exc:
            raise CommandError(str(exc))
        result = _api(self).plan(
            args.sources, args.targets, policy, name=args.name,
            dry_run=args.dry_run, target_aggregate=args.target_aggregate)
        if args.dry_run:
            return _dry_run(result, _raw(args))
        return _summary(result, _raw(args))


class ListDrains(command.Lister):
    """List host drains."""

    def take_action(self, args):
        raw = _raw(args)
        rows = [(d.id, d.name, d.state, d.needs_operator,
                 d.progress if raw else '%.0f%%' % d.progress,
                 list(d.sources) if raw else ', '.join(d.sources),
                 d.owner if raw else d.owner or '', _iso(d.created_at))
                for d in _api(self).list()]
        return (('ID', 'Name', 'State', 'Needs you', 'Progress', 'Sources',
                 'Driven by', 'Created'), rows)


def state_text(host):
    """'enabled, up' or 'disabled, down': what nova says of a host."""
    return '%s, %s' % ('enabled' if host.enabled else 'disabled',
                       'up' if host.up else 'down')


def used_text(used, total, ratio=1.0):
    """'6/8', and ' (x4)' when the allocation ratio lets more in."""
    text = '%d/%d' % (used, total)
    return text if ratio == 1.0 else '%s (x%g)' % (text, ratio)


class ListHosts(command.Lister):
    """List the compute hosts with their VMs and room, to plan drains."""

    def take_action(self, args):
        raw = _raw(args)
        rows = []
        for h in _api(self).hosts():
            if raw:
                usage = ([h.vcpus_used, h.vcpus],
                         [h.memory_mb_used, h.memory_mb],
                         h.disk_used_bytes, h.disk_free_bytes)
            else:
                usage = (used_text(h.vcpus_used, h.vcpus,
                                   h.cpu_allocation_ratio),
                         used_text(h.memory_mb_used, h.memory_mb,
                                   h.ram_allocation_ratio),
                         display.size(h.disk_used_bytes),
                         display.size(h.disk_free_bytes))
            rows.append((h.name, state_text(h), h.vms) + usage)
        return (('Host', 'State', 'VMs', 'vCPUs', 'RAM MiB', 'VM Disk',
                 'Free Disk'), rows)


def progress_line(drain, seconds):
    """One line of a drain followed with --wait."""
    eta = ('' if drain.ended else
           '  ETA %s' % display.duration(drain.eta_seconds))
    return '[%5d s] %-9s %s%s  %s' % (
        seconds, drain.state, progress_bar(drain.progress), eta,
        counts_text(drain.counts))


class _OneDrain(command.ShowOne):
    operation = None
    can_wait = False

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('drain', metavar='<drain-id>')
        if self.can_wait:
            parser.add_argument(
                '--wait', action='store_true',
                help='Then follow the drain until it ends, a progress '
                     'line on stderr at each poll; the exit status is 0 '
                     'if every VM was moved or skipped, %d if some were '
                     'left for the operator or it was cancelled or failed.'
                     % LEFT_FOR_OPERATOR)
            parser.add_argument(
                '--poll-interval', type=float, default=5.0,
                metavar='<seconds>', help='Seconds between two looks '
                                          'with --wait.')
        return parser

    def take_action(self, args):
        info = getattr(_api(self), self.operation)(args.drain)
        if getattr(args, 'wait', False):
            info = self._follow(args.drain, info, args.poll_interval)
        return _summary(info, _raw(args))

    def _follow(self, drain_id, info, interval):
        started = time.monotonic()
        while True:
            self.app.stderr.write(progress_line(
                info, time.monotonic() - started) + '\n')
            self.app.stderr.flush()
            if info.ended:
                break
            time.sleep(interval)
            info = _api(self).show(drain_id)
        if info.needs_operator or info.state != states.COMPLETED:
            self.exit_status = LEFT_FOR_OPERATOR
        return info

    def run(self, parsed_args):
        self.exit_status = 0
        return super().run(parsed_args) or self.exit_status


class ShowDrain(_OneDrain):
    """Show a drain with its progress and ETA."""

    operation = 'show'
    can_wait = True


class StartDrain(_OneDrain):
    """Disable the source hosts and start moving VMs."""

    operation = 'start'
    can_wait = True


class PauseDrain(_OneDrain):
    """Start no new migration; running ones finish."""

    operation = 'pause'


class ResumeDrain(_OneDrain):
    """Resume a paused drain."""

    operation = 'resume'
    can_wait = True


class CancelDrain(_OneDrain):
    """Cancel: queued VMs stay, live migrations are aborted."""

    operation = 'cancel'


class _OneServer(_OneDrain):
    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('server', metavar='<server>',
                            help='Server name or ID.')
        return parser

    def take_action(self, args):
        return _summary(getattr(_api(self), self.operation)(
            args.drain, args.server), _raw(args))


class RetryServer(_OneServer):
    """Try moving one VM again."""

    operation = 'retry'

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--allow-downtime', action='store_true',
            help='Let this VM be cold-migrated (it is down meanwhile): the '
                 'remedy for a VM live migration cannot move. One that '
                 'live migration already failed goes cold at once.')
        parser.add_argument(
            '--target', metavar='<host>',
            help='Move it to this host instead of its planned target: the '
                 'remedy for a target that refused it (say, too small a '
                 'disk).')
        return parser

    def take_action(self, args):
        return _summary(_api(self).retry(
            args.drain, args.server, allow_downtime=args.allow_downtime,
            target=args.target), _raw(args))


class SkipServer(_OneServer):
    """Leave one VM where it is."""

    operation = 'skip'


class _DrainLister(command.Lister):
    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('drain', metavar='<drain-id>')
        return parser


class ListServers(_DrainLister):
    """List the VMs of a drain with state, attempts and errors."""

    def take_action(self, args):
        info = _api(self).show(args.drain)
        raw = _raw(args)
        rows = [(t.name, t.server_id, t.source, t.target, t.method, t.state,
                 t.phase, t.progress if raw else '%.0f%%' % t.progress,
                 t.attempts, t.remedy or t.last_error or '')
                for t in info.tasks]
        return (('Server', 'ID', 'From', 'To', 'Method', 'State', 'Phase',
                 'Progress', 'Attempts', 'Remedy / last error'), rows)


class ListRemedies(_DrainLister):
    """Show the VMs left for the operator and what to do about each."""

    def take_action(self, args):
        info = _api(self).show(args.drain)
        rows = [(t.name, t.server_id, t.source, t.state,
                 t.remedy or t.last_error or '',
                 'openstack drain server retry %s %s' % (info.id, t.name))
                for t in info.tasks if t.state == states.NEEDS_OPERATOR]
        return (('Server', 'ID', 'On', 'State', 'Why', 'Then'), rows)


class ListAudit(_DrainLister):
    """Show who did what, when and why."""

    def take_action(self, args):
        info = _api(self).show(args.drain)
        rows = [(_iso(e.at), e.actor, e.action, e.detail)
                for e in info.audit or ()]
        return (('At', 'Actor', 'Action', 'Detail'), rows)
