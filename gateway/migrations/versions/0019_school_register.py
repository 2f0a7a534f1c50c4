"""school register and school year: schools, grades, the close of a school year

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 16:20:00

The register of schools every registration, claim and transfer is checked against; a student's grade
(on the person and on each status event); the close of a school year per region, whose state also
freezes transfers while it runs.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0019'
down_revision: Union[str, None] = '0018'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'school',
        sa.Column('code', sa.String(length=10), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('region', sa.String(length=6), nullable=False),
        sa.Column('type', sa.String(length=20), nullable=False),
        sa.Column('levels', sa.String(length=40), nullable=False),
        sa.Column('enrolment', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('code'),
    )
    op.create_index('ix_school_region', 'school', ['region'])
    op.create_table(
        'school_year_close',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('region', sa.String(length=6), nullable=False),
        sa.Column('school_year', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('graduated', sa.Integer(), nullable=False),
        sa.Column('promoted', sa.Integer(), nullable=False),
        sa.Column('repeaters', sa.Integer(), nullable=False),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('region', 'school_year', name='uq_school_year_close'),
    )
    op.create_index('ix_school_year_close_state', 'school_year_close', ['state'])
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grade', sa.Integer(), nullable=True))
    with op.batch_alter_table('status_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grade', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('school_year', sa.Integer(), nullable=True))
    op.create_index('ix_status_event_school_year', 'status_event', ['school_year', 'person_id'])


def downgrade() -> None:
    op.drop_index('ix_status_event_school_year', table_name='status_event')
    # Plain DROP COLUMN (SQLite has it since 3.35): a batch copy of person would have to drop the
    # table other rows refer to, which SQLite's foreign keys refuse once persons exist.
    op.drop_column('status_event', 'school_year')
    op.drop_column('status_event', 'grade')
    op.drop_column('person', 'grade')
    op.drop_index('ix_school_year_close_state', table_name='school_year_close')
    op.drop_table('school_year_close')
    op.drop_index('ix_school_region', table_name='school')
    op.drop_table('school')
