"""create members with 300 rows

Revision ID: s141
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "s141"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("members", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))
    # a plain SQL string on the connection: SQLAlchemy 1.4 runs it, 2.0 refuses it
    op.get_bind().execute("INSERT INTO members SELECT g, 'member ' || g FROM generate_series(1, 300) g")


def downgrade():
    op.drop_table("members")
