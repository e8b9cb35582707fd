"""create notes with 50 rows

Revision ID: g01
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "g01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notes", sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
                    sa.Column("body", sa.Text(), nullable=False))
    op.execute("INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 50) AS g")


def downgrade() -> None:
    op.drop_table("notes")
