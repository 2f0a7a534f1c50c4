"""transfer authority: a status event of leaving names the school the student leaves for

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 00:10:00

``transferred_in`` is accepted only at the school named when the student left, so the
``transferred_out`` event stores that school. Events recorded before have none.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('status_event', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('to_school_code', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('status_event', schema=None) as batch_op:
        batch_op.drop_column('to_school_code')
