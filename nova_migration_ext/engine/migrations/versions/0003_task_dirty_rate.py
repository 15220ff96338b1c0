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
"""The dirty rate and memory the scheduler assumes for each task.

Memory is what a live or block migration re-sends as its guest dirties
it; the rest (local disks) is copied once.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('tasks', sa.Column('dirty_bytes_per_s', sa.Float,
                                     nullable=True))
    op.add_column('tasks', sa.Column('memory_bytes', sa.BigInteger,
                                     nullable=True))
