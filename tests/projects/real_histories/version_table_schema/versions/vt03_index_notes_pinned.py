"""index notes.pinned

Revision ID: vt03
Revises: vt02
"""
from alembic import op

revision = "vt03"
down_revision = "vt02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notes_pinned", "notes", ["pinned"])


def downgrade() -> None:
    op.drop_index("ix_notes_pinned", table_name="notes")
