"""Graph fixture: reachable."""
import sqlalchemy as sa
from alembic import op

revision = "ur02"
down_revision = "ur01"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("t", sa.Column("c_ur02", sa.Integer()))


def downgrade():
    op.drop_column("t", "c_ur02")
