"""index runs.state concurrently (autocommit block)

Revision ID: aw03
Revises: aw02
"""
from alembic import op

revision = "aw03"
down_revision = "aw02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_runs_state ON runs (state)")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_runs_state")
