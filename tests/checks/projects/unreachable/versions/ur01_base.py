"""Graph fixture: the base."""
import sqlalchemy as sa
from alembic import op

revision = "ur01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("t", sa.Column("c_ur01", sa.Integer()))


def downgrade():
    op.drop_column("t", "c_ur01")
