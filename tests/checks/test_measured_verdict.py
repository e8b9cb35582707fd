"""A static guess that a statement rewrites a table is settled by what the rehearsal measured."""

from rehearse.checks import check_step
from rehearse.model import LockTaken, StatementTrace, StepResult

SQL = "ALTER TABLE customers ALTER COLUMN full_name TYPE varchar(300)"
LOCK = LockTaken(relation="public.customers", mode="AccessExclusiveLock", blocks_reads=True,
                 blocks_writes=True, held_s=0.01, rows=10, bytes=8192)


def _type_change(findings):
    return next(f for f in findings if f.name == "ban-column-type-change")


def test_no_rewrite_measured_lowers_the_guess():
    step = StepResult(ok=True, duration_s=0.1, statements=(StatementTrace(sql=SQL, duration_s=0.01, locks=(LOCK,)),))
    finding = _type_change(check_step("r1", step))
    assert finding.severity == "low"
    assert "no table was rewritten" in finding.message and finding.evidence["rewritten"] is False


def test_a_measured_rewrite_keeps_the_rule_severity():
    step = StepResult(ok=True, duration_s=0.1, statements=(
        StatementTrace(sql=SQL, duration_s=0.01, locks=(LOCK,), rewrites=("public.customers",)),))
    assert _type_change(check_step("r1", step)).severity in ("medium", "high")
