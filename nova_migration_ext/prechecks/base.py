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
"""The precheck plugin API.

A precheck is a class registered under the ``nova_migration_ext.prechecks``
entry-point namespace. It is built once per nova-compute with the service's
``oslo.config`` object and asked for a :class:`Verdict` on each
:class:`PrecheckInput`. It must not change anything: it only reads the facts
it is given. Facts a phase cannot know are ``None``; a check that needs them
returns :meth:`Verdict.skip` rather than guessing.

This module imports neither nova nor Django.
"""

import abc
import dataclasses
import enum

GiB = 1024 ** 3
MiB = 1024 ** 2


class MigrationKind(str, enum.Enum):
    """The migration path a precheck runs for."""

    LIVE = 'live'          # live migration, instance path on shared storage
    BLOCK = 'block'        # live migration copying local disks
    COLD = 'cold'          # cold migration (same flavor)
    RESIZE = 'resize'      # cold migration to a new flavor

    @property
    def copies_disks(self):
        return self is not MigrationKind.LIVE


class Phase(str, enum.Enum):
    """Where the check runs. Both run before anything changes."""

    SOURCE = 'source'
    DESTINATION = 'destination'


class Status(str, enum.Enum):
    PASS = 'pass'
    WARN = 'warn'
    FAIL = 'fail'
    SKIP = 'skip'      # the check could not look: not a pass


@dataclasses.dataclass(frozen=True)
class Disk:
    """One disk of the domain, as libvirt will see it.

    :param target_dev: guest device name, for example ``vda``.
    :param path: source file or block device on the source host.
    :param source_type: libvirt source type (``file``, ``block``,
        ``network``, …).
    :param driver_format: ``qcow2``, ``raw``, …
    :param virtual_size: guest-visible size in bytes, or None.
    :param allocated_size: bytes actually used on the host, or None.
    :param backing_file: base name of the backing file, or None.
    :param is_volume: the disk belongs to a Cinder volume mapping.
    :param shareable: the disk is marked ``<shareable/>`` (multiattach).
    :param readonly: the disk is marked ``<readonly/>``.
    """

    target_dev: str
    path: str | None = None
    source_type: str = 'file'
    driver_format: str | None = None
    virtual_size: int | None = None
    allocated_size: int | None = None
    backing_file: str | None = None
    is_volume: bool = False
    shareable: bool = False
    readonly: bool = False

    @property
    def is_local(self):
        """A host-local disk that a migration must copy."""
        return (not self.is_volume and not self.shareable and
                self.source_type in ('file', 'block'))


@dataclasses.dataclass(frozen=True)
class HostFacts:
    """What is known of one host. Unknown facts are None.

    :param free_bytes: free space on the instances path, as measured there.
    :param reserved_bytes: ``[DEFAULT] reserved_host_disk_mb``, in bytes.
    :param base_images: mapping of file name to size in bytes for the
        files in the image cache (``_base``).
    :param link_bytes_per_s: speed of the link its migrations use.
    :param disk_read_bytes_per_s: how fast its instances path reads
        (sequential, uncached); ``disk_write_bytes_per_s`` writes.
    :param dirty_rates: instance uuid -> bytes per second its guest
        dirtied when last measured (running guests only).
    :param instance_disk_bytes: instance uuid -> bytes its local disk
        files take on the instances path (what a copy moves).
    """

    host: str
    instances_path: str | None = None
    free_bytes: int | None = None
    reserved_bytes: int = 0
    base_images: dict | None = None
    libvirt_version: int | None = None
    qemu_version: int | None = None
    hypervisor_type: str | None = None
    link_bytes_per_s: float | None = None
    disk_read_bytes_per_s: float | None = None
    disk_write_bytes_per_s: float | None = None
    dirty_rates: dict | None = None
    instance_disk_bytes: dict | None = None


@dataclasses.dataclass(frozen=True)
class BaseImage:
    """The image an instance was booted from and its cached base file.

    :param cache_name: file name in ``_base`` (sha1 of the image id).
    :param size: size of the base file on the source, or None.
    :param deleted_in_glance: True when Glance no longer has the image,
        None when that was not asked.
    :param copy_planned: the driver will copy the base file to the
        destination before the migration starts.
    """

    image_id: str
    cache_name: str
    size: int | None = None
    deleted_in_glance: bool | None = None
    copy_planned: bool = False


@dataclasses.dataclass(frozen=True)
class PrecheckInput:
    """Everything a precheck may look at.

    :param instance_uuid: the instance's UUID.
    :param instance_name: its display name, for messages.
    :param kind: the :class:`MigrationKind`.
    :param phase: the :class:`Phase` the check runs in.
    :param source: :class:`HostFacts` of the source host.
    :param destination: :class:`HostFacts` of the destination host.
    :param disks: every disk of the domain (volumes included), or None
        when this phase cannot see them.
    :param block_device_mappings: nova BDM dicts (``source_type``,
        ``destination_type``, ``device_name``, ``volume_id``,
        ``multiattach``…).
    :param base_image: the :class:`BaseImage`, or None for an instance
        booted from a volume.
    :param swap_bytes: flavor swap to create on the destination.
    :param ephemeral_bytes: ephemeral space to create on the destination
        when not copied as a disk.
    :param migrate_disks: device names handed to libvirt as
        ``migrate_disks``, when known (source phase of a block migration).
    :param copies_all_disks: libvirt would copy every disk of the domain
        (an empty ``migrate_disks`` with non-shared storage flags).
    :param tunnelled: the migration is tunnelled through libvirtd.
    :param service_token: a valid service token will be sent with the
        post-migration calls.
    :param user_token_remaining: seconds of life left on the user token,
        or None when unknown.
    :param queued_migrations: migrations ahead of this one on the source.
    :param throughput_bytes_per_s: expected copy throughput.
    """

    instance_uuid: str
    kind: MigrationKind
    phase: Phase
    source: HostFacts
    destination: HostFacts
    instance_name: str = ''
    disks: tuple | None = None
    block_device_mappings: tuple = ()
    base_image: BaseImage | None = None
    swap_bytes: int = 0
    ephemeral_bytes: int = 0
    migrate_disks: tuple | None = None
    copies_all_disks: bool = False
    tunnelled: bool = False
    service_token: bool = False
    user_token_remaining: float | None = None
    queued_migrations: int = 0
    throughput_bytes_per_s: float | None = None

    @property
    def local_disks(self):
        return tuple(d for d in self.disks or () if d.is_local)

    def bytes_to_copy(self):
        """Bytes the migration copies over the network, or None."""
        if not self.kind.copies_disks:
            return 0
        sizes = [d.allocated_size for d in self.local_disks]
        if any(size is None for size in sizes):
            return None
        total = sum(sizes)
        image = self.base_image
        if image is not None and image.copy_planned and image.size:
            total += image.size
        return total


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A precheck's answer.

    :param check: the precheck's entry-point name.
    :param status: :class:`Status`.
    :param reason: what was found, with the numbers.
    :param remedy: what the operator should do about it.
    :param details: machine-readable facts for notifications.
    """

    check: str
    status: Status
    reason: str = ''
    remedy: str = ''
    details: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def ok(cls, check, reason='', **details):
        return cls(check, Status.PASS, reason, '', details)

    @classmethod
    def skip(cls, check, why):
        """The check could not look (facts unknown); it does not block."""
        return cls(check, Status.SKIP, 'not applicable: %s' % why, '',
                   {'skipped': True})

    @classmethod
    def warn(cls, check, reason, remedy='', **details):
        return cls(check, Status.WARN, reason, remedy, details)

    @classmethod
    def fail(cls, check, reason, remedy, **details):
        return cls(check, Status.FAIL, reason, remedy, details)

    def message(self):
        text = '%s: %s' % (self.check, self.reason)
        if self.remedy:
            text += ' %s' % self.remedy
        return text

    def to_dict(self):
        return {'check': self.check, 'status': self.status.value,
                'reason': self.reason, 'remedy': self.remedy,
                'details': dict(self.details)}


class Precheck(abc.ABC):
    """Base class of a precheck plugin.

    Subclasses set :attr:`name` to their entry-point name, may list the
    :class:`Phase` values and :class:`MigrationKind` values they apply to,
    and may declare ``OPTS`` (registered in ``[migration_ext]``).
    """

    name = None
    phases = frozenset(Phase)
    kinds = frozenset(MigrationKind)
    OPTS = ()

    def __init__(self, conf):
        if self.OPTS:
            conf.register_opts(list(self.OPTS), group='migration_ext')
        self.conf = conf

    @property
    def options(self):
        return self.conf.migration_ext

    def applies_to(self, request):
        return request.phase in self.phases and request.kind in self.kinds

    @abc.abstractmethod
    def check(self, request):
        """Return a :class:`Verdict` for *request* (a PrecheckInput)."""


def gib(num_bytes):
    """Format bytes with one decimal, in GiB from 1 GiB up, else MiB."""
    if abs(num_bytes) >= GiB:
        return '%.1f GiB' % (num_bytes / GiB)
    return '%.1f MiB' % (num_bytes / MiB)
