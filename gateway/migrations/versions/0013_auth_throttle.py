"""auth throttle: failed sign-ins per client id and per source address, shared by every process

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 09:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0013'
down_revision: Union[str, None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'auth_throttle',
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'key'),
    )
    op.create_index('ix_auth_throttle_last_failure_at', 'auth_throttle', ['last_failure_at'])


def downgrade() -> None:
    op.drop_index('ix_auth_throttle_last_failure_at', table_name='auth_throttle')
    op.drop_table('auth_throttle')
