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
"""Version 1 of the API: the drains, their actions and the hosts.

The caller's keystoneauth session authenticates every request; the
endpoint comes from the Keystone catalog (service type ``host-drain``)
unless *endpoint_override* names one. Answers are the contract's
resources (:mod:`nova_migration_ext.contract.drains`,
:mod:`~nova_migration_ext.contract.hosts`); an error is raised
as :class:`ApiError` with the API's own message.
"""

from keystoneauth1 import adapter
from keystoneauth1 import exceptions as ks_exceptions

from nova_migration_ext import client
from nova_migration_ext.contract import drains
from nova_migration_ext.contract import hosts as contract_hosts
from nova_migration_ext.contract import resource

PREFIX = '/v1/drains'
HOSTS = '/v1/hosts'


class ApiError(Exception):
    """The API refused or failed a request; *message* says what to do."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return '%s (HTTP %s)' % (self.message, self.code)


def _error(exc):
    """An :class:`ApiError` from keystoneauth's HTTP error *exc*."""
    message = None
    try:
        message = exc.response.json()['error']['message']
    except Exception:
        pass
    return ApiError(getattr(exc, 'http_status', None),
                    message or str(exc))


class Client:
    """The API's evacuations, as the token's user.

    :param session: a keystoneauth1 session.
    """

    def __init__(self, session, service_type=client.SERVICE_TYPE,
                 interface='public', region_name=None,
                 endpoint_override=None, timeout=120):
        self.http = adapter.Adapter(
            session, service_type=service_type, interface=interface,
            region_name=region_name, endpoint_override=endpoint_override)
        self.timeout = timeout

    def _request(self, method, path, body=None):
        kwargs = {'raise_exc': True, 'timeout': self.timeout,
                  'headers': {'Accept': 'application/json'}}
        if body is not None:
            kwargs['json'] = body
        try:
            return self.http.request(path, method, **kwargs).json()
        except ValueError:
            raise ApiError(None, 'The answer at %s is not JSON: is the '
                                 'endpoint the host-drain API?' % path)
        except ks_exceptions.HttpError as exc:
            raise _error(exc)
        except ks_exceptions.EndpointNotFound:
            raise ApiError(None, 'No %s endpoint in the catalog: register '
                                 'the API (README, "The REST API") or '
                                 'give its URL as the endpoint override.'
                           % self.http.service_type)

    @staticmethod
    def _read(resource_class, data):
        try:
            return resource_class.from_dict(data)
        except resource.ContractError as exc:
            raise ApiError(None, 'The API answered with something this '
                                 'client cannot read (%s): are client and '
                                 'API of the same release?' % exc)

    def _action(self, evacuation_id, action, argument=None):
        return self._read(drains.Drain, self._request(
            'POST', '%s/%s/action' % (PREFIX, evacuation_id),
            {action: argument})['drain'])

    def list(self):
        """Every drain, as summaries (no tasks nor audit)."""
        return [self._read(drains.Drain, data)
                for data in self._request('GET', PREFIX)['drains']]

    def show(self, evacuation_id):
        """The :class:`~.drains.Drain`, its tasks and its audit log."""
        return self._read(drains.Drain, self._request(
            'GET', '%s/%s' % (PREFIX, evacuation_id))['drain'])

    def hosts(self):
        """Every compute host, by name, with what its VMs use."""
        return [self._read(contract_hosts.Host, data)
                for data in self._request('GET', HOSTS)['hosts']]

    def plan(self, sources, targets=None, policy=None, name='',
             dry_run=False, target_aggregate=None):
        """Plan a drain under *policy* (a :class:`~.policy.Policy`).

        :returns: the new :class:`~.drains.Drain`; with *dry_run*, the
            :class:`~.drains.Plan` it would follow, stored nowhere.
        """
        body = {'sources': list(sources), 'name': name,
                'dry_run': bool(dry_run)}
        if policy is not None:
            body['policy'] = policy.to_dict()
        if targets:
            body['targets'] = list(targets)
        if target_aggregate:
            body['target_aggregate'] = target_aggregate
        answer = self._request('POST', PREFIX, body)
        if dry_run:
            return self._read(drains.Plan, answer['plan'])
        return self._read(drains.Drain, answer['drain'])

    def start(self, evacuation_id):
        return self._action(evacuation_id, 'start')

    def pause(self, evacuation_id):
        return self._action(evacuation_id, 'pause')

    def resume(self, evacuation_id):
        return self._action(evacuation_id, 'resume')

    def cancel(self, evacuation_id):
        return self._action(evacuation_id, 'cancel')

    def retry(self, evacuation_id, server, allow_downtime=False,
              target=None):
        """Try *server* again; with *target*, on that host instead."""
        argument = {'server': server}
        if allow_downtime:
            argument['allow_downtime'] = True
        if target:
            argument['target'] = target
        return self._action(evacuation_id, 'retry', argument)

    def skip(self, evacuation_id, server):
        return self._action(evacuation_id, 'skip', {'server': server})
