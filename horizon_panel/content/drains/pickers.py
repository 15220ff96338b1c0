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
"""Pickers of the Plan Drain workflow: hosts and downtime choices.

A host is chosen in a table that shows what it holds (VMs, vCPUs, RAM,
disk), a project or a VM by its name in a filterable table; no ID is
typed. Each picker is a widget of plain HTML (a filter box over a
table); ``_plan_workflow.html`` holds the few lines of script that
filter the rows.
"""

from django import forms
from django.utils import html
from django.utils.translation import gettext_lazy as _

from nova_migration_ext.contract import display

ALLOW = 'allow'
REFUSE = 'refuse'
DOWNTIME_CHOICES = (
    ('', _("As the policy says")),
    (ALLOW, _("Allow downtime")),
    (REFUSE, _("Live only")),
)


def _filter_box(table_id, placeholder):
    return html.format_html(
        '<input type="search" class="form-control nme-filter" '
        'data-filter-table="#{}" placeholder="{}" '
        'aria-label="{}">', table_id, placeholder, placeholder)


def _table(table_id, headers, rows):
    # In a "form-control" box: Horizon's wizard puts a field's errors
    # after its closest one.
    return html.format_html(
        '<div class="form-control nme-picker"><table id="{}" class="table '
        'table-condensed table-striped table-hover nme-picker-table">'
        '<thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>',
        table_id,
        html.format_html_join('', '<th>{}</th>',
                              ((h,) for h in headers)),
        html.mark_safe(''.join(rows)))


def usage(used, total, ratio=1.0):
    """'3 / 8' or, overcommitted, '3 / 8 (x16.0)'."""
    if ratio and ratio != 1.0:
        return '%s / %s (\u00d7%g)' % (used, total, ratio)
    return '%s / %s' % (used, total)


def host_state(host):
    return '%s, %s' % (_("enabled") if host.enabled else _("disabled"),
                       _("up") if host.up else _("down"))


class HostTableWidget(forms.SelectMultiple):
    """Hosts as the rows of a table, a checkbox each.

    A :class:`SelectMultiple` for Django (Horizon draws checkbox widgets
    its own way, which would drop the table).

    ``hosts``: the :class:`~.hosts.Host` resources of the choices, by
    name; a host without one shows its name only.
    """

    HEADERS = (_("Host"), _("State"), _("VMs"), _("vCPUs Used"),
               _("RAM Used (MiB)"), _("Disk of VMs"), _("Disk Free"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hosts = {}

    def render(self, name, value, attrs=None, renderer=None):
        chosen = set(value or ())
        table_id = '%s_table' % (attrs or {}).get('id', 'id_' + name)
        rows = []
        for index, (host_name, _label) in enumerate(self.choices):
            host = self.hosts.get(host_name)
            rows.append(html.format_html(
                '<tr data-host="{name}"{cls}><td><input type="checkbox" '
                'name="{field}" value="{name}" id="{field_id}_{index}"'
                '{checked}> <label for="{field_id}_{index}">{name}'
                '</label></td>{cells}</tr>',
                name=host_name, field=name, index=index,
                field_id=(attrs or {}).get('id', 'id_' + name),
                checked=html.mark_safe(' checked' if host_name in chosen
                                       else ''),
                cls=html.mark_safe('' if host is None or host.usable
                                   else ' class="text-muted"'),
                cells=self._cells(host)))
        return html.format_html(
            '{}{}', _filter_box(table_id, _("Filter hosts")),
            _table(table_id, self.HEADERS, rows))

    @staticmethod
    def _cells(host):
        if host is None:
            return html.format_html('<td colspan="6">{}</td>',
                                    _("Unknown to the drain service"))
        return html.format_html_join('', '<td>{}</td>', ((cell,) for cell in (
            host_state(host), host.vms,
            usage(host.vcpus_used, host.vcpus, host.cpu_allocation_ratio),
            usage(host.memory_mb_used, host.memory_mb,
                  host.ram_allocation_ratio),
            display.size(host.disk_used_bytes),
            display.size(host.disk_free_bytes))))


class DowntimeTableWidget(forms.Widget):
    """One row per project or VM, each with a downtime choice.

    ``rows``: ``[(id, [cell, ...], filter text, {attribute: value})]``;
    ``headers``: the cells' headers. The choice of row *id* is posted as
    ``<name>__<id>``.
    """

    def __init__(self, headers=(), *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.headers = tuple(headers)
        self.rows = []

    def value_from_datadict(self, data, files, name):
        prefix = name + '__'
        return {key[len(prefix):]: value for key, value in data.items()
                if key.startswith(prefix) and value}

    def render(self, name, value, attrs=None, renderer=None):
        value = value or {}
        table_id = '%s_table' % (attrs or {}).get('id', 'id_' + name)
        rows = []
        for row_id, cells, search, row_attrs in self.rows:
            options = html.format_html_join(
                '', '<option value="{}"{}>{}</option>',
                ((choice, html.mark_safe(
                    ' selected' if value.get(row_id, '') == choice else ''),
                  label) for choice, label in DOWNTIME_CHOICES))
            rows.append(html.format_html(
                '<tr data-search="{}"{}>{}<td><select class="form-control '
                'input-sm" name="{}__{}" aria-label="{}">{}</select></td>'
                '</tr>', search.lower(), html.format_html_join(
                    '', ' {}="{}"', sorted(row_attrs.items())),
                html.format_html_join('', '<td>{}</td>',
                                      ((c,) for c in cells)),
                name, row_id, _("Downtime"), options))
        if not rows:
            return html.format_html('<p class="help-block">{}</p>',
                                    _("None to choose from."))
        return html.format_html(
            '{}{}', _filter_box(table_id, _("Filter by name")),
            _table(table_id, self.headers + (_("Downtime"),), rows))


class DowntimeField(forms.Field):
    """``{id: True}`` (allow downtime) or ``False`` (live only) per row.

    Rows left to the policy are absent.
    """

    widget = DowntimeTableWidget

    def __init__(self, headers=(), *args, **kwargs):
        kwargs.setdefault('required', False)
        super().__init__(*args, widget=DowntimeTableWidget(headers),
                         **kwargs)

    def to_python(self, value):
        overrides = {}
        for row_id, choice in (value or {}).items():
            if choice not in (ALLOW, REFUSE):
                raise forms.ValidationError(
                    _("Unknown downtime choice %(choice)r for %(id)s: "
                      "choose allow, live only or the policy's.")
                    % {'choice': choice, 'id': row_id})
            overrides[row_id] = choice == ALLOW
        return overrides

    def set_rows(self, rows):
        """Offer *rows*: ``(id, cells, filter text[, attributes])``."""
        self.widget.rows = [tuple(row) + ({},) * (4 - len(row))
                            for row in rows]
