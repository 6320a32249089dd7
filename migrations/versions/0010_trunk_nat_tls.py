"""telecom: a node's NAT (public address, local networks) and TLS (certificate, key and the CA that
verifies carriers),
a trunk's SRTP (SDES) and the numbers its carrier delivers to it (the callback lines)

Revision ID: 0010_nat_tls
Revises: 0009_node_cel
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = '0010_nat_tls'
down_revision = '0009_node_cel'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('node') as batch:
        batch.add_column(sa.Column('public_address', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('local_nets', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('tls_cert_file', sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column('tls_key_file', sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column('tls_ca_file', sa.String(length=1024), nullable=True))
    with op.batch_alter_table('trunk') as batch:
        batch.add_column(sa.Column('srtp', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('dids', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('trunk') as batch:
        batch.drop_column('dids')
        batch.drop_column('srtp')
    with op.batch_alter_table('node') as batch:
        batch.drop_column('tls_ca_file')
        batch.drop_column('tls_key_file')
        batch.drop_column('tls_cert_file')
        batch.drop_column('local_nets')
        batch.drop_column('public_address')
