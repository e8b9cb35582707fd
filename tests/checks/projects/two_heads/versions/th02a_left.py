"""Graph fixture: one of two heads."""
import sqlalchemy as sa
from alembic import op

revision = "th02a"
down_revision = "th01"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("t", sa.Column("c_th02a", sa.Integer()))


def downgrade():
    op.drop_column("t", "c_th02a")
