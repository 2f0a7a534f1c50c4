"""collection review levels: a submission's review step, the reviews, the collection plan, who runs a school

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 17:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0021'
down_revision: Union[str, None] = '0020'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Plain ADD and DROP COLUMN (SQLite has both): a batch copy of ``batch`` would drop a table that
    # batch rows refer to, which SQLite's foreign keys refuse.
    op.add_column('batch', sa.Column('review_step', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
    op.add_column('batch', sa.Column('school_code', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True))
    op.add_column('batch', sa.Column('school_region', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=True))
    op.add_column('batch', sa.Column('city_run', sa.Boolean(), nullable=True))
    op.add_column('batch', sa.Column('step_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('batch', sa.Column('replaces', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
    op.create_index('ix_batch_review_step', 'batch', ['review_step', 'school_region'])
    op.create_table(
        'batch_review',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('batch_id', sqlmodel.sql.sqltypes.AutoString(length=40), sa.ForeignKey('batch.id'), nullable=False),
        sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('staff_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('staff_role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('reason', sa.String(), nullable=True),
        sa.Column('rows_json', sa.String(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_batch_review_batch_id', 'batch_review', ['batch_id'])
    op.create_table(
        'collection_plan',
        sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=6), primary_key=True),
        sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=20), primary_key=True),
        sa.Column('days', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column(
        'school',
        sa.Column('run_by', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False, server_default='county'),
    )


def downgrade() -> None:
    op.drop_column('school', 'run_by')
    op.drop_table('collection_plan')
    op.drop_index('ix_batch_review_batch_id', table_name='batch_review')
    op.drop_table('batch_review')
    op.drop_index('ix_batch_review_step', table_name='batch')
    for column in ('replaces', 'step_at', 'city_run', 'school_region', 'school_code', 'review_step'):
        op.drop_column('batch', column)
