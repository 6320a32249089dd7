"""targets: when each contact's address was last confirmed; French Polynesia's zone

Revision ID: 0005_targets
Revises: 0004
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = '0005_targets'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contact') as batch:
        batch.add_column(sa.Column('address_asserted_at', sa.DateTime(timezone=True),
                                   nullable=True))
    # The only date the provenance held for an address until now: the consent's.
    op.execute("UPDATE contact SET address_asserted_at = consent_at "
               "WHERE postcode IS NOT NULL OR commune IS NOT NULL")
    # Imports gave every +689 mobile the first zone phonenumbers lists (Gambier, an hour ahead
    # of Tahiti, where most people live); no import could set a zone explicitly before this.
    op.execute("UPDATE contact SET time_zone = 'Pacific/Tahiti' "
               "WHERE e164 LIKE '+689%' AND time_zone = 'Pacific/Gambier'")


def downgrade() -> None:
    with op.batch_alter_table('contact') as batch:
        batch.drop_column('address_asserted_at')
