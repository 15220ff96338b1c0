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
"""Forms of the Host Drains panel (Plan Drain is a workflow)."""

from django.utils.translation import gettext_lazy as _
from horizon import exceptions
from horizon import forms
from horizon import messages
from openstack_dashboard import api

from horizon_panel.api import evacuator


def _host_label(service):
    return '%s (%s, %s)' % (service.host, service.status, service.state)


def compute_hosts(request, enabled_only=False):
    """(host, label) of the compute hosts; *enabled_only*: enabled, up."""
    try:
        services = api.nova.service_list(request, binary='nova-compute')
    except Exception:
        exceptions.handle(request, _("Unable to list compute hosts."))
        return []
    return [(s.host, _host_label(s))
            for s in sorted(services, key=lambda s: s.host)
            if not enabled_only or (s.status == 'enabled' and
                                    s.state == 'up')]


class RetryElsewhereForm(forms.SelfHandlingForm):
    """Retry one VM of a drain on a host the operator chooses."""

    drain_id = forms.CharField(widget=forms.HiddenInput())
    server_id = forms.CharField(widget=forms.HiddenInput())
    target = forms.ChoiceField(
        label=_("Target Host"),
        help_text=_("Enabled compute hosts this drain is not emptying."))

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        drain = kwargs.get('initial', {}).get('drain')
        excluded = set(drain.sources) if drain else set()
        task = kwargs.get('initial', {}).get('task')
        if task is not None and task.target:
            excluded.add(task.target)
        self.fields['target'].choices = [
            (host, label) for host, label in
            compute_hosts(request, enabled_only=True)
            if host not in excluded]

    def handle(self, request, data):
        try:
            drain = evacuator.task_retry(request, data['drain_id'],
                                         data['server_id'],
                                         target=data['target'])
        except evacuator.EvacuatorError as exc:
            self.api_error(str(exc))
            return False
        messages.success(request, _('Queued the VM again, to %s.')
                         % data['target'])
        return drain
