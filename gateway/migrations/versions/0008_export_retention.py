"""export retention: a runner's lease (takeover after a crash) and when the files are removed

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 00:10:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('handoff_export', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_handoff_export_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('handoff_export', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoff_export_expires_at'))
        batch_op.drop_column('expires_at')
        batch_op.drop_column('lease_until')
