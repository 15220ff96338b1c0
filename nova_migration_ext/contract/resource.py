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
"""One way to write a resource to JSON and to read it back.

A resource is a dataclass deriving from :class:`Resource`. ``to_dict``
gives the API's JSON (timestamps as ISO 8601 strings, nested resources as
objects); ``from_dict`` reads it back, refusing unknown or missing keys
with a :class:`ContractError` that names them, so a key that drifts
between the server and a client is an error, never a silent default.
"""

import dataclasses
import datetime


class ContractError(ValueError):
    """JSON that is not the resource it should be; the message says why."""


def nested(resource_class, **kwargs):
    """A field holding one *resource_class* (or None)."""
    return dataclasses.field(metadata={'load': resource_class.from_dict},
                             **kwargs)


def many(resource_class, **kwargs):
    """A field holding a list of *resource_class* (or None)."""
    def load(items):
        if not isinstance(items, list):
            raise ContractError('expected a list of %s, not %r'
                                % (resource_class.__name__, items))
        return [resource_class.from_dict(item) for item in items]
    return dataclasses.field(metadata={'load': load}, **kwargs)


def timestamp(**kwargs):
    """A field holding a :class:`datetime.datetime` (or None)."""
    return dataclasses.field(
        metadata={'load': datetime.datetime.fromisoformat}, **kwargs)


def pair(**kwargs):
    """A field holding a 2-tuple, written as a JSON list (or None)."""
    return dataclasses.field(metadata={'load': tuple}, **kwargs)


def _dump(value):
    if isinstance(value, Resource):
        return value.to_dict()
    if isinstance(value, (list, tuple, frozenset)):
        return [_dump(item) for item in value]
    if isinstance(value, dict):
        return {key: _dump(item) for key, item in value.items()}
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def _required(field):
    return (field.default is dataclasses.MISSING and
            field.default_factory is dataclasses.MISSING)


class Resource:
    """Base of the contract's dataclasses: one serialisation both ways."""

    def to_dict(self):
        """The API's JSON of this resource (every field, None as null)."""
        return {field.name: _dump(getattr(self, field.name))
                for field in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data, strict=True):
        """The resource written in *data*, as ``to_dict`` writes it.

        :param strict: refuse keys this resource does not have (else they
            are left out, for records written by an older release).
        :raises ContractError: naming the unknown, missing or unreadable
            keys.
        """
        name = cls.__name__
        if not isinstance(data, dict):
            raise ContractError('A %s is a JSON object, not %r.'
                                % (name, data))
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown and strict:
            raise ContractError(
                'Unknown keys in a %s: %s (it has %s).'
                % (name, ', '.join(unknown), ', '.join(sorted(fields))))
        missing = sorted(key for key, field in fields.items()
                         if _required(field) and key not in data)
        if missing:
            raise ContractError('A %s needs %s.' % (name, ', '.join(missing)))
        values = {}
        for key, value in data.items():
            if key not in fields:
                continue
            load = fields[key].metadata.get('load')
            try:
                values[key] = load(value) if load and value is not None \
                    else value
            except (TypeError, ValueError) as exc:
                raise ContractError('Key %s of a %s: %s'
                                    % (key, name, exc))
        return cls(**values)
