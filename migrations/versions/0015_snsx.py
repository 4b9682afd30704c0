"""sns_inactivity_notices: the notice 30 days before a simple member's 3-year deletion (issue 9)

Revision ID: 0015_snsx
Revises: 0014_request_id
Create Date: 2026-12-02 10:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_snsx'
down_revision = '0014_request_id'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sns_inactivity_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('sent_by', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                            name=op.f('fk_sns_inactivity_notices_member_id_members'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sns_inactivity_notices')),
    sa.UniqueConstraint('member_id', 'last_seen',
                        name=op.f('uq_sns_inactivity_notices_member_id'))
    )
    with op.batch_alter_table('sns_inactivity_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sns_inactivity_notices_member_id'), ['member_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sns_inactivity_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sns_inactivity_notices_member_id'))
    op.drop_table('sns_inactivity_notices')
