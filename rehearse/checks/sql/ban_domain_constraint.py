"""RH135: domain constraints are checked against every column using the domain."""

from pglast import ast

from ..base import register
from ..sqltools import SqlRule, names


@register
class BanDomainConstraint(SqlRule):
    code = "RH135"
    name = "ban-domain-constraint"
    severity = "medium"
    summary = "Prefer table CHECK constraints (NOT VALID + VALIDATE) to domain constraints."
    references = ("squawk: ban-create-domain-with-constraint", "squawk: ban-alter-domain-with-add-constraint")
    problem = """
        `ALTER DOMAIN ... ADD CONSTRAINT` scans every table with a column of that domain while
        holding locks on them, and domain constraints are hard to change later; a
        `CREATE DOMAIN` with a CHECK commits you to that path.
    """
    solution = """
        Use CHECK constraints on the tables (added `NOT VALID`, then validated). If you keep
        a domain, add constraints to it `NOT VALID` and validate separately.
    """
    alembic = """
        ```python
        op.create_check_constraint("email_has_at", "users", "position('@' in email) > 0",
                                   postgresql_not_valid=True)
        ```
    """

    def check(self, stmt, state):
        node = stmt.node
        if isinstance(node, ast.CreateDomainStmt) and any(
                isinstance(c, ast.Constraint) and c.contype.name == "CONSTR_CHECK" for c in node.constraints or ()):
            yield self.hit(f"domain {'.'.join(names(node.domainname))} is created with a CHECK constraint",
                           domain=".".join(names(node.domainname)))
        if isinstance(node, ast.AlterDomainStmt) and node.subtype == "C" and not (
                node.def_ is not None and node.def_.skip_validation):
            yield self.hit(f"a constraint is added to domain {'.'.join(names(node.typeName))}: every column "
                           "using it is scanned", domain=".".join(names(node.typeName)))
