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
"""Views of the Evacuations panel: list, plan, detail."""

from django.urls import reverse
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from horizon import exceptions
from horizon import forms
from horizon import tables
from horizon import tabs
from horizon.utils import memoized

from horizon_panel.api import evacuator
from horizon_panel.content.evacuations import forms as evacuation_forms
from horizon_panel.content.evacuations import tables as evacuation_tables
from horizon_panel.content.evacuations import tabs as evacuation_tabs

INDEX_URL = 'horizon:admin:evacuations:index'


class IndexView(tables.DataTableView):
    table_class = evacuation_tables.EvacuationsTable
    template_name = 'admin/evacuations/index.html'
    page_title = _("Evacuations")

    def get_data(self):
        try:
            return evacuator.evacuation_list(self.request)
        except evacuator.EvacuatorError:
            exceptions.handle(self.request, details='')
            return []


class PlanView(forms.ModalFormView):
    form_class = evacuation_forms.PlanEvacuationForm
    form_id = 'plan_evacuation_form'
    template_name = 'admin/evacuations/plan.html'
    modal_id = 'plan_evacuation_modal'
    modal_header = _("Plan Evacuation")
    page_title = _("Plan Evacuation")
    submit_label = _("Plan")
    submit_url = reverse_lazy('horizon:admin:evacuations:plan')
    success_url = reverse_lazy(INDEX_URL)

    def form_valid(self, form):
        if not form.cleaned_data['dry_run']:
            return super().form_valid(form)
        preview = form.handle(self.request, form.cleaned_data)
        if not preview:
            return self.form_invalid(form)
        return self.render_to_response(
            self.get_context_data(form=form, preview=preview))

    def get_success_url_from_handled(self, handled):
        return reverse('horizon:admin:evacuations:detail',
                       args=[handled['id']])


class DetailView(tabs.TabbedTableView):
    tab_group_class = evacuation_tabs.EvacuationTabs
    template_name = 'horizon/common/_detail.html'
    page_title = '{{ evacuation.name|default:evacuation.id }}'

    @memoized.memoized_method
    def get_data(self):
        # A row update (one request per polled row) shares the answer
        # with the others of its poll.
        if self.request.GET.get('action') == 'row_update':
            get = evacuator.evacuation_get_shared
        else:
            get = evacuator.evacuation_get
        try:
            return get(self.request, self.kwargs['evacuation_id'])
        except evacuator.EvacuatorError:
            exceptions.handle(self.request, details='',
                              redirect=reverse(INDEX_URL))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        evacuation = self.get_data()
        context['evacuation'] = evacuation
        context['url'] = reverse(INDEX_URL)
        context['actions'] = self._actions(evacuation)
        return context

    def _actions(self, evacuation):
        table = evacuation_tables.EvacuationsTable(self.request)
        return table.render_row_actions(evacuation)

    def get_tabs(self, request, **kwargs):
        return super().get_tabs(request, evacuation=self.get_data(),
                                **kwargs)
