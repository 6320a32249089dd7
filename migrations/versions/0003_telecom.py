"""telecom: Asterisk nodes, carrier trunks and which node carries which trunk

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 20:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'node',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('ami_host', sa.String(length=255), nullable=False),
        sa.Column('ami_port', sa.Integer(), nullable=False),
        sa.Column('ami_user', sa.String(length=64), nullable=False),
        sa.Column('ami_secret_file', sa.String(length=1024), nullable=False),
        sa.Column('max_channels', sa.Integer(), nullable=False),
        sa.Column('agi_host', sa.String(length=255), nullable=False),
        sa.Column('agi_port', sa.Integer(), nullable=False),
        sa.Column('sounds_dir', sa.String(length=1024), nullable=False),
        sa.Column('asterisk_sounds_dir', sa.String(length=1024), nullable=False),
        sa.Column('config_dir', sa.String(length=1024), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'trunk',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('port', sa.Integer(), nullable=False),
        sa.Column('transport', sa.String(length=3), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=True),
        sa.Column('secret_file', sa.String(length=1024), nullable=True),
        sa.Column('register', sa.Boolean(), nullable=False),
        sa.Column('match', sa.JSON(), nullable=False),
        sa.Column('codecs', sa.String(length=100), nullable=False),
        sa.Column('max_channels', sa.Integer(), nullable=False),
        sa.Column('cps', sa.Float(), nullable=False),
        sa.Column('qualify_s', sa.Integer(), nullable=False),
        sa.Column('caller_id_policy', sa.String(length=10), nullable=False),
        sa.Column('dial_prefix', sa.String(length=16), nullable=False),
        sa.Column('rate_per_minute', sa.Numeric(precision=10, scale=5), nullable=True),
        sa.Column('billing_increment_s', sa.Integer(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'node_trunk',
        sa.Column('node_id', sa.Integer(), nullable=False),
        sa.Column('trunk_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['node_id'], ['node.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['trunk_id'], ['trunk.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('node_id', 'trunk_id'),
    )


def downgrade() -> None:
    op.drop_table('node_trunk')
    op.drop_table('trunk')
    op.drop_table('node')
