"""RH401: every foreign key needs an index on its referencing columns."""

from typing import ClassVar

from ..base import Rule, register


@register
class RequireIndexForForeignKey(Rule):
    code = "RH401"
    name = "require-index-for-foreign-key"
    severity = "medium"
    kind: ClassVar[str] = "schema"
    summary = "Index the referencing columns of every foreign key."
    references = ("strong_migrations: add_reference (index: true)",)
    problem = """
        PostgreSQL indexes the referenced key, not the referencing columns. Without an index
        on them, every DELETE or key UPDATE on the referenced table scans the referencing
        table (under a lock), and joins along the key scan too. Checked on the schema after
        the upgrade, for foreign keys on tables the rehearsal touched.
    """
    solution = "Create an index whose leading columns are the foreign key's columns (CONCURRENTLY on existing tables)."
    alembic = """
        ```python
        with op.get_context().autocommit_block():
            op.create_index("ix_orders_user_id", "orders", ["user_id"],
                            postgresql_concurrently=True, if_not_exists=True)
        ```
    """
