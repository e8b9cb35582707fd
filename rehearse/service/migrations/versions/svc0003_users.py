"""users, sessions, login attempts, approvals; a target's approval threshold; a rehearsal's data size

Revision ID: svc0003
Revises: svc0002

Tokens gain the user they belong to (existing tokens keep working, unlinked). Sessions are rows
(the cookie holds a random id whose SHA-256 is stored), so logging out or removing a user ends
them at once. Login attempts are rows too, so several `serve` processes share one rate limit.
"""
from alembic import op
import sqlalchemy as sa

revision = "svc0003"
down_revision = "svc0002"
branch_labels = None
depends_on = None

NOW = sa.text("now()")
ROLE_CHECK = "role IN ('viewer', 'requester', 'approver', 'admin')"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint(ROLE_CHECK, name="ck_users_role"),
    )
    op.add_column("tokens", sa.Column("user_name", sa.Text, sa.ForeignKey("users.name", ondelete="CASCADE")))
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.Text, primary_key=True),
        sa.Column("user_name", sa.Text, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("client", sa.Text, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
    )
    op.create_index("ix_login_attempts_user", "login_attempts", ["user_name", "at"])
    op.create_index("ix_login_attempts_client", "login_attempts", ["client", "at"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("rehearsal_id", sa.BigInteger, sa.ForeignKey("rehearsals.id", ondelete="CASCADE"), nullable=False,
                  unique=True),
        sa.Column("approver", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.add_column("targets", sa.Column("approval_threshold", sa.Text, nullable=False, server_default="high"))
    op.create_check_constraint("ck_targets_approval_threshold", "targets",
                               "approval_threshold IN ('low', 'medium', 'high', 'critical')")
    op.add_column("rehearsals", sa.Column("data_rows", sa.BigInteger))


def downgrade() -> None:
    op.drop_column("rehearsals", "data_rows")
    op.drop_constraint("ck_targets_approval_threshold", "targets")
    op.drop_column("targets", "approval_threshold")
    op.drop_table("approvals")
    op.drop_index("ix_login_attempts_client", table_name="login_attempts")
    op.drop_index("ix_login_attempts_user", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_table("sessions")
    op.drop_column("tokens", "user_name")
    op.drop_table("users")
