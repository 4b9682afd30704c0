"""legacy_accounts: accounts of the old sites, imported for conversion (SPEC §6)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'legacy_accounts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('site', sa.String(length=100), nullable=False),
        sa.Column('legacy_id', sa.String(length=100), nullable=False),
        sa.Column('legacy_id_key', sa.String(length=100), nullable=False),
        sa.Column('member_type', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=True),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('mobile', sa.String(length=20), nullable=True),
        sa.Column('business_number', sa.String(length=10), nullable=True),
        sa.Column('company_name', sa.String(length=200), nullable=True),
        sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('password_hash', sa.String(length=255), nullable=True),
        sa.Column('password_scheme', sa.String(length=20), nullable=True),
        sa.Column('password_salt', sa.String(length=255), nullable=True),
        sa.Column('ci_hash', sa.String(length=64), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=True),
        sa.Column('converted_at', sa.DateTime(), nullable=True),
        sa.Column('imported_at', sa.DateTime(), nullable=False),
        sa.Column('row_digest', sa.String(length=64), nullable=False),
        sa.CheckConstraint("member_type in ('personal', 'master', 'regular', 'associate')",
                           name=op.f('ck_legacy_accounts_member_type')),
        sa.CheckConstraint("status in ('pending', 'converted', 'merged')",
                           name=op.f('ck_legacy_accounts_status')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                                name=op.f('fk_legacy_accounts_member_id_members'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_legacy_accounts')),
        sa.UniqueConstraint('site', 'legacy_id', name='uq_legacy_accounts_site_legacy_id'),
    )
    with op.batch_alter_table('legacy_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legacy_accounts_legacy_id_key'), ['legacy_id_key'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_legacy_accounts_ci_hash'), ['ci_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_legacy_accounts_member_id'), ['member_id'],
                              unique=False)
        batch_op.create_index('ix_legacy_accounts_name_email', ['name', 'email'], unique=False)
        batch_op.create_index('ix_legacy_accounts_name_mobile', ['name', 'mobile'], unique=False)


def downgrade() -> None:
    op.drop_table('legacy_accounts')
