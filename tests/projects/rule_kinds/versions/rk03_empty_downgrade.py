"""a no-op revision whose downgrade is empty

Revision ID: rk03
Revises: rk02

ON PURPOSE: `downgrade()` is `pass` (graph rule).
"""
from alembic import op

revision = "rk03"
down_revision = "rk02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("COMMENT ON TABLE parent IS 'parents'")


def downgrade() -> None:
    pass
