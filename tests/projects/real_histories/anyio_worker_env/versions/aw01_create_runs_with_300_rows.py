"""create runs with 300 rows

Revision ID: aw01
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "aw01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("runs", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("state", sa.String(20), nullable=False))
    op.execute("INSERT INTO runs (state) SELECT CASE WHEN g % 3 = 0 THEN 'failed' ELSE 'done' END "
               "FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_table("runs")
