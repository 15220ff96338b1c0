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
"""token_lifetime: will the user's token outlive the migration?

Post-migration calls (port binding activation, volume attachment updates)
use the token of the user who asked for the migration. Unless nova sends a
service token with them, they fail with 401 once that token expires, and the
instance is left in MIGRATING or ERROR although it moved.
"""

from oslo_config import cfg

from nova_migration_ext.prechecks import base

OPTS = [
    cfg.IntOpt(
        'user_token_lifetime',
        default=3600,
        min=1,
        help='token_lifetime: lifetime of user tokens in seconds, as set by '
             'keystone\'s [token] expiration. The remaining life of a '
             'request\'s token is estimated from it and the request time.'),
    cfg.StrOpt(
        'token_lifetime_action',
        default='fail',
        choices=[('fail', 'refuse the migration'),
                 ('warn', 'log and notify, then go on')],
        help='token_lifetime: what to do when the migration is expected to '
             'outlive the user token and no service token will be sent.'),
]


class TokenLifetime(base.Precheck):
    """Refuse a migration expected to outlive the user's token."""

    name = 'token_lifetime'
    phases = frozenset([base.Phase.SOURCE])
    OPTS = OPTS

    def check(self, request):
        if request.service_token:
            return base.Verdict.ok(
                self.name, 'a service token is sent with the callbacks.')
        if request.user_token_remaining is None:
            return base.Verdict.skip(self.name, 'token lifetime unknown')
        to_copy = request.bytes_to_copy()
        if to_copy is None or not request.throughput_bytes_per_s:
            return base.Verdict.skip(self.name, 'duration unknown')
        duration = (to_copy / request.throughput_bytes_per_s *
                    (1 + request.queued_migrations))
        remaining = request.user_token_remaining
        details = {'estimated_seconds': round(duration),
                   'token_remaining_seconds': round(remaining)}
        if duration < remaining:
            return base.Verdict.ok(
                self.name, 'about %ds expected, token valid %ds more.'
                % (duration, remaining), **details)
        reason = ('Migration of instance %s is expected to take about %ds '
                  '(%s at %.0f MB/s, %d migration(s) queued ahead) but the '
                  'user token expires in %ds and no service token will be '
                  'sent.' % (request.instance_uuid, duration,
                             base.gib(to_copy),
                             request.throughput_bytes_per_s / 1e6,
                             request.queued_migrations, max(remaining, 0)))
        remedy = ('Set [service_user] send_service_user_token = true with '
                  'valid [service_user] credentials on every nova service, '
                  'or retry with a fresh token.')
        if self.options.token_lifetime_action == 'warn':
            return base.Verdict.warn(self.name, reason, remedy, **details)
        return base.Verdict.fail(self.name, reason, remedy, **details)
