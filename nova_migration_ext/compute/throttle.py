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
"""The server metadata key through which an evacuation caps migrations.

Nova's API takes no bandwidth with a live migration, only the per-host
``[libvirt] live_migration_bandwidth``. The evacuator therefore writes its
policy's cap in the server's metadata before asking for the migration, and
the driver passes it to libvirt when the migration starts. The evacuator
removes the key when the VM's task ends.

Server metadata is writable by the VM's owner, so the value is signed: an
HMAC-SHA256, keyed by a secret only the operator's configuration holds
(the evacuator's ``[evacuator] bandwidth_cap_secret`` and the computes'
``[migration_ext] bandwidth_cap_secret``), over the instance's UUID, the
cap and an expiry time. The driver ignores any other value, so a tenant
can neither cap their VM's migration nor move a cap to another VM. This
module needs neither nova nor Django.
"""

import hashlib
import hmac
import time

BANDWIDTH_KEY = 'migration_ext:max_bandwidth_mib_per_s'
# 1: the driver copies the disks of a cold migration in two phases.
TWO_PHASE_KEY = 'migration_ext:two_phase_cold_copy'
VERSION = 'v1'


class InvalidCap(ValueError):
    """The key holds a value the operator's evacuator did not write."""


def _digest(secret, instance_uuid, cap, expires, key=BANDWIDTH_KEY):
    # Keys other than the cap's are signed too: a signed cap cannot be
    # copied into another key.
    parts = (VERSION, instance_uuid, str(cap), str(expires))
    if key != BANDWIDTH_KEY:
        parts += (key,)
    message = '|'.join(parts)
    return hmac.new(secret.encode('utf-8'), message.encode('utf-8'),
                    hashlib.sha256).hexdigest()


def sign(secret, instance_uuid, cap, ttl, now=None, key=BANDWIDTH_KEY):
    """The metadata value capping *instance_uuid* at *cap* MiB/s.

    It is valid for *ttl* seconds from *now* (default: the current time).
    With *key*, the value of that key instead (a positive number).
    """
    expires = int((time.time() if now is None else now) + ttl)
    return '%s:%d:%d:%s' % (VERSION, cap, expires,
                            _digest(secret, instance_uuid, cap, expires,
                                    key))


def _parse(value):
    try:
        version, cap, expires, digest = str(value).split(':')
        return version, int(cap), int(expires), digest
    except ValueError:
        raise InvalidCap('not a value signed by the evacuator')


def verified_cap(metadata, secret, instance_uuid, now=None,
                 key=BANDWIDTH_KEY):
    """The cap in MiB/s the evacuator signed for this instance, or None.

    :raises InvalidCap: when the key is there but holds anything else
        (tenant-written, for another instance, expired, or no *secret* to
        check it with); the message says which.
    """
    value = (metadata or {}).get(key)
    if value is None:
        return None
    if not secret:
        raise InvalidCap('no bandwidth_cap_secret is configured to check '
                         'it with')
    version, cap, expires, digest = _parse(value)
    if version != VERSION or not hmac.compare_digest(
            digest, _digest(secret, instance_uuid, cap, expires, key)):
        raise InvalidCap('its signature does not match this instance')
    if expires < (time.time() if now is None else now):
        raise InvalidCap('it expired')
    if cap <= 0:
        raise InvalidCap('it is not a positive number of MiB/s')
    return cap
