"""export chunks: export files in the database, so every replica can serve them

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 17:50:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0016'
down_revision: Union[str, None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'handoff_export_chunk',
        sa.Column('export_id', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('sealed', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('export_id', 'name', 'seq'),
    )


def downgrade() -> None:
    op.drop_table('handoff_export_chunk')
