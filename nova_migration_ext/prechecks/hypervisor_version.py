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
"""hypervisor_version: never migrate to an older libvirt or QEMU."""

from oslo_config import cfg

from nova_migration_ext.prechecks import base

OPTS = [
    cfg.BoolOpt(
        'hypervisor_version_allow_older',
        default=False,
        help='hypervisor_version: only warn, instead of refusing, when the '
             'destination runs an older libvirt or QEMU than the source.'),
]


def version_string(version):
    """Format libvirt's integer version (major * 1e6 + minor * 1e3 + micro)."""
    return '%d.%d.%d' % (version // 1000000, version // 1000 % 1000,
                         version % 1000)


class HypervisorVersion(base.Precheck):
    """Refuse a destination whose libvirt or QEMU is older than the source."""

    name = 'hypervisor_version'
    OPTS = OPTS

    def check(self, request):
        src, dest = request.source, request.destination
        older = []
        compared = 0
        for label, attr in (('libvirt', 'libvirt_version'),
                            ('QEMU', 'qemu_version')):
            src_version = getattr(src, attr)
            dest_version = getattr(dest, attr)
            if src_version is None or dest_version is None:
                continue
            compared += 1
            if dest_version < src_version:
                older.append('%s %s < %s' % (label,
                                             version_string(dest_version),
                                             version_string(src_version)))
        if not compared:
            return base.Verdict.skip(self.name, 'versions not known')
        if not older:
            return base.Verdict.ok(self.name, 'destination is not older.')
        reason = ('Destination %s runs an older hypervisor than source %s '
                  '(%s); the guest may not start there or migrate back.'
                  % (dest.host, src.host, ', '.join(older)))
        remedy = ('Choose a destination with the same or newer libvirt and '
                  'QEMU, or upgrade %s first.' % dest.host)
        if self.options.hypervisor_version_allow_older:
            return base.Verdict.warn(self.name, reason, remedy)
        return base.Verdict.fail(self.name, reason, remedy)
