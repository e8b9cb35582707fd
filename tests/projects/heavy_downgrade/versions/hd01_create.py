"""readings with 20,000 rows

Revision ID: hd01
Revises:
"""
from alembic import op

revision = "hd01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE readings (id bigserial PRIMARY KEY, value integer NOT NULL, note text)")
    op.execute("INSERT INTO readings (value) SELECT g FROM generate_series(1, 20000) AS g")


def downgrade() -> None:
    op.execute("DROP TABLE readings")
