"""engine: calling windows, retry policy, AMD policy, pacing buckets, controller leases

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaign') as batch:
        batch.add_column(sa.Column('compliance_profile', sa.String(length=20), nullable=False,
                                   server_default='fr-cnil'))
        batch.add_column(sa.Column('windows', sa.Text(), nullable=True))
        batch.add_column(sa.Column('retry_policy', sa.Text(), nullable=True))
        batch.add_column(sa.Column('amd_policy', sa.String(length=20), nullable=True))
    with op.batch_alter_table('call_attempt') as batch:
        batch.add_column(sa.Column('not_before_ms', sa.BigInteger(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('controller', sa.String(length=64), nullable=True))
    op.create_index('ix_call_attempt_claim', 'call_attempt',
                    ['campaign_id', 'state', 'not_before_ms'])
    op.create_index('ix_call_attempt_number', 'call_attempt', ['number'])
    op.create_table(
        'pace_bucket',
        sa.Column('scope', sa.String(length=100), nullable=False),
        sa.Column('tokens', sa.Double(), nullable=False),
        sa.Column('stamp', sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint('scope'))
    op.create_table(
        'controller_lease',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('started_ms', sa.BigInteger(), nullable=False),
        sa.Column('heartbeat_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'))


def downgrade() -> None:
    op.drop_table('controller_lease')
    op.drop_table('pace_bucket')
    op.drop_index('ix_call_attempt_number', 'call_attempt')
    op.drop_index('ix_call_attempt_claim', 'call_attempt')
    with op.batch_alter_table('call_attempt') as batch:
        batch.drop_column('controller')
        batch.drop_column('not_before_ms')
    with op.batch_alter_table('campaign') as batch:
        for col in ('amd_policy', 'retry_policy', 'windows', 'compliance_profile'):
            batch.drop_column(col)
