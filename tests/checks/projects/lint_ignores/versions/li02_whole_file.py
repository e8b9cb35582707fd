"""a revision that ignores RH115 in the whole file

Revision ID: li02
Revises: li01
"""
# rehearse-ignore-file: RH115
from alembic import op

revision = "li02"
down_revision = "li01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("orders", "old_a")
    op.create_index("ix_other", "orders", ["e"])


def downgrade() -> None:
    pass
