"""RH406 require-app-checks-pass-after-upgrade on recorded --app-check runs (the runs themselves are
exercised for real in tests/e2e/test_app_check_run.py)."""

from __future__ import annotations

from rehearse.checks import DatabaseContext
from rehearse.model import AppCheckRun


def _run(moment, ok, command="pytest tests/smoke"):
    return AppCheckRun(command=command, moment=moment, ok=ok, exit_code=0 if ok else 1, duration_s=0.5,
                       output_tail="" if ok else "FAILED test_orders - column legacy_code does not exist")


def _found(moment, runs):
    # no database rule other than RH406 reads anything at these moments without a dsn that works:
    # keep only RH406's findings
    ctx = DatabaseContext(moment, dsn="dbname=unused", url="postgresql://unused", app_checks=tuple(runs))
    from rehearse.checks.base import all_rules
    rule = next(r for r in all_rules() if r.code == "RH406")
    return [rule.finding(h, phase=ctx.phase) for h in rule.check(ctx)]


def test_a_check_that_passed_before_and_fails_after_is_reported():
    runs = [_run("before-upgrade", True), _run("after-upgrade", False)]
    [finding] = _found("after-upgrade", runs)
    assert finding.code == "RH406" and finding.severity == "critical"
    assert "legacy_code" in finding.message and finding.evidence["moment"] == "after-upgrade"
    assert _found("after-rollback", runs + [_run("after-rollback", True)]) == []


def test_a_check_that_already_failed_before_is_not_blamed_on_the_migration():
    runs = [_run("before-upgrade", False), _run("after-upgrade", False),
            _run("before-upgrade", True, "other"), _run("after-upgrade", True, "other")]
    assert _found("after-upgrade", runs) == []
