"""create naps with 300 rows

Revision ID: ls01
Revises:
"""
from alembic import op

revision = "ls01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE naps (id int PRIMARY KEY, minutes int NOT NULL)")
    op.execute("INSERT INTO naps SELECT g, g % 60 FROM generate_series(1, 300) g")


def downgrade() -> None:
    op.execute("DROP TABLE naps")
