"""sns_links: SNS accounts (Naver, Kakao, Google, Facebook) that sign in members (issue 9)

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-02 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011_reset'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sns_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('linked_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                            name=op.f('fk_sns_links_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sns_links')),
    sa.UniqueConstraint('provider', 'subject', name=op.f('uq_sns_links_provider'))
    )
    with op.batch_alter_table('sns_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sns_links_member_id'), ['member_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sns_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sns_links_member_id'))
    op.drop_table('sns_links')
