"""drop harvest; the downgrade cannot re-create it (ckan 038, fd6622e3d964)

Revision ID: fc03
Revises: fc02

As in ckan's 038_delete_migration_tables: the downgrade declares the column `created` twice,
which SQLAlchemy 2 refuses (DuplicateColumnError) while building the table, inside the
downgrade's transaction. The database is left at fc03, without `harvest`.
"""
import sqlalchemy as sa
from alembic import op

revision = "fc03"
down_revision = "fc02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("harvest")


def downgrade() -> None:
    op.create_table("harvest", sa.Column("id", sa.Text(), primary_key=True), sa.Column("created", sa.DateTime()),
                    sa.Column("note", sa.Text()), sa.Column("created", sa.TIMESTAMP()))
