"""parent and child tables, 300 rows each; child.parent_id has no index

Revision ID: rk01
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "rk01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("parent", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("name", sa.String(100), nullable=False))
    op.create_table("child", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("parent_id", sa.Integer(), sa.ForeignKey("parent.id"), nullable=False),
                    sa.Column("note", sa.Text()))
    op.execute("INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 300) AS g")
    op.execute("INSERT INTO child (parent_id, note) SELECT g, 'n' || g FROM generate_series(1, 300) AS g")


def downgrade() -> None:
    op.drop_table("child")
    op.drop_table("parent")
