"""staff accounts: named people acting through a client, signed in individually

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 16:20:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0018'
down_revision: Union[str, None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'staff_account',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('client_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('login', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column('jurisdiction', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['client_id'], ['api_client.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('login'),
    )
    op.create_index('ix_staff_account_client_id', 'staff_account', ['client_id'])


def downgrade() -> None:
    op.drop_index('ix_staff_account_client_id', table_name='staff_account')
    op.drop_table('staff_account')
