"""corrections: the history of corrected identity records

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 23:50:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('record_correction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=19), nullable=False),
    sa.Column('changed_fields', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('previous_encrypted', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('evidence_ref', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('corrected_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('corrected_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('record_correction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_record_correction_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('record_correction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_record_correction_person_id'))
    op.drop_table('record_correction')
