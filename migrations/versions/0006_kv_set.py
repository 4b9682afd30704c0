"""embedded-mode sets (kv_set): a session's relying parties, a member's sessions

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-02 06:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kv_set',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('member', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'member', name=op.f('pk_kv_set'))
    )
    with op.batch_alter_table('kv_set', schema=None) as batch_op:
        batch_op.create_index('ix_kv_set_expires_at', ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('kv_set', schema=None) as batch_op:
        batch_op.drop_index('ix_kv_set_expires_at')
    op.drop_table('kv_set')
