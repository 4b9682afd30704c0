"""client resource_server flag: who may introspect other clients' tokens (RFC 7662 §4)

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-02 06:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing clients get no introspection right over other clients' tokens: first_party
    # used to imply it, and now it does not. Grant it again with `idp clients add
    # --resource-server` (a new registration) where a resource server needs it.
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resource_server', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.drop_column('resource_server')
