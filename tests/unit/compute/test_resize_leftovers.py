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
"""When a source's ``_resize`` folder may go without a confirm."""

import datetime
import os
import types

from nova_migration_ext.compute import resize_leftovers
from tests.unit import utils

NOW = datetime.datetime(2026, 12, 1, 12, 0, 0)
UTC = datetime.timezone.utc
VERIFIED = {'verified': True, 'disks': []}


def migration(id=1, status='finished', source=utils.SOURCE,
              dest=utils.DESTINATION, kind='migration', minutes_ago=30):
    when = (NOW - datetime.timedelta(minutes=minutes_ago)).replace(
        tzinfo=UTC)   # nova's records carry their time zone
    return types.SimpleNamespace(
        id=id, status=status, source_compute=source, dest_compute=dest,
        migration_type=kind, created_at=when, updated_at=when)


def instance(host=utils.DESTINATION, vm_state='active', task_state=None):
    return types.SimpleNamespace(host=host, vm_state=vm_state,
                                 task_state=task_state)


class TestVerdict(utils.TestCase):

    def verdict(self, vm=None, migrations=None, record=VERIFIED,
                grace=600):
        return resize_leftovers.verdict(
            utils.SOURCE, vm or instance(),
            [migration()] if migrations is None else migrations,
            record, grace, now=NOW)

    def test_reset_after_a_verified_move_may_go(self):
        for status in resize_leftovers.UNCONFIRMED:
            for vm_state in resize_leftovers.RESTING:
                self.assertIsNone(self.verdict(
                    instance(vm_state=vm_state),
                    [migration(status=status)]))

    def test_an_older_migration_in_the_past_does_not_matter(self):
        self.assertIsNone(self.verdict(migrations=[
            migration(id=1, status='confirmed', minutes_ago=90,
                      source=utils.DESTINATION, dest=utils.SOURCE),
            migration(id=2)]))

    def test_resize_waiting_for_confirm_stays(self):
        # VERIFY_RESIZE: nova's own confirm or revert will come.
        self.assertIn('resized', self.verdict(instance(vm_state='resized')))

    def test_vm_with_a_task_stays(self):
        self.assertIn('resize_reverting', self.verdict(
            instance(task_state='resize_reverting')))

    def test_vm_in_error_stays_for_the_operator(self):
        self.assertIn('error', self.verdict(instance(vm_state='error')))

    def test_vm_back_on_this_host_stays(self):
        self.assertEqual('the VM lives on this host', self.verdict(
            instance(host=utils.SOURCE)))

    def test_migration_under_way_stays(self):
        for status in ('pre-migrating', 'migrating', 'post-migrating',
                       'reverting', 'confirming', 'accepted', 'queued',
                       'running', 'preparing'):
            reason = self.verdict(migrations=[
                migration(id=1),
                migration(id=2, status=status, minutes_ago=1)])
            self.assertEqual('migration 2 is %s' % status, reason)

    def test_later_move_elsewhere_stays(self):
        # Moved on from the destination since: the folder's migration is
        # not the last one; leave it to a person.
        reason = self.verdict(
            instance(host='c7-09'),
            [migration(id=1),
             migration(id=2, status='completed', kind='live-migration',
                       source=utils.DESTINATION, dest='c7-09',
                       minutes_ago=20)])
        self.assertIn('not an unconfirmed cold move', reason)

    def test_move_to_another_host_than_the_vm_s_stays(self):
        self.assertIn('not an unconfirmed cold move', self.verdict(
            instance(host='c7-09')))

    def test_move_from_another_host_stays(self):
        self.assertIn('not an unconfirmed cold move', self.verdict(
            migrations=[migration(source='c7-02')]))

    def test_confirmed_or_reverted_move_stays(self):
        for status in ('confirmed', 'reverted'):
            self.assertIn('not an unconfirmed cold move', self.verdict(
                migrations=[migration(status=status)]))

    def test_no_migration_stays(self):
        self.assertEqual('nova has no migration of the VM',
                         self.verdict(migrations=[]))

    def test_recent_change_waits_for_the_grace(self):
        reason = self.verdict(migrations=[migration(minutes_ago=2)])
        self.assertEqual('migration 1 changed 120 s ago; waiting 600 s',
                         reason)
        self.assertIsNone(self.verdict(
            migrations=[migration(minutes_ago=2)], grace=60))

    def test_stock_copy_without_record_stays(self):
        self.assertIn('no copy record', self.verdict(record=None))

    def test_unverified_copy_stays(self):
        self.assertIn('not verified', self.verdict(
            record={'verified': False, 'disks': []}))


class TestFolders(utils.TestCase):

    def test_only_resize_folders_of_uuids(self):
        root = self.useFixture(utils.fixtures.TempDir()).path
        uuid = utils.INSTANCE_UUID
        for name in (uuid, uuid + '_resize', uuid + '_resize_unverified',
                     'not-a-uuid_resize', '_base'):
            os.mkdir(os.path.join(root, name))
        open(os.path.join(root, 'b' + uuid[1:] + '_resize'), 'w').close()
        self.assertEqual([(uuid, os.path.join(root, uuid + '_resize'))],
                         resize_leftovers.folders(root))

    def test_missing_instances_path(self):
        self.assertEqual([], resize_leftovers.folders('/nonexistent/x'))
