"""hs_codes, member_interest_items, member_interest_countries: the HS nomenclature and
members' interests (관심정보)

Revision ID: 0013_interests
Revises: 0012
Create Date: 2026-12-02 09:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013_interests'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hs_codes',
    sa.Column('code', sa.String(length=10), nullable=False),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('parent', sa.String(length=10), nullable=True),
    sa.Column('name_ko', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_hs_codes'))
    )
    with op.batch_alter_table('hs_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hs_codes_parent'), ['parent'], unique=False)
        batch_op.create_index(batch_op.f('ix_hs_codes_version'), ['version'], unique=False)
    op.create_table('member_interest_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('hs_code', sa.String(length=10), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                            name=op.f('fk_member_interest_items_member_id_members'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_interest_items')),
    sa.UniqueConstraint('member_id', 'hs_code',
                        name=op.f('uq_member_interest_items_member_id'))
    )
    op.create_table('member_interest_countries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                            name=op.f('fk_member_interest_countries_member_id_members'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_interest_countries')),
    sa.UniqueConstraint('member_id', 'country',
                        name=op.f('uq_member_interest_countries_member_id'))
    )


def downgrade() -> None:
    op.drop_table('member_interest_countries')
    op.drop_table('member_interest_items')
    with op.batch_alter_table('hs_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hs_codes_version'))
        batch_op.drop_index(batch_op.f('ix_hs_codes_parent'))
    op.drop_table('hs_codes')
