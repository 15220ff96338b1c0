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
"""Initial schema: evacuations, tasks, audit log, host facts.

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'evacuations',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('state', sa.String(32), nullable=False, index=True),
        sa.Column('source_hosts', sa.JSON, nullable=False),
        sa.Column('target_hosts', sa.JSON),
        sa.Column('target_aggregate', sa.String(255)),
        sa.Column('policy', sa.JSON, nullable=False),
        sa.Column('plan_summary', sa.JSON),
        sa.Column('created_by', sa.String(255), nullable=False),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Column('updated_at', sa.DateTime, nullable=False),
        sa.Column('started_at', sa.DateTime),
        sa.Column('finished_at', sa.DateTime),
        sa.Column('owner', sa.String(255)),
        sa.Column('lease_until', sa.DateTime),
        mysql_engine='InnoDB', mysql_charset='utf8mb4')
    op.create_table(
        'tasks',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('evacuation_id', sa.String(36),
                  sa.ForeignKey('evacuations.id', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('server_id', sa.String(36), nullable=False, index=True),
        sa.Column('server_name', sa.String(255), nullable=False),
        sa.Column('project_id', sa.String(255), nullable=False),
        sa.Column('source_host', sa.String(255), nullable=False),
        sa.Column('original_status', sa.String(32), nullable=False),
        sa.Column('method', sa.String(16)),
        sa.Column('target_host', sa.String(255)),
        sa.Column('state', sa.String(32), nullable=False, index=True),
        sa.Column('attempts', sa.Integer, nullable=False),
        sa.Column('live_failures', sa.Integer, nullable=False),
        sa.Column('bytes_total', sa.BigInteger, nullable=False),
        sa.Column('bytes_done', sa.BigInteger, nullable=False),
        sa.Column('expected_seconds', sa.Float, nullable=False),
        sa.Column('verdicts', sa.JSON),
        sa.Column('migration_id', sa.String(36)),
        sa.Column('phase', sa.String(64)),
        sa.Column('last_error', sa.Text),
        sa.Column('remedy', sa.Text),
        sa.Column('not_before', sa.DateTime),
        sa.Column('submitted_at', sa.DateTime),
        sa.Column('finished_at', sa.DateTime),
        sa.Column('updated_at', sa.DateTime, nullable=False),
        sa.UniqueConstraint('evacuation_id', 'server_id',
                            name='uniq_tasks0evacuation_id0server_id'),
        mysql_engine='InnoDB', mysql_charset='utf8mb4')
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('evacuation_id', sa.String(36),
                  sa.ForeignKey('evacuations.id', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('task_id', sa.Integer),
        sa.Column('at', sa.DateTime, nullable=False),
        sa.Column('actor', sa.String(255), nullable=False),
        sa.Column('action', sa.String(64), nullable=False),
        sa.Column('detail', sa.Text, nullable=False),
        mysql_engine='InnoDB', mysql_charset='utf8mb4')
    op.create_table(
        'host_facts',
        sa.Column('host', sa.String(255), primary_key=True),
        sa.Column('stats', sa.JSON, nullable=False),
        sa.Column('updated_at', sa.DateTime, nullable=False),
        mysql_engine='InnoDB', mysql_charset='utf8mb4')
