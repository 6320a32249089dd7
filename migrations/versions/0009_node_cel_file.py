"""telecom: node.cel_file, the node's CEL log (cel_custom JSON lines) as the controller reads
it, so that a restarted controller settles a dead one's calls from Asterisk's facts on
node-table nodes too

Revision ID: 0009_node_cel
Revises: 0008_precision
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = '0009_node_cel'
down_revision = '0008_precision'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('node') as batch:
        batch.add_column(sa.Column('cel_file', sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('node') as batch:
        batch.drop_column('cel_file')
