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
"""Load the enabled prechecks with stevedore and run them."""

from oslo_log import log as logging
from stevedore import extension
from stevedore import named

from nova_migration_ext.prechecks import base

LOG = logging.getLogger(__name__)
NAMESPACE = 'nova_migration_ext.prechecks'
EVENT_PREFIX = 'migration_ext.precheck'


class PrecheckConfigError(Exception):
    """The [migration_ext] enabled_prechecks list cannot be loaded."""


class PrecheckFailed(Exception):
    """One or more prechecks refused the migration.

    :param verdicts: every verdict of the run, failures included.
    """

    def __init__(self, request, verdicts):
        self.request = request
        self.verdicts = verdicts
        failed = [v for v in verdicts if v.status is base.Status.FAIL]
        # nova keeps only the first 255 characters in the instance action
        # event, so the verdicts come first.
        super().__init__(
            '%s (Nothing was changed; instance %s stays on %s.)'
            % (' | '.join(v.message() for v in failed),
               request.instance_uuid, request.source.host))


class PrecheckRunner:
    """Run the prechecks named in [migration_ext] enabled_prechecks.

    :param conf: the service's oslo.config object.
    :param notifier: an oslo.messaging Notifier (or None); warnings and
        failures are emitted as migration_ext.precheck.<status>.
    """

    def __init__(self, conf, notifier=None):
        self.conf = conf
        self.notifier = notifier
        names = list(conf.migration_ext.enabled_prechecks)
        missing = []
        self._manager = named.NamedExtensionManager(
            NAMESPACE, names, invoke_on_load=True, invoke_args=(conf,),
            name_order=True, on_load_failure_callback=self._load_failed,
            on_missing_entrypoints_callback=missing.extend)
        if missing:
            raise PrecheckConfigError(
                'Unknown precheck(s) %s in [migration_ext] enabled_prechecks;'
                ' installed: %s. Fix the list in nova.conf or install the '
                'package that provides them.'
                % (', '.join(sorted(missing)), ', '.join(self.available())))

    @staticmethod
    def _load_failed(manager, entrypoint, exc):
        raise PrecheckConfigError(
            'Precheck %s could not be loaded: %s. Fix or uninstall it, or '
            'remove it from [migration_ext] enabled_prechecks.'
            % (entrypoint.name, exc)) from exc

    @staticmethod
    def available():
        """Names of every installed precheck."""
        return sorted(extension.ExtensionManager(NAMESPACE).names())

    @property
    def names(self):
        return [ext.name for ext in self._manager.extensions]

    def run(self, request):
        """Return the verdicts of every precheck that applies."""
        verdicts = []
        for ext in self._manager.extensions:
            check = ext.obj
            if not check.applies_to(request):
                continue
            try:
                verdict = check.check(request)
            except Exception as exc:
                LOG.exception('Precheck %s crashed', ext.name)
                verdict = base.Verdict.fail(
                    ext.name, 'the check crashed: %s.' % exc,
                    'Fix the check or remove it from [migration_ext] '
                    'enabled_prechecks.')
            if (verdict.status is base.Status.WARN and
                    self.conf.migration_ext.warnings_are_failures):
                verdict = base.Verdict.fail(
                    verdict.check, verdict.reason, verdict.remedy or
                    'Set [migration_ext] warnings_are_failures = false to '
                    'proceed despite warnings.', **verdict.details)
            verdicts.append(verdict)
        return verdicts

    def enforce(self, context, request):
        """Run the prechecks; raise :class:`PrecheckFailed` on a failure.

        Warnings and failures are logged and notified. Returns the verdicts.
        """
        verdicts = self.run(request)
        for verdict in verdicts:
            if verdict.status is base.Status.PASS:
                LOG.debug('Precheck %s passed for %s: %s', verdict.check,
                          request.instance_uuid, verdict.reason)
            elif verdict.status is base.Status.SKIP:
                LOG.warning('Precheck %s skipped for instance %s (%s phase):'
                            ' %s', verdict.check, request.instance_uuid,
                            request.phase.value, verdict.reason)
            else:
                LOG.warning('Precheck %s: %s for instance %s (%s phase): %s',
                            verdict.check, verdict.status.value,
                            request.instance_uuid, request.phase.value,
                            verdict.message())
        worst = self._worst(verdicts)
        if worst is not base.Status.PASS:
            self._notify(context, request, verdicts, worst)
        if worst is base.Status.FAIL:
            raise PrecheckFailed(request, verdicts)
        return verdicts

    @staticmethod
    def _worst(verdicts):
        statuses = {v.status for v in verdicts}
        for status in (base.Status.FAIL, base.Status.WARN):
            if status in statuses:
                return status
        return base.Status.PASS

    def _notify(self, context, request, verdicts, worst):
        if self.notifier is None:
            return
        payload = {
            'instance_uuid': request.instance_uuid,
            'kind': request.kind.value,
            'phase': request.phase.value,
            'source': request.source.host,
            'destination': request.destination.host,
            'verdicts': [v.to_dict() for v in verdicts],
        }
        event_type = '%s.%s' % (EVENT_PREFIX, worst.value)
        try:
            if worst is base.Status.FAIL:
                self.notifier.error(context, event_type, payload)
            else:
                self.notifier.warn(context, event_type, payload)
        except Exception:
            LOG.exception('Could not emit notification %s', event_type)
