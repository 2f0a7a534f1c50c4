"""problem persons: every person a problem record is about, so that it is visible where they are

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:30:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'problem_person',
        sa.Column('problem_id', sa.Integer(), sa.ForeignKey('problem_record.id'), primary_key=True),
        sa.Column('person_id', sa.Integer(), sa.ForeignKey('person.id'), primary_key=True),
    )
    op.create_index('ix_problem_person_person_id', 'problem_person', ['person_id'])
    # Existing records: their subject and their candidates (a space-separated list).
    conn = op.get_bind()
    rows = conn.execute(
        sa.text('SELECT id, subject_person_id, candidate_person_ids FROM problem_record')
    ).all()
    pairs = set()
    for problem_id, subject_id, candidates in rows:
        if subject_id is not None:
            pairs.add((problem_id, subject_id))
        for person_id in (candidates or '').split():
            pairs.add((problem_id, int(person_id)))
    if pairs:
        conn.execute(
            sa.text('INSERT INTO problem_person (problem_id, person_id) VALUES (:p, :q)'),
            [{'p': p, 'q': q} for p, q in sorted(pairs)],
        )


def downgrade() -> None:
    op.drop_index('ix_problem_person_person_id', table_name='problem_person')
    op.drop_table('problem_person')
