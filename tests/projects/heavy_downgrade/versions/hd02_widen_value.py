"""readings.value becomes bigint (a rewrite), and back

Revision ID: hd02
Revises: hd01

Both directions rewrite readings; the downgrade's rewrite is the rollback's cost.
"""
from alembic import op

revision = "hd02"
down_revision = "hd01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("COMMENT ON COLUMN readings.value IS 'widened later'")


def downgrade() -> None:
    op.execute("ALTER TABLE readings ALTER COLUMN value TYPE bigint")
    op.execute("ALTER TABLE readings ALTER COLUMN value TYPE integer")
    op.execute("COMMENT ON COLUMN readings.value IS NULL")
