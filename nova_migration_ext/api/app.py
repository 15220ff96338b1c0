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
"""The API's WSGI application: routes, bodies, policy, errors.

Every answer is JSON. An error is ``{"error": {"code", "title",
"message"}}`` and its message says what to fix; a refused request
changes nothing.
"""

import json
import re

import jsonschema
from keystonemiddleware import auth_token
from oslo_context import context as oslo_context
from oslo_log import log as logging
from oslo_policy import policy as oslo_policy
import webob
import webob.dec

from nova_migration_ext.api import policies
from nova_migration_ext.api import schemas
from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.contract import states
from nova_migration_ext.engine import nova_gateway
from nova_migration_ext.engine import planner
from nova_migration_ext.engine import service
from nova_migration_ext.engine import store as store_mod

LOG = logging.getLogger(__name__)

VERSION = {'id': 'v1', 'status': 'CURRENT', 'min_version': '1.0',
           'max_version': '1.0'}
TITLES = {400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
          404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict',
          500: 'Internal Server Error', 503: 'Service Unavailable'}
DRAIN = r'/v1/drains/(?P<evacuation_id>[^/]+)'


class ApiError(Exception):
    """An answer other than success: HTTP *code* and what to do."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _error_body(code, message):
    return {'error': {'code': code, 'title': TITLES.get(code, ''),
                      'message': message}}


def actor_of(environ):
    """Who acts, from the headers auth_token set from the token."""
    user = environ.get('HTTP_X_USER_NAME') or environ.get('HTTP_X_USER_ID')
    return '%s (user %s, domain %s, project %s)' % (
        user, environ.get('HTTP_X_USER_ID'),
        environ.get('HTTP_X_USER_DOMAIN_NAME'),
        environ.get('HTTP_X_PROJECT_NAME') or
        environ.get('HTTP_X_PROJECT_ID'))


def validate(schema, body):
    """Raise a 400 naming the first place where *body* breaks *schema*."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is not None:
        where = '/'.join(str(p) for p in error.absolute_path) or 'the body'
        raise ApiError(400, 'Invalid request: at %s, %s. Nothing was '
                            'changed.' % (where, error.message))


class Application:
    """The drains' resources, on an :class:`~.engine.Engine`."""

    def __init__(self, engine, enforcer):
        self.engine = engine
        self.enforcer = enforcer
        self.routes = [
            ('GET', r'/v1/?', self.version),
            ('GET', r'/v1/drains/?', self.list),
            ('POST', r'/v1/drains/?', self.create),
            ('GET', DRAIN + r'/?', self.show),
            ('POST', DRAIN + r'/action/?', self.action),
            ('GET', r'/v1/hosts/?', self.hosts),
        ]

    @webob.dec.wsgify
    def __call__(self, request):
        try:
            handler, kwargs = self._route(request)
            code, body = handler(request, **kwargs)
        except ApiError as exc:
            code, body = exc.code, _error_body(exc.code, exc.message)
        except Exception:
            LOG.exception('%s %s failed', request.method, request.path)
            code, body = 500, _error_body(
                500, 'The host-drain API failed; its log says why.')
        return webob.Response(status=code, json_body=body)

    def _route(self, request):
        path_found = False
        for method, pattern, handler in self.routes:
            match = re.fullmatch(pattern, request.path_info)
            if match:
                path_found = True
                if request.method == method:
                    return handler, match.groupdict()
        if path_found:
            raise ApiError(405, '%s is not allowed on %s.'
                           % (request.method, request.path_info))
        raise ApiError(404, 'No resource at %s; the API lives under /v1.'
                       % request.path_info)

    # -- checks ---------------------------------------------------------------

    def _authorize(self, request, action):
        rule = policies.PREFIX + action
        context = oslo_context.RequestContext.from_environ(request.environ)
        try:
            self.enforcer.authorize(rule, {}, context.to_policy_values(),
                                    do_raise=True)
        except oslo_policy.PolicyNotAuthorized:
            raise ApiError(403, 'Policy rule %s does not allow %s to do '
                                'that (default: %s). Ask the cloud '
                                'operator for the role it needs.'
                           % (rule, actor_of(request.environ),
                              policies.ADMIN))

    @staticmethod
    def _body(request, schema):
        try:
            body = json.loads(request.body or b'null')
        except ValueError as exc:
            raise ApiError(400, 'The body is not JSON (%s). Nothing was '
                                'changed.' % exc)
        validate(schema, body)
        return body

    def _show(self, evacuation_id):
        try:
            return self.engine.show(evacuation_id,
                                    with_audit=True).to_dict()
        except store_mod.NotFound as exc:
            raise ApiError(404, str(exc))

    # -- resources ------------------------------------------------------------

    def version(self, request):
        return 200, {'version': VERSION}

    def list(self, request):
        self._authorize(request, 'list')
        return 200, {'drains': [drain.to_dict() for drain in
                                service.summaries(self.engine)]}

    def show(self, request, evacuation_id):
        self._authorize(request, 'show')
        return 200, {'drain': self._show(evacuation_id)}

    def create(self, request):
        self._authorize(request, 'create')
        body = self._body(request, schemas.PLAN)
        try:
            policy = drain_policy.Policy.from_dict(body.get('policy') or {})
            policy.validate()
            if body.get('dry_run'):
                return 200, {'plan': service.dry_run_plan(
                    self.engine, body['sources'], body.get('targets'),
                    policy, body.get('target_aggregate')).to_dict()}
            evacuation_id, _plan = self.engine.plan(
                body['sources'], body.get('targets'), policy,
                actor=actor_of(request.environ), name=body.get('name', ''),
                target_aggregate=body.get('target_aggregate'))
        except (planner.PlanError, ValueError, TypeError) as exc:
            raise ApiError(400, '%s Nothing was planned.' % exc)
        return 201, {'drain': self._show(evacuation_id)}

    def action(self, request, evacuation_id):
        body = self._body(request, schemas.ACTION)
        [(operation, argument)] = body.items()
        self._authorize(request, operation)
        args = (argument['server'],) if argument else ()
        extra = {key: argument[key] for key in ('allow_downtime', 'target')
                 if argument and argument.get(key)}
        try:
            getattr(self.engine, operation)(
                evacuation_id, *args, actor=actor_of(request.environ),
                **extra)
        except states.InvalidTransition as exc:
            raise ApiError(409, str(exc))
        except ValueError as exc:           # a target that cannot be one
            raise ApiError(400, '%s Nothing was changed.' % exc)
        except LookupError as exc:    # store.NotFound, or an unknown VM
            raise ApiError(404, str(exc))
        return 200, {'drain': self._show(evacuation_id)}

    def hosts(self, request):
        self._authorize(request, 'hosts')
        try:
            found = service.hosts(self.engine)
        except nova_gateway.ERRORS as exc:
            LOG.warning('Listing the compute hosts failed: %s', exc)
            raise ApiError(503, 'Nova did not list the compute hosts (%s). '
                                'Check that nova-api answers and that the '
                                'host-drain API\'s [nova] credentials are '
                                'valid, then try again.' % exc)
        return 200, {'hosts': [host.to_dict() for host in found]}


class Versions:
    """The version document, for anyone; the rest goes through *app*."""

    def __init__(self, app):
        self.app = app

    @webob.dec.wsgify
    def __call__(self, request):
        if request.path_info in ('', '/'):
            return webob.Response(status=300, json_body={
                'versions': [dict(VERSION, links=[{
                    'rel': 'self',
                    'href': request.host_url + '/v1/'}])]})
        return request.get_response(self.app)


def build(conf, engine):
    """The API as served: versions, then auth_token, then the resources.

    :param conf: the ConfigOpts with ``[keystone_authtoken]`` and
        ``[oslo_policy]``.
    """
    resources = Application(engine, policies.enforcer(conf))
    return Versions(auth_token.AuthProtocol(
        resources, {'oslo_config_config': conf}))
