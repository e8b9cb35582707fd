"""No false failures: each class that a real history showed, on a small project made for it.

Every test here failed before its fix: the version table reported as residue, a backfill's
trigger blamed on the downgrade, values the upgrade wrote rated high risk, a downgrade's rewrite
rated as the upgrade's risk, and a lock held near a limit giving different levels run to run.
"""

from __future__ import annotations

from .conftest import PROJECTS, at_revision, read_report, rehearse


def _run(tmp_path, ini, url_or_snapshot, *extra, name="r"):
    start = ["--snapshot", url_or_snapshot] if not url_or_snapshot.startswith("postgresql") else \
        ["--source", url_or_snapshot, "--no-strict"]
    proc = rehearse("run", *start, "--alembic-ini", str(ini), "--report-dir", str(tmp_path / name), *extra)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, read_report(tmp_path / name)


def _rev(report, rev_id):
    return next(r for r in report["revisions"] if r["id"] == rev_id)


def test_the_version_table_is_never_residue(tmp_path, source_db):
    _, url, _ = source_db
    ini = PROJECTS / "version_table_widened" / "alembic.ini"
    at_revision(ini, url, "vw01")
    for mode in ("release", "stairway"):
        proc, report = _run(tmp_path, ini, url, "--mode", mode, name=mode)
        assert proc.returncode == 0, (mode, report["failures"])
        rb = _rev(report, "vw02")["rollback"]
        assert rb["classification"] == "reversible" and rb["schema_diff"] == [], rb


def test_values_the_upgrade_wrote_are_information_not_high_risk(tmp_path, source_db):
    _, url, _ = source_db
    ini = PROJECTS / "data_loss" / "alembic.ini"
    at_revision(ini, url, "dl01")
    proc, report = _run(tmp_path, ini, url, "--fail-on", "high")
    assert proc.returncode == 0, report["failures"]
    rev = _rev(report, "dl02")
    assert rev["rollback"]["ok"] and rev["rollback"]["classification"] == "reversible"
    assert rev["rollback"]["data_diff"] == []
    assert any("display_name" in d["message"] and "300" in d["message"] for d in rev["rollback"]["discarded"])
    assert rev["risk"] not in ("high", "critical"), rev["risk_reasons"]
    assert any("discards values the upgrade wrote" in r for r in rev["risk_reasons"])


def test_a_column_the_downgrade_left_alone_is_not_its_data_loss(tmp_path, source_db):
    _, url, _ = source_db
    ini = PROJECTS / "one_way_backfill" / "alembic.ini"
    at_revision(ini, url, "ow01")
    proc, report = _run(tmp_path, ini, url)
    assert proc.returncode == 0, report["failures"]
    rb = _rev(report, "ow02")["rollback"]
    assert rb["ok"] and rb["data_diff"] == []
    assert any("updated_at" in d["message"] for d in rb["one_way"]), rb
    assert any("amount_cents" in d["message"] for d in rb["discarded"]), rb
    assert _rev(report, "ow02")["risk"] == "medium", _rev(report, "ow02")["risk_reasons"]


def test_a_downgrade_rewrite_is_the_rollbacks_risk_not_the_upgrades(tmp_path, source_db):
    _, url, _ = source_db
    ini = PROJECTS / "heavy_downgrade" / "alembic.ini"
    at_revision(ini, url, "hd01")
    proc, report = _run(tmp_path, ini, url)
    rev = _rev(report, "hd02")
    downgrade_findings = [f for f in rev["findings"] if f["phase"] == "downgrade"]
    assert any(f["code"] == "RH202" for f in downgrade_findings), rev["findings"]
    assert rev["risk"] == "medium", rev["risk_reasons"]
    assert any(r.startswith("medium: if rolled back: RH202") for r in rev["risk_reasons"])


def test_five_runs_of_one_snapshot_give_the_same_levels(tmp_path, source_db):
    _, url, _ = source_db
    ini = PROJECTS / "near_threshold" / "alembic.ini"
    at_revision(ini, url, "nt01")
    snap = tmp_path / "snap"
    assert rehearse("snapshot", url, "-o", str(snap), "--no-strict").returncode == 0
    seen = set()
    for i in range(5):
        proc, report = _run(tmp_path, ini, str(snap), name=f"run{i}")
        seen.add((proc.returncode, tuple((r["id"], r["risk"]) for r in report["revisions"])))
    assert len(seen) == 1, seen


def test_stairway_gives_every_revision_its_verdict_after_a_pass_downgrade(tmp_path, source_db):
    """pd02's downgrade is `pass`: its re-upgrade fails on the column it left. The others are
    rehearsed from pd02's upgraded state (a checkpoint), each with a verdict of its own."""
    _, url, _ = source_db
    ini = PROJECTS / "pass_downgrade" / "alembic.ini"
    at_revision(ini, url, "pd01")
    proc, report = _run(tmp_path, ini, url, "--mode", "stairway")
    assert proc.returncode == 1
    revs = {r["id"]: r for r in report["revisions"]}
    assert set(revs) == {"pd02", "pd03", "pd04"}
    assert all(r["upgrade"]["ok"] and not r.get("not_rehearsed") for r in revs.values()), report["failures"]
    assert revs["pd02"]["reupgrade"]["ok"] is False  # its own residue, reported on it
    assert revs["pd03"]["rollback"]["classification"] == "irreversible"
    assert revs["pd04"]["rollback"]["classification"] == "missing"
    assert not any("pd03" in line and "re-upgrade" in line for line in report["failures"])


def test_revisions_after_a_failed_upgrade_are_not_rehearsed_not_failed(tmp_path, source_db):
    _, url, _ = source_db
    ini = PROJECTS / "fails_midway" / "alembic.ini"
    at_revision(ini, url, "fm01")
    for mode in ("release", "stairway"):
        proc, report = _run(tmp_path, ini, url, "--mode", mode, name=mode)
        assert proc.returncode == 1
        fm03 = next(r for r in report["revisions"] if r["id"] == "fm03")
        assert fm03["not_rehearsed"] == "not rehearsed: because the upgrade of fm02 failed"
        assert fm03["upgrade"]["skipped"] is True
        assert [line for line in report["failures"] if "fm03" in line] == []
        assert fm03["risk"] == "low"


def test_merges_and_branches_walk_in_both_modes(tmp_path, source_db):
    _, url, _ = source_db
    ini = PROJECTS / "branches" / "alembic.ini"
    at_revision(ini, url, "br01")
    for mode in ("release", "stairway"):
        proc, report = _run(tmp_path, ini, url, "--mode", mode, name=mode)
        assert proc.returncode == 0, (mode, report["failures"], proc.stderr[-2000:])
        assert {r["id"] for r in report["revisions"]} == {"br02a", "br02b", "br03", "br04"}
        assert all(r["rollback"]["ok"] for r in report["revisions"])
