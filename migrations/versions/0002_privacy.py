"""privacy: import batches, provenance, suppression store, audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 19:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'import_batch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('file_name', sa.String(length=255), nullable=False),
        sa.Column('file_sha256', sa.String(length=64), nullable=False),
        sa.Column('file_format', sa.String(length=10), nullable=False),
        sa.Column('encoding', sa.String(length=20), nullable=True),
        sa.Column('list_name', sa.String(length=100), nullable=True),
        sa.Column('source', sa.Text(), nullable=True),
        sa.Column('legal_basis', sa.String(length=40), nullable=True),
        sa.Column('region', sa.String(length=2), nullable=False),
        sa.Column('mapping', sa.JSON(), nullable=False),
        sa.Column('imported_by', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('created', sa.Integer(), nullable=False),
        sa.Column('updated', sa.Integer(), nullable=False),
        sa.Column('unchanged', sa.Integer(), nullable=False),
        sa.Column('rejected', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('fingerprint'),
    )
    op.create_table(
        'contact_source',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('first_line', sa.Integer(), nullable=False),
        sa.Column('last_line', sa.Integer(), nullable=False),
        sa.Column('legal_basis', sa.String(length=40), nullable=True),
        sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('consent_slot', sa.String(length=100), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id']),
        sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('contact_id', 'batch_id'),
    )
    op.create_index('ix_contact_source_contact_id', 'contact_source', ['contact_id'])
    op.create_index('ix_contact_source_batch_id', 'contact_source', ['batch_id'])
    op.create_table(
        'suppression',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('number_hash', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('source', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('number_hash'),
    )
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('subject', sa.String(length=64), nullable=True),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_subject', 'audit_log', ['subject'])
    # ADD COLUMN and CREATE INDEX need no table rebuild, on SQLite either.
    op.add_column('contact', sa.Column('commune_key', sa.String(length=100), nullable=True))
    op.add_column('contact', sa.Column('import_batch_id', sa.Integer(), nullable=True))
    op.create_index('ix_contact_commune_key', 'contact', ['commune_key'])
    op.create_index('ix_contact_postcode', 'contact', ['postcode'])


def downgrade() -> None:
    op.drop_index('ix_contact_postcode', table_name='contact')
    op.drop_index('ix_contact_commune_key', table_name='contact')
    with op.batch_alter_table('contact') as batch_op:
        batch_op.drop_column('import_batch_id')
        batch_op.drop_column('commune_key')
    op.drop_index('ix_audit_log_subject', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('suppression')
    op.drop_index('ix_contact_source_batch_id', table_name='contact_source')
    op.drop_index('ix_contact_source_contact_id', table_name='contact_source')
    op.drop_table('contact_source')
    op.drop_table('import_batch')
