"""batch run progress and source: when the current run of a batch started, how many rows were done
then, and the digest of the file it came from (so importing the same file again resumes it)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 17:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0017'
down_revision: Union[str, None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('batch') as batch:
        batch.add_column(sa.Column('run_started_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('run_started_rows', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('source_digest', sa.String(length=64), nullable=True))
    op.create_index('ix_batch_client_source', 'batch', ['client_id', 'source_digest'])


def downgrade() -> None:
    op.drop_index('ix_batch_client_source', table_name='batch')
    # Plain DROP COLUMN (SQLite has it since 3.35): a batch copy of the table would drop a table
    # that batch rows refer to, which SQLite's foreign keys refuse.
    op.drop_column('batch', 'source_digest')
    op.drop_column('batch', 'run_started_rows')
    op.drop_column('batch', 'run_started_at')
