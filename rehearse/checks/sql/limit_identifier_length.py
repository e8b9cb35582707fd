"""RH161: identifiers longer than 63 bytes are silently truncated by PostgreSQL."""

from pglast import ast
from pglast.parser import scan

from ..base import register
from ..sqltools import SqlRule

MAX_BYTES = 63  # NAMEDATALEN - 1
_DML = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)


def _identifiers(sql: str):
    """Identifiers as written (the parse tree holds them already cut to 63 bytes)."""
    for token in scan(sql):
        if token.name == "IDENT":
            text = sql[token.start:token.end + 1]
            yield text[1:-1].replace('""', '"') if text.startswith('"') else text.lower()


@register
class LimitIdentifierLength(SqlRule):
    code = "RH161"
    name = "limit-identifier-length"
    severity = "medium"
    summary = "Keep identifiers within 63 bytes; PostgreSQL truncates longer ones without an error."
    references = ("squawk: identifier-too-long",)
    problem = """
        PostgreSQL keeps only the first 63 bytes of an identifier (NAMEDATALEN - 1) and only
        prints a NOTICE. The object then exists under a name the migration never wrote: a
        later `DROP INDEX` or `op.drop_constraint` with the full name fails, two long names
        with the same first 63 bytes collide, and the models no longer match the database.
        Multibyte characters count as several bytes.
    """
    solution = """
        Choose a shorter name. For generated names (SQLAlchemy's naming convention on long
        table and column names), give the constraint or index an explicit `name=`.
    """
    alembic = """
        ```python
        op.create_index("ix_orders_customer_created", "orders", ["customer_id", "created_at"])
        ```
        rather than a name built by joining every column of a long table.
    """

    def check(self, stmt, state):
        if isinstance(stmt.node, _DML):
            return
        seen = set()
        for name in _identifiers(stmt.sql):
            size = len(name.encode("utf-8"))
            if size > MAX_BYTES and name not in seen:
                seen.add(name)
                yield self.hit(f"identifier {name[:40]}… is {size} bytes: PostgreSQL truncates it to {MAX_BYTES}",
                               identifier=name, bytes=size)
