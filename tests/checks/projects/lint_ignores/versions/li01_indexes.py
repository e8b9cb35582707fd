"""indexes with and without ignore comments

Revision ID: li01
Revises:
"""
from alembic import op

revision = "li01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET lock_timeout = '2s'")
    op.execute("SET statement_timeout = '5s'")
    op.create_index("ix_plain", "orders", ["a"])
    op.create_index("ix_same_line", "orders", ["b"])  # rehearse-ignore: RH101
    # an accepted exception, reviewed:
    # rehearse-ignore: require-concurrent-index-creation
    op.create_index("ix_above", "orders", ["c"])
    op.drop_column("orders", "legacy")  # squawk-ignore ban-drop-column
    op.create_index(
        "ix_multi_line",
        "orders",
        ["d"],
    )


def downgrade() -> None:
    pass
