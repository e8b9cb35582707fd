"""RH406: the team's own check (--app-check) passed before the upgrade and fails after it."""

from typing import ClassVar, Iterator

from ..base import DatabaseContext, DatabaseRule, Hit, register


@register
class RequireAppChecksPassAfterUpgrade(DatabaseRule):
    code = "RH406"
    name = "require-app-checks-pass-after-upgrade"
    severity = "critical"
    kind: ClassVar[str] = "schema"
    moments: ClassVar[tuple[str, ...]] = ("after-upgrade", "after-rollback")
    summary = "An --app-check command passed against staging before the upgrade and fails after it (or after the rollback)."
    problem = """
        `--app-check CMD` runs the team's own command (a smoke test, an integration suite, the
        old release's code) against staging with its URL in `DATABASE_URL` (or the variable
        `--app-check-env` names). The same command passed on the data before the upgrade and
        fails after it: the migrated schema (or the rolled-back one) breaks what the application
        does, which production would see as errors during or after the deploy. A command that
        already failed before the upgrade proves nothing about the migration and is not reported
        here (the report still shows each run). It stops being right when the command depends on
        something else that changed between the runs (time, network, random data).
    """
    solution = ("Read the output tail in the report; make the migration backward compatible (expand now, "
                "contract in a later release) or fix the application before deploying.")
    alembic = """
        Split the change: add the new column or table first and keep the old one until no
        running release reads it; drop it in a later revision, e.g.
        ```python
        def upgrade():
            op.add_column("orders", sa.Column("status_v2", sa.Text()))  # expand; drop "status" later
        ```
    """

    def check(self, ctx: DatabaseContext) -> Iterator[Hit]:
        before = {r.command: r for r in ctx.app_checks if r.moment == "before-upgrade"}
        for run in ctx.app_checks:
            if run.moment != ctx.moment or run.ok:
                continue
            first = before.get(run.command)
            if first is None or not first.ok:
                continue
            what = "timed out" if run.timed_out else f"exited {run.exit_code}"
            last = run.output_tail.strip().splitlines()[-1:] if run.output_tail.strip() else []
            yield Hit(f"app check `{run.command}` passed before the upgrade and {what} {ctx.moment}"
                      + (f": {last[0][:200]}" if last else ""),
                      {"command": run.command, "moment": ctx.moment, "exit_code": run.exit_code,
                       "timed_out": run.timed_out, "duration_s": run.duration_s})
