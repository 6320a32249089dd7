"""installation: the installation key's check value (one row)

Every command that uses the key compares HMAC(key, a fixed label) with this row and refuses a
key that does not match (sc_asterisk/keys.py), so suppressions are never keyed twice.

Revision ID: 0007_installation
Revises: 0005_calls
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = '0007_installation'
down_revision = '0005_calls'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'installation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key_check', sa.String(length=64), nullable=False),
        sa.Column('key_home', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('installation')
