"""index docs.title; the downgrade leaves the index (ckan 021's DROP CONSTRAINT IF EXISTS on an index)

Revision ID: fc04
Revises: fc03

Its residue has nothing to do with fc03's failure: fc03's downgrade raises on any database.
"""
from alembic import op

revision = "fc04"
down_revision = "fc03"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("idx_docs_title", "docs", ["title"])


def downgrade() -> None:
    # as ckan's 021_765143af2ba3: an index is not a constraint, so this drops nothing
    op.execute("ALTER TABLE docs DROP CONSTRAINT IF EXISTS idx_docs_title")
