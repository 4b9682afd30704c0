"""storage: member_id indexes, no duplicate tokens index, audit detail as one JSON object

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-02 06:20:00

- authorization_codes.member_id: indexed (deleting a member cascades there; it was a scan).
- audit_events (member_id, at): a member's trail without a scan.
- tokens.member_id: its own index dropped; ix_tokens_member_client (member_id, client_id)
  serves the same lookups and the cascade, and every token insert paid for both.
- audit_events.detail: rows written as a JSON string holding JSON become the JSON object
  itself (the column stays text: the same on SQLite and PostgreSQL).
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorization_codes_member_id'), ['member_id'],
                              unique=False)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_member_at', ['member_id', 'at'], unique=False)
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tokens_member_id'))

    # A double-encoded detail is a JSON string (it starts with a quote); unwrap it once.
    # Rows already holding an object (or NULL) are left alone, so running this twice is safe.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text(
            "UPDATE audit_events SET detail = (detail::json #>> '{}') "
            "WHERE detail LIKE '\"%'"))
    else:  # SQLite's JSON functions (built in since 3.38)
        op.execute(sa.text(
            "UPDATE audit_events SET detail = json_extract(detail, '$') "
            "WHERE detail LIKE '\"%' AND json_type(detail) = 'text'"))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(sa.text(
            "UPDATE audit_events SET detail = to_json(detail)::text "
            "WHERE detail IS NOT NULL AND detail NOT LIKE '\"%'"))
    else:
        op.execute(sa.text(
            "UPDATE audit_events SET detail = json_quote(detail) "
            "WHERE detail IS NOT NULL AND detail NOT LIKE '\"%'"))

    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tokens_member_id'), ['member_id'], unique=False)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_member_at')
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorization_codes_member_id'))
