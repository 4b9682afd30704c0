"""terms_documents, terms_consents, marketing_consents: versioned terms and members' answers

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02 07:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'  # re-chained after 0008 (legacy_accounts) in wip-l2
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('terms_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title_ko', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_terms_documents')),
    sa.UniqueConstraint('kind', 'version', name=op.f('uq_terms_documents_kind'))
    )
    op.create_table('terms_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('agreed', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                            name=op.f('fk_terms_consents_member_id_members'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_terms_consents'))
    )
    with op.batch_alter_table('terms_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_terms_consents_member_id'), ['member_id'],
                              unique=False)
    op.create_table('marketing_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('agreed', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                            name=op.f('fk_marketing_consents_member_id_members'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_consents'))
    )
    with op.batch_alter_table('marketing_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_marketing_consents_member_id'), ['member_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('marketing_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_marketing_consents_member_id'))
    op.drop_table('marketing_consents')
    with op.batch_alter_table('terms_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_terms_consents_member_id'))
    op.drop_table('terms_consents')
    op.drop_table('terms_documents')
