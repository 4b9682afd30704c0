"""audit_events.request_id: the HTTP request behind each event (issue 10)

Revision ID: 0014_request_id
Revises: 0013_interests
Create Date: 2026-12-02 09:20:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0014_request_id'
down_revision = '0013_interests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: a metadata-only change on PostgreSQL (no table
    # rewrite, a brief lock), so it is safe while older processes keep writing events.
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('request_id')
