"""match model versions: the registry's own matching models, and the model behind every auto-link

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 16:20:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0020'
down_revision: Union[str, None] = '0019'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'match_model_version',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('config_label', sa.String(length=80), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('parameters_json', sa.Text(), nullable=False),
        sa.Column('frequencies_json', sa.Text(), nullable=True),
        sa.Column('match_probability', sa.Float(), nullable=False),
        sa.Column('probable_probability', sa.Float(), nullable=False),
        sa.Column('review_probability', sa.Float(), nullable=False),
        sa.Column('description', sa.String(length=500), nullable=False),
        sa.Column('based_on', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('activated_by', sa.String(length=200), nullable=True),
    )
    op.create_index('ix_match_model_version_status', 'match_model_version', ['status'])
    op.create_table(
        'match_decision',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('person_id', sa.Integer(), sa.ForeignKey('person.id'), nullable=False),
        sa.Column('model_version', sa.Integer(), nullable=True),
        sa.Column('config_label', sa.String(length=80), nullable=False),
        sa.Column('probability', sa.Float(), nullable=False),
        sa.Column('explanation_json', sa.String(), nullable=False),
        sa.Column('submitted_encrypted', sa.String(), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_by', sa.String(length=200), nullable=False),
        sa.Column(
            'reviewed_problem_id', sa.Integer(), sa.ForeignKey('problem_record.id'), nullable=True
        ),
    )
    op.create_index('ix_match_decision_person_id', 'match_decision', ['person_id'])
    op.create_index('ix_match_decision_decided_at', 'match_decision', ['decided_at'])


def downgrade() -> None:
    op.drop_index('ix_match_decision_decided_at', table_name='match_decision')
    op.drop_index('ix_match_decision_person_id', table_name='match_decision')
    op.drop_table('match_decision')
    op.drop_index('ix_match_model_version_status', table_name='match_model_version')
    op.drop_table('match_model_version')
