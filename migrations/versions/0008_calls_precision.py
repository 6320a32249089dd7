"""calls: call_record.precision, how a call's listened ms were obtained ("measured" by the
call flow, "reconstructed" from Asterisk's CEL after its controller was lost)

Revision ID: 0008_precision
Revises: 0007_installation
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = '0008_precision'
down_revision = '0007_installation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('call_record') as batch:
        batch.add_column(sa.Column('precision', sa.String(length=14), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('call_record') as batch:
        batch.drop_column('precision')
