"""Graph fixture: child of the orphan."""
import sqlalchemy as sa
from alembic import op

revision = "ur04"
down_revision = "ur03"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("t", sa.Column("c_ur04", sa.Integer()))


def downgrade():
    op.drop_column("t", "c_ur04")
