"""RH404: a user-declared data invariant did not hold."""

from typing import ClassVar, Iterator

from ..base import DatabaseContext, DatabaseRule, Hit, register


@register
class HoldInvariant(DatabaseRule):
    code = "RH404"
    name = "hold-invariant"
    severity = "high"
    kind: ClassVar[str] = "invariant"
    moments: ClassVar[tuple[str, ...]] = ("before-upgrade", "after-upgrade", "after-rollback")
    summary = "A custom invariant query from the configuration returned an unexpected value."
    problem = """
        Your configuration declares invariants: SQL queries returning one number and the
        expected comparison (`== 0`, `> 0`, `>= 100`...). One did not hold at this phase of
        the rehearsal (before upgrade, after upgrade, after downgrade), e.g. orphaned rows
        appeared or a total changed.
    """
    solution = "Find which revision broke it (the phase tells when) and fix its data handling."
    alembic = """
        ```yaml
        invariants:
          - name: every order has a user
            sql: SELECT count(*) FROM orders o LEFT JOIN users u ON u.id = o.user_id WHERE u.id IS NULL
            expect: "== 0"
        ```
    """

    def check(self, ctx: DatabaseContext) -> Iterator[Hit]:
        if not ctx.invariants:
            return
        from ..invariants import evaluate
        yield from evaluate(ctx.dsn, ctx.invariants, ctx.moment)
