"""api: the first answer to each Idempotency-Key of the relying parties' API (issue 7)

Revision ID: 0017_api
Revises: 0016_companies
Create Date: 2026-12-02 12:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017_api'
down_revision = '0016_companies'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('operation', sa.String(length=40), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_idempotency_keys')),
    sa.UniqueConstraint('client_id', 'idempotency_key',
                        name=op.f('uq_api_idempotency_keys_client_id'))
    )


def downgrade() -> None:
    op.drop_table('api_idempotency_keys')
