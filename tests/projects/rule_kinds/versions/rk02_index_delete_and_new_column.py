"""index parent.name, delete 50 children, add child.extra

Revision ID: rk02
Revises: rk01

ON PURPOSE: a plain CREATE INDEX (sql rule), rows deleted (schema rule: row count drop), a new
column the policy does not cover (schema rule: policy coverage), on a table whose foreign key
has no index (schema rule).
"""
from alembic import op
import sqlalchemy as sa

revision = "rk02"
down_revision = "rk01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_parent_name", "parent", ["name"])
    op.execute("DELETE FROM child WHERE id > 250")
    op.add_column("child", sa.Column("extra", sa.Text()))


def downgrade() -> None:
    op.drop_column("child", "extra")
    op.drop_index("ix_parent_name", table_name="parent")
