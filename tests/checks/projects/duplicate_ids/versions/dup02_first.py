"""Graph fixture: dup02, first copy."""
import sqlalchemy as sa
from alembic import op

revision = "dup02"
down_revision = "dup01"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("t", sa.Column("c_dup02", sa.Integer()))


def downgrade():
    op.drop_column("t", "c_dup02")
