"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audio_asset',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('sample_rate', sa.Integer(), nullable=False),
    sa.Column('source_filename', sa.String(length=255), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('trunk', sa.String(length=64), nullable=False),
    sa.Column('caller_id', sa.String(length=32), nullable=True),
    sa.Column('optout_digit', sa.String(length=1), nullable=False),
    sa.Column('max_channels', sa.Integer(), nullable=False),
    sa.Column('cps', sa.Double(), nullable=False),
    sa.Column('ring_timeout_s', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('e164', sa.String(length=20), nullable=False),
    sa.Column('number_type', sa.String(length=20), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('first_name', sa.String(length=100), nullable=True),
    sa.Column('last_name', sa.String(length=100), nullable=True),
    sa.Column('postcode', sa.String(length=10), nullable=True),
    sa.Column('commune', sa.String(length=100), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('list_name', sa.String(length=100), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('legal_basis', sa.String(length=40), nullable=True),
    sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_slot', sa.String(length=100), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('e164')
    )
    op.create_table('call_attempt',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('attempt_no', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('node', sa.String(length=64), nullable=True),
    sa.Column('trunk', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('call_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_attempt_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_attempt_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_attempt_state'), ['state'], unique=False)

    op.create_table('campaign_segment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['audio_asset.id'], ),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'position')
    )
    op.create_table('call_record',
    sa.Column('attempt_id', sa.String(length=36), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('originate_ms', sa.BigInteger(), nullable=True),
    sa.Column('answer_ms', sa.BigInteger(), nullable=True),
    sa.Column('end_ms', sa.BigInteger(), nullable=True),
    sa.Column('hangup_cause', sa.Integer(), nullable=True),
    sa.Column('hangup_cause_txt', sa.String(length=80), nullable=True),
    sa.Column('hung_up_by', sa.String(length=10), nullable=True),
    sa.Column('caller_id', sa.String(length=32), nullable=True),
    sa.Column('amd_result', sa.String(length=10), nullable=True),
    sa.Column('amd_cause', sa.String(length=60), nullable=True),
    sa.Column('opted_out', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['call_attempt.id'], ),
    sa.PrimaryKeyConstraint('attempt_id')
    )
    op.create_table('segment_listen',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('length_ms', sa.Integer(), nullable=False),
    sa.Column('listened_ms', sa.Integer(), nullable=False),
    sa.Column('heard_full', sa.Boolean(), nullable=False),
    sa.Column('stop_reason', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['call_record.attempt_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('attempt_id', 'position')
    )


def downgrade() -> None:
    op.drop_table('segment_listen')
    op.drop_table('call_record')
    op.drop_table('campaign_segment')
    with op.batch_alter_table('call_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_attempt_state'))
        batch_op.drop_index(batch_op.f('ix_call_attempt_contact_id'))
        batch_op.drop_index(batch_op.f('ix_call_attempt_campaign_id'))

    op.drop_table('call_attempt')
    op.drop_table('contact')
    op.drop_table('campaign')
    op.drop_table('audio_asset')
