"""member_identities, dev_messages, members' optional profile columns (issue 6)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 08:54:39.570130
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dev_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dev_messages'))
    )
    with op.batch_alter_table('dev_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dev_messages_created_at'), ['created_at'], unique=False)

    op.create_table('member_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('ci_hash', sa.String(length=64), nullable=False),
    sa.Column('di_hash', sa.String(length=64), nullable=False),
    sa.Column('ci_sealed', sa.Text(), nullable=False),
    sa.Column('di_sealed', sa.Text(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('birthdate', sa.Date(), nullable=False),
    sa.Column('gender', sa.String(length=1), nullable=True),
    sa.Column('nationality', sa.String(length=10), nullable=False),
    sa.Column('carrier', sa.String(length=10), nullable=True),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('vendor', sa.String(length=30), nullable=False),
    sa.Column('verified_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_identities_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_identities')),
    sa.UniqueConstraint('ci_hash', name=op.f('uq_member_identities_ci_hash')),
    sa.UniqueConstraint('di_hash', name=op.f('uq_member_identities_di_hash')),
    sa.UniqueConstraint('member_id', name=op.f('uq_member_identities_member_id'))
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_en', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('fax', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('department', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('position', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('address_en', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('phone_carrier', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_at')
        batch_op.drop_column('phone_carrier')
        batch_op.drop_column('address_en')
        batch_op.drop_column('position')
        batch_op.drop_column('department')
        batch_op.drop_column('fax')
        batch_op.drop_column('name_en')

    op.drop_table('member_identities')
    with op.batch_alter_table('dev_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dev_messages_created_at'))

    op.drop_table('dev_messages')
