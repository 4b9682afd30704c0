"""mail outbox: emails sent outside the request that asked for them (find-ID by email)

Revision ID: 0020_mail_outbox
Revises: 0019_client_secret_rotation
Create Date: 2026-12-04 07:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0020_mail_outbox'
down_revision = '0019_client_secret_rotation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mail_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.Double(), nullable=False),
    sa.Column('claim', sa.String(length=32), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox'))
    )
    op.create_index('ix_mail_outbox_next_attempt_at', 'mail_outbox', ['next_attempt_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_mail_outbox_next_attempt_at', table_name='mail_outbox')
    op.drop_table('mail_outbox')
