"""client secret rotation: the previous secret and the end of its grace period (issue 10)

Revision ID: 0019_client_secret_rotation
Revises: 0018_partial_token_indexes
Create Date: 2026-12-04 07:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0019_client_secret_rotation'
down_revision = '0018_partial_token_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_clients') as batch_op:
        batch_op.add_column(sa.Column('previous_secret_hash', sa.String(length=64),
                                      nullable=True))
        batch_op.add_column(sa.Column('previous_secret_expires_at', sa.BigInteger(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oauth_clients') as batch_op:
        batch_op.drop_column('previous_secret_expires_at')
        batch_op.drop_column('previous_secret_hash')
