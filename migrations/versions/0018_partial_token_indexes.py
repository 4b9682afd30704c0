"""tokens: partial indexes on member_id, code_hash and sid (issue 10)

A client_credentials token has none of the three: its row no longer adds an entry to those
indexes. Every lookup compares the column with a value, which implies IS NOT NULL, so both
databases still use them.

Revision ID: 0018_partial_token_indexes
Revises: 0017_api
Create Date: 2026-12-02 17:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0018_partial_token_indexes'
down_revision = '0017_api'
branch_labels = None
depends_on = None

INDEXES = {
    "ix_tokens_member_client": ["member_id", "client_id"],
    "ix_tokens_code_hash": ["code_hash"],
    "ix_tokens_sid": ["sid"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="tokens")
        where = sa.text(f"{columns[0]} IS NOT NULL")
        op.create_index(name, "tokens", columns, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="tokens")
        op.create_index(name, "tokens", columns)
