"""`rehearse run --traffic`: normal reads and writes run while each revision migrates, and the
report says which statement blocked them, with which lock, for how long."""

from __future__ import annotations

from .conftest import at_revision, read_report, rehearse


def test_traffic_blocked_by_a_long_exclusive_lock_is_measured(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("slow_lock"), url, "sl01")
    proc = rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(project("slow_lock")),
                    "--report-dir", str(tmp_path / "r"), "--traffic", "--traffic-rate", "20",
                    "--format", "json", "--format", "markdown")
    assert proc.returncode in (0, 1), proc.stderr
    report = read_report(tmp_path / "r")
    sl02 = next(r for r in report["revisions"] if r["id"] == "sl02")
    blocked = sl02["upgrade"]["blocked_traffic"]
    kinds = {b["kind"] for b in blocked if "ledger" in b["table"]}
    assert kinds == {"read", "write"}, blocked
    worst = max(blocked, key=lambda b: b["blocked_s"])
    assert worst["blocker_lock_mode"] == "AccessExclusiveLock"
    assert "ALTER TABLE" in worst["blocker_statement"].upper()
    assert worst["blocked_s"] > 0.5  # the revision held the lock for 3 s: a measurement, wide margin
    # the data did not change under the workload: the rollback proof still holds
    assert sl02["rollback"]["ok"], sl02["rollback"]
    assert "write queries on ledger waited up to" in (tmp_path / "r" / "report.md").read_text()
