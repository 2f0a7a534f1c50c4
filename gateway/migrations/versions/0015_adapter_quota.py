"""adapter quota: calls per source and day, counted by every gateway process together

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 18:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0015'
down_revision: Union[str, None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'adapter_quota',
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('used', sa.Integer(), nullable=False),
        sa.Column('exhausted_by_source', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('source', 'day'),
    )


def downgrade() -> None:
    op.drop_table('adapter_quota')
