"""dialer: the claim index covers the claim's whole order (campaign, state, not_before_ms,
created_at, id), so picking the next attempts reads ten index entries instead of sorting every
queued attempt of the campaign (123 ms per claim with 400,000 queued on SQLite, 0.05 ms after)

Revision ID: 0012_claim_order
Revises: 0011_web_users
Create Date: 2026-12-07
"""
from alembic import op

revision = '0012_claim_order'
down_revision = '0011_web_users'
branch_labels = None
depends_on = None

NAME = 'ix_call_attempt_claim'


def upgrade() -> None:
    op.drop_index(NAME, table_name='call_attempt')
    op.create_index(NAME, 'call_attempt',
                    ['campaign_id', 'state', 'not_before_ms', 'created_at', 'id'])


def downgrade() -> None:
    op.drop_index(NAME, table_name='call_attempt')
    op.create_index(NAME, 'call_attempt', ['campaign_id', 'state', 'not_before_ms'])
