"""mail outbox: the member and the detail each email's failures are audited with

The account notices (an email address or a password changed, a password reset) and the
company-registration decisions are queued too now, instead of being sent inside the request;
their failure events keep naming the member and what the notice was about.

Revision ID: 0021_mail_outbox_detail
Revises: 0020_mail_outbox
Create Date: 2026-12-04 09:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0021_mail_outbox_detail'
down_revision = '0020_mail_outbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and without a default: additive, safe while older processes still run.
    with op.batch_alter_table('mail_outbox') as batch:
        batch.add_column(sa.Column('member_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('detail', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mail_outbox') as batch:
        batch.drop_column('detail')
        batch.drop_column('member_id')
