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

from horizon_panel.api import evacuator
from horizon_panel.content.drains import pickers
from nova_migration_ext.contract import display


def host_room(host):
    """'new1 (3 VMs; vCPUs 5 / 8 (x4); RAM 6144 / 16384 MiB; ...)'."""
    return _('%(name)s (%(vms)s VMs; vCPUs %(vcpus)s; RAM %(ram)s MiB; '
             '%(disk)s disk free)') % {
        'name': host.name, 'vms': host.vms,
        'vcpus': pickers.usage(host.vcpus_used, host.vcpus,
                               host.cpu_allocation_ratio),
        'ram': pickers.usage(host.memory_mb_used, host.memory_mb,
                             host.ram_allocation_ratio),
        'disk': display.size(host.disk_free_bytes)}


class RetryElsewhereForm(forms.SelfHandlingForm):
    """Retry one VM of a drain on a host the operator chooses."""

    drain_id = forms.CharField(widget=forms.HiddenInput())
    server_id = forms.CharField(widget=forms.HiddenInput())
    target = forms.ChoiceField(
        label=_("Target Host"),
        help_text=_("Enabled, running compute hosts this drain is not "
                    "emptying, with the room left on each."))

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        drain = kwargs.get('initial', {}).get('drain')
        excluded = set(drain.sources) if drain else set()
        task = kwargs.get('initial', {}).get('task')
        if task is not None and task.target:
            excluded.add(task.target)
        try:
            hosts = evacuator.host_list(request)
        except evacuator.EvacuatorError:
            exceptions.handle(request, details='')
            hosts = []
        # With the room left on each: the reason to choose one.
        self.fields['target'].choices = [
            (host.name, host_room(host)) for host in hosts
            if host.usable and host.name not in excluded]

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
