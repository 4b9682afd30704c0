"""marketing_notices: marketing-consent reconfirmation notices sent (issue 6, `idp jobs run`)

Revision ID: 0011_reset
Revises: 0010
Create Date: 2026-12-02 09:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_reset'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('marketing_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('consent_at', sa.DateTime(), nullable=False),
    sa.Column('period', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('sent_by', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_marketing_notices_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_notices')),
    sa.UniqueConstraint('member_id', 'channel', 'consent_at', 'period', name=op.f('uq_marketing_notices_member_id'))
    )
    with op.batch_alter_table('marketing_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_marketing_notices_member_id'), ['member_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('marketing_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_marketing_notices_member_id'))

    op.drop_table('marketing_notices')
