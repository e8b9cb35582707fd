"""create notes with 300 rows

Revision ID: vt01
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "vt01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notes", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("body", sa.Text(), nullable=False))
    op.execute("INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_table("notes")
