"""back-channel logout outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 06:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('backchannel_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('sub', sa.String(length=64), nullable=False),
    sa.Column('sid', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.Double(), nullable=False),
    sa.Column('claim', sa.String(length=32), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backchannel_outbox'))
    )
    with op.batch_alter_table('backchannel_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_backchannel_outbox_next_attempt_at', ['next_attempt_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('backchannel_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_backchannel_outbox_next_attempt_at')

    op.drop_table('backchannel_outbox')
