"""calls: call_attempt.channel_gone_ms, when Asterisk confirmed an unknown call's channel gone;
campaign.amd_policy wide enough for AMD()'s nine arguments

An ``unknown`` attempt may still ring: it holds its channel slot until this is set (by the
controller's sweep, from a CoreShowChannels that no longer lists it, or its Hangup).

Revision ID: 0005_calls
Revises: 0005_targets
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = '0005_calls'
down_revision = '0005_targets'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('call_attempt') as batch:
        batch.add_column(sa.Column('channel_gone_ms', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('campaign') as batch:
        batch.alter_column('amd_policy', type_=sa.String(length=80),
                           existing_type=sa.String(length=20), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('campaign') as batch:
        batch.alter_column('amd_policy', type_=sa.String(length=20),
                           existing_type=sa.String(length=80), existing_nullable=True)
    with op.batch_alter_table('call_attempt') as batch:
        batch.drop_column('channel_gone_ms')
