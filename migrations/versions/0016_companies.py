"""companies: registration, directory, operators, mileage (issue 7)

Revision ID: 0016_companies
Revises: 0015_snsx
Create Date: 2026-12-02 12:13:26.236885
"""
from alembic import op
import sqlalchemy as sa


revision = '0016_companies'
down_revision = '0015_snsx'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('company_directory',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('business_number', sa.String(length=10), nullable=False),
    sa.Column('name_ko', sa.String(length=200), nullable=False),
    sa.Column('ceo_ko', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=True),
    sa.Column('ceo_en', sa.String(length=100), nullable=True),
    sa.Column('corp_number', sa.String(length=13), nullable=True),
    sa.Column('postcode', sa.String(length=10), nullable=True),
    sa.Column('address_ko', sa.String(length=300), nullable=True),
    sa.Column('address_en', sa.String(length=300), nullable=True),
    sa.Column('phone', sa.String(length=30), nullable=True),
    sa.Column('fax', sa.String(length=30), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('homepage', sa.String(length=300), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_company_directory')),
    sa.UniqueConstraint('business_number', name=op.f('uq_company_directory_business_number'))
    )
    op.create_table('operators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('totp_sealed', sa.String(length=255), nullable=False),
    sa.Column('totp_last_step', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    sa.UniqueConstraint('login_id', name=op.f('uq_operators_login_id'))
    )
    op.create_table('company_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_company_notices_company_id_companies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_company_notices'))
    )
    with op.batch_alter_table('company_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_company_notices_company_id'), ['company_id'], unique=False)

    op.create_table('mileage_accounts',
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_mileage_accounts_balance')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_mileage_accounts_company_id_companies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('company_id', name=op.f('pk_mileage_accounts'))
    )
    op.create_table('mileage_ledger',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('service', sa.String(length=200), nullable=True),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind in ('earn', 'use')", name=op.f('ck_mileage_ledger_kind')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_mileage_ledger_amount')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_mileage_ledger_company_id_companies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_mileage_ledger_member_id_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mileage_ledger')),
    sa.UniqueConstraint('client_id', 'idempotency_key', name=op.f('uq_mileage_ledger_client_id'))
    )
    with op.batch_alter_table('mileage_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mileage_ledger_company_id'), ['company_id'], unique=False)

    op.create_table('service_participations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('service', sa.String(length=200), nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_service_participations_company_id_companies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_service_participations_member_id_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_participations')),
    sa.UniqueConstraint('client_id', 'idempotency_key', name=op.f('uq_service_participations_client_id'))
    )
    with op.batch_alter_table('service_participations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_participations_company_id'), ['company_id'], unique=False)

    op.create_table('uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handle', sa.String(length=43), nullable=False),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_uploads_member_id_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads')),
    sa.UniqueConstraint('handle', name=op.f('uq_uploads_handle'))
    )
    op.create_table('company_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind in ('registration', 'name_change')", name=op.f('ck_company_requests_kind')),
    sa.CheckConstraint("status in ('pending', 'approved', 'rejected')", name=op.f('ck_company_requests_status')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_company_requests_company_id_companies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by'], ['operators.id'], name=op.f('fk_company_requests_decided_by_operators'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['document_id'], ['uploads.id'], name=op.f('fk_company_requests_document_id_uploads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_company_requests_member_id_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_company_requests'))
    )
    with op.batch_alter_table('company_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_company_requests_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_company_requests_status'), ['status'], unique=False)

    with op.batch_alter_table('affiliations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_by', sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_affiliations_company_id'), ['company_id'], unique=False)

    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=20), server_default='active', nullable=False))
        batch_op.add_column(sa.Column('ceo_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('ceo_name_en', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('corp_number', sa.String(length=13), nullable=True))
        batch_op.add_column(sa.Column('profile', sa.Text(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('approval_password_hash', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('approval_password_changed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(),
                                      server_default=sa.func.current_timestamp(), nullable=False))
        batch_op.create_check_constraint('status', "status in ('active', 'pending', 'rejected')")

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_members_managed_company_id'), ['managed_company_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_members_managed_company_id'))

    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
        batch_op.drop_column('approval_password_changed_at')
        batch_op.drop_column('approval_password_hash')
        batch_op.drop_column('profile')
        batch_op.drop_column('corp_number')
        batch_op.drop_column('ceo_name_en')
        batch_op.drop_column('ceo_name')
        batch_op.drop_column('status')

    with op.batch_alter_table('affiliations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_affiliations_company_id'))
        batch_op.drop_column('ended_by')

    with op.batch_alter_table('company_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_company_requests_status'))
        batch_op.drop_index(batch_op.f('ix_company_requests_company_id'))

    op.drop_table('company_requests')
    op.drop_table('uploads')
    with op.batch_alter_table('service_participations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_participations_company_id'))

    op.drop_table('service_participations')
    with op.batch_alter_table('mileage_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mileage_ledger_company_id'))

    op.drop_table('mileage_ledger')
    op.drop_table('mileage_accounts')
    with op.batch_alter_table('company_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_company_notices_company_id'))

    op.drop_table('company_notices')
    op.drop_table('operators')
    op.drop_table('company_directory')
