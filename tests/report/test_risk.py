"""The risk model: levels and reasons per revision, overall risk, thresholds, the gate."""

from __future__ import annotations

import dataclasses

import pytest

from rehearse import model, risk
from rehearse.errors import BadInput


def by_id(report):
    return {r.id: r for r in report.revisions}


def test_demo_levels(built_report):
    levels = {r.id[:4]: r.risk for r in built_report.revisions}
    assert levels == {"0001": "low", "0002": "low", "0003": "low", "0004": "high", "0005": "high",
                      "0006": "medium", "0007": "critical", "0008": "critical", "0009": "low"}
    assert built_report.risk == "critical"


def test_reasons_are_listed_worst_first(built_report):
    rev = by_id(built_report)["0008b8c9d0e1"]
    assert rev.risk_reasons[0].startswith("critical: downgrade failed")
    ranks = [risk.level_rank(r.split(":", 1)[0]) for r in rev.risk_reasons]
    assert ranks == sorted(ranks, reverse=True)
    assert any("14.6 s" in r and "public.users" in r for r in rev.risk_reasons)


def test_failed_upgrade_is_critical(built_report):
    rev = by_id(built_report)["0001a1b2c3d4"]
    failed = dataclasses.replace(rev, upgrade=dataclasses.replace(rev.upgrade, ok=False, error="boom\nmore"))
    level, reasons = risk.assess_revision(failed)
    assert level == "critical" and reasons == ("critical: upgrade failed: boom",)


def test_blocking_lock_levels_follow_thresholds(built_report):
    rev = by_id(built_report)["0004d4e5f6a7"]  # ShareLock on 3M-row orders for 8.4 s
    assert risk.assess_revision(rev)[0] == "high"
    rev_no_finding = dataclasses.replace(rev, findings=(),
                                         upgrade=dataclasses.replace(rev.upgrade, blocked_traffic=()))
    assert risk.assess_revision(rev_no_finding)[0] == "high"
    lenient = risk.RiskThresholds(high_lock_s=10, medium_lock_s=9)
    assert risk.assess_revision(rev_no_finding, lenient)[0] == "low"
    small = risk.RiskThresholds(large_table_rows=10_000_000, large_table_bytes=10**12)
    assert risk.assess_revision(rev_no_finding, small)[0] == "medium"


def test_long_access_exclusive_on_large_table_is_critical(built_report):
    rev = dataclasses.replace(by_id(built_report)["0005e5f6a7b8"], findings=())
    assert risk.assess_revision(rev)[0] == "high"
    assert risk.assess_revision(rev, risk.RiskThresholds(critical_lock_s=16))[0] == "critical"  # 21 s > 16 s + 25 %


def test_accepted_findings_do_not_raise_risk(built_report):
    rev = by_id(built_report)["0003c3d4e5f6"]
    finding = rev.findings[0]
    assert finding.accepted
    loud = dataclasses.replace(finding, severity="critical")
    assert risk.assess_revision(dataclasses.replace(rev, findings=(loud,)))[0] == "low"
    unaccepted = dataclasses.replace(loud, accepted=None)
    assert risk.assess_revision(dataclasses.replace(rev, findings=(unaccepted,)))[0] == "critical"


def test_rollback_classifications(built_report):
    rev = by_id(built_report)["0001a1b2c3d4"]
    for kind, level in [("data-loss", "critical"), ("broken", "critical"), ("irreversible", "high"),
                        ("missing", "high"), ("reversible", "low"), ("not-run", "low")]:
        rb = model.RollbackResult(ok=kind == "reversible", classification=kind)
        assert risk.assess_revision(dataclasses.replace(rev, rollback=rb))[0] == level, kind


def test_failed_reupgrade_is_high(built_report):
    rev = by_id(built_report)["0001a1b2c3d4"]
    bad = dataclasses.replace(rev, reupgrade=model.StepResult(ok=False, duration_s=0.1, error="relation exists"))
    assert risk.assess_revision(bad) == ("high", ("high: re-upgrade after the downgrade failed: relation exists",))


def test_assess_returns_new_report_and_overall_is_worst(built_report):
    plain = dataclasses.replace(built_report, risk="low", revisions=tuple(
        dataclasses.replace(r, risk="low", risk_reasons=()) for r in built_report.revisions))
    assessed = risk.assess(plain)
    assert assessed is not plain and plain.revisions[4].risk == "low"
    assert assessed.risk == "critical"
    only_low = dataclasses.replace(plain, revisions=plain.revisions[:3],
                                   rollback=model.RollbackResult(ok=True), findings=())
    assert risk.assess(only_low).risk == "low"
    with_high = dataclasses.replace(only_low, revisions=plain.revisions[:5])
    assert risk.assess(with_high).risk == "high"


def test_gate(built_report):
    assert risk.gate(built_report, None) is False
    assert risk.gate(built_report, "critical") is True
    assert risk.gate(built_report, "HIGH") is True
    low_only = dataclasses.replace(built_report, risk="medium", revisions=built_report.revisions[:3])
    assert risk.gate(low_only, "high") is False
    assert risk.gate(low_only, "low") is True
    assert risk.gate_reasons(built_report, "critical") == [
        "0007a7b8c9d0 (drop users.legacy_flags): critical",
        "0008b8c9d0e1 (split users.name into first and last name): critical"]
    with pytest.raises(BadInput, match="unknown risk level 'severe'"):
        risk.gate(built_report, "severe")


def test_thresholds_from_mapping():
    t = risk.RiskThresholds.from_mapping({"high-lock-s": "3", "large_table_rows": 5000})
    assert t.high_lock_s == 3.0 and t.large_table_rows == 5000 and isinstance(t.large_table_rows, int)
    with pytest.raises(BadInput, match="unknown threshold 'big'"):
        risk.RiskThresholds.from_mapping({"big": 1})
    with pytest.raises(BadInput, match="valid number"):
        risk.RiskThresholds.from_mapping({"high_lock_s": "soon"})
    with pytest.raises(BadInput, match="medium_lock_s <= high_lock_s"):
        risk.RiskThresholds.from_mapping({"medium_lock_s": 10})


def test_model_is_documented():
    doc = risk.__doc__
    for name in ("critical_lock_s", "high_lock_s", "medium_lock_s", "large_table_rows", "slow_statement_s",
                 "accepted", "data-loss", "irreversible"):
        assert name in doc, name


def test_measured_blocked_traffic_and_lock_timeout(built_report):
    rev = by_id(built_report)["0005e5f6a7b8"]
    assert any(r.startswith("high: read queries on public.orders waited up to 21.2 s (311 queries")
               for r in rev.risk_reasons)
    quiet = dataclasses.replace(rev, findings=(), upgrade=dataclasses.replace(
        rev.upgrade, statements=(), blocked_traffic=rev.upgrade.blocked_traffic))
    assert risk.assess_revision(quiet)[0] == "high"
    assert risk.assess_revision(quiet, risk.RiskThresholds(critical_lock_s=16))[0] == "critical"  # 21 s > 16 s + 25 %
    six = by_id(built_report)["0006f6a7b8c9"]
    assert any(r.startswith("medium: would fail under --lock-timeout") for r in six.risk_reasons)


def _held(seconds: float) -> model.RevisionResult:
    lock = model.LockTaken("public.accounts", "AccessExclusiveLock", True, True, held_s=seconds, rows=500)
    stmt = model.StatementTrace("ALTER TABLE accounts ADD COLUMN flag boolean", seconds, locks=(lock,))
    return model.RevisionResult("nt02", "", ("nt01",), None, model.StepResult(True, seconds, (stmt,)))


def test_a_hold_near_a_limit_gives_one_level_whichever_side_it_lands():
    """0.97 s and 1.15 s are the same lock measured twice; 1 s limits must not split them."""
    levels = {risk.assess_revision(_held(s))[0] for s in (0.97, 1.0, 1.05, 1.15, 1.2)}
    assert levels == {"low"}
    assert risk.assess_revision(_held(1.4))[0] == "medium"
    strict = risk.RiskThresholds(duration_noise=0)
    assert risk.assess_revision(_held(1.05), strict)[0] == "medium"


def test_headline_lock_is_the_most_restrictive_on_a_table():
    from rehearse.report._common import max_lock
    locks = (model.LockTaken("public.ix_orders_a", "AccessExclusiveLock", True, True, held_s=1.02, bytes=10),
             model.LockTaken("public.orders", "ShareLock", False, True, held_s=1.03, rows=9, bytes=99),
             model.LockTaken("public.orders", "AccessExclusiveLock", True, True, held_s=1.0, rows=9, bytes=99))
    rev = model.RevisionResult("r1", "", (), None, model.StepResult(True, 1.1, (
        model.StatementTrace("DROP INDEX ix_orders_a; ...", 1.1, locks=locks),)))
    lock, held = max_lock(rev)
    assert (lock.relation, lock.mode) == ("public.orders", "AccessExclusiveLock")


def test_an_index_dropped_and_created_again_is_a_rewrite():
    from rehearse.migrate.recreated import with_recreated_rewrites
    drop = model.StatementTrace("DROP INDEX ix_a", 0.01, catalog_changes=("dropped index public.ix_a",),
                                locks=(model.LockTaken("public.ix_a", "AccessExclusiveLock", True, True, 0.5,
                                                       bytes=8 << 20),))
    create = model.StatementTrace("CREATE INDEX ix_a ON t (a, b)", 0.4, catalog_changes=(
        "added index public.ix_a: CREATE INDEX ix_a ON public.t USING btree (a, b)",))
    pk_drop = model.StatementTrace("ALTER TABLE t DROP CONSTRAINT pk_t", 0.01, catalog_changes=(
        "dropped constraint pk_t on t", "dropped index public.pk_t"))
    pk_add = model.StatementTrace("ALTER TABLE t ADD CONSTRAINT pk_t PRIMARY KEY (a)", 0.2, catalog_changes=(
        "added constraint pk_t on t: PRIMARY KEY (a)", "added index public.pk_t: CREATE UNIQUE INDEX ..."))
    check = model.StatementTrace("...", 0.0, catalog_changes=("dropped constraint ck on t",
                                                               "added constraint ck on t: CHECK (a > 0)"))
    step = with_recreated_rewrites(model.StepResult(True, 1.0, (drop, create, pk_drop, pk_add, check)))
    assert [s.rewrites for s in step.statements] == [(), ("public.ix_a",), (), ("public.pk_t",), ()]
    rev = model.RevisionResult("r1", "", (), None, step)
    assert any("rewrites table public.ix_a (8.0 MB)" in r for r in risk.assess_revision(rev)[1])
