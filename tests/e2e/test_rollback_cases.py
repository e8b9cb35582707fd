"""The rollback proof end to end: each small Alembic project misbehaves in one way on purpose
(tests/projects/README.md) and the report must say exactly that, on real data."""

from __future__ import annotations

import os

import yaml

from .conftest import at_revision, leftover_clusters, read_report, rehearse


def _run(tmp_path, ini, url, *extra, env=None):
    report_dir = tmp_path / "reports"
    proc = rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(ini),
                    "--report-dir", str(report_dir), *extra, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, read_report(report_dir) if (report_dir / "report.json").exists() else None


def _rev(report, rev_id):
    return next(r for r in report["revisions"] if r["id"] == rev_id)


def test_index_recreated_with_another_definition(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("index_changed"), url, "ic01")
    proc, report = _run(tmp_path, project("index_changed"), url)
    assert proc.returncode == 1
    rb = _rev(report, "ic02")["rollback"]
    assert rb["ok"] is False
    messages = [d["message"] for d in rb["schema_diff"]]
    assert any("ix_products_code" in m and "non-unique" in m for m in messages), messages


def test_enum_value_left_behind(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("enum_left"), url, "el01")
    proc, report = _run(tmp_path, project("enum_left"), url)
    assert proc.returncode == 1
    rb = _rev(report, "el02")["rollback"]
    assert not rb["ok"]
    assert any("archived" in d["message"] for d in rb["schema_diff"])
    # the ADD VALUE ran in an autocommit block: traced as outside a transaction
    upgrade = _rev(report, "el02")["upgrade"]["statements"]
    assert any("ADD VALUE" in s["sql"].upper() and s["in_transaction"] is False for s in upgrade)


def test_sequence_left_advanced_is_listed(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("sequence_advanced"), url, "sq01")
    proc, report = _run(tmp_path, project("sequence_advanced"), url)
    rb = _rev(report, "sq02")["rollback"]
    assert any("sequence" in d["object"] and "303" in (d["after"] or "") + d["message"] for d in rb["schema_diff"])


def test_a_downgrade_failing_on_a_later_ones_residue_is_blamed_on_that_one(tmp_path, source_db, project):
    """dd03's downgrade forgets its view; dd02's downgrade then fails on it. dd02 is rehearsed
    again on the database its upgrade made (a checkpoint) and passes: the failure is dd03's, and
    the whole-range verdict says the full downgrade would stop at dd02 because of it."""
    _, url, _ = source_db
    at_revision(project("downgrade_dependency"), url, "dd01")
    proc, report = _run(tmp_path, project("downgrade_dependency"), url)
    assert proc.returncode == 1
    dd03 = _rev(report, "dd03")
    assert dd03["downgrade"]["ok"] is True and dd03["rollback"]["ok"] is False  # the view it forgot
    assert any("customer_segments" in d["object"] for d in dd03["rollback"]["schema_diff"])
    dd02 = _rev(report, "dd02")
    assert dd02["downgrade"]["ok"] is True and dd02["rollback"]["ok"] is True, dd02["rollback"]
    assert not any(line.startswith("downgrade of dd02") for line in report["failures"]), report["failures"]
    whole = report["rollback"]
    assert whole["ok"] is False and "fails at dd02 because of what the downgrade of dd03 left behind" in whole["error"]
    assert "depend" in whole["error"].lower()
    assert [r["reupgrade"]["ok"] for r in report["revisions"]] == [True, True]
    assert not leftover_clusters()


def test_pass_raise_and_missing_downgrades_are_classified_and_the_range_is_covered(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("pass_downgrade"), url, "pd01")
    proc, report = _run(tmp_path, project("pass_downgrade"), url)
    assert proc.returncode == 1
    assert _rev(report, "pd04")["rollback"]["classification"] == "missing"
    assert _rev(report, "pd03")["rollback"]["classification"] == "irreversible"
    pd02 = _rev(report, "pd02")
    assert pd02["downgrade"]["ok"] is True  # `pass` runs...
    assert pd02["rollback"]["ok"] is False  # ...and leaves notes.tag behind
    assert any("tag" in d["object"] for d in pd02["rollback"]["schema_diff"])
    codes = {f["code"] for f in report["findings"]}
    assert {"RH303", "RH304", "RH305"} & codes, codes  # graph rules saw it without running anything


def test_branches_and_merge_walk_both_ways(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("branches"), url, "br01")
    proc, report = _run(tmp_path, project("branches"), url)
    assert proc.returncode == 0, proc.stderr
    ids = [r["id"] for r in report["revisions"]]
    assert set(ids) == {"br02a", "br02b", "br03", "br04"}
    assert ids.index("br03") > max(ids.index("br02a"), ids.index("br02b"))
    assert all(r["downgrade"]["ok"] and r["rollback"]["ok"] and r["reupgrade"]["ok"] for r in report["revisions"])


def test_stairway_mode_runs_up_down_up_per_revision(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("broken_downgrade"), url, "bd01")
    proc, report = _run(tmp_path, project("broken_downgrade"), url, "--mode", "stairway")
    assert proc.returncode == 1
    bd02 = _rev(report, "bd02")
    assert bd02["upgrade"]["ok"] and bd02["downgrade"]["ok"] and bd02["reupgrade"] is not None
    assert bd02["rollback"]["ok"] is False
    # the column the downgrade forgot makes the re-upgrade fail: a real consequence, reported
    assert bd02["reupgrade"]["ok"] is False and "sku" in bd02["reupgrade"]["error"]


def test_clean_history_is_reported_clean_in_stairway_mode(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("clean"), url, "clean01")
    proc, report = _run(tmp_path, project("clean"), url, "--mode", "stairway")
    assert proc.returncode == 0, proc.stderr
    assert report["outcome"] == "pass" and report["rollback"]["ok"]


def test_concurrent_index_in_autocommit_block_and_transaction_per_migration(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("autocommit_concurrent"), url, "cc01")
    proc, report = _run(tmp_path, project("autocommit_concurrent"), url)
    assert proc.returncode == 0, proc.stderr
    statements = _rev(report, "cc02")["upgrade"]["statements"]
    concurrent = [s for s in statements if "CONCURRENTLY" in s["sql"].upper()]
    assert concurrent and all(s["in_transaction"] is False for s in concurrent)


def test_url_read_from_an_environment_variable(tmp_path, source_db, project):
    _, url, _ = source_db
    os.environ["APP_DB_URL"] = url.replace("postgresql://", "postgresql+psycopg2://")
    try:
        at_revision(project("url_from_env"), url, "ue01")
    finally:
        del os.environ["APP_DB_URL"]
    proc, report = _run(tmp_path, project("url_from_env"), url, "--url-env", "APP_DB_URL")
    assert proc.returncode == 0, proc.stderr
    assert [r["id"] for r in report["revisions"]] == ["ue02"]


def test_invariants_baseline_and_fail_on(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("clean"), url, "clean01")
    settings = tmp_path / "rehearse.yaml"
    settings.write_text(yaml.safe_dump({"invariants": [
        {"name": "has_rows", "sql": "SELECT count(*) FROM accounts", "expect": "> 0"},
        {"name": "impossible", "sql": "SELECT count(*) FROM accounts", "expect": "== 0"},
    ]}))
    proc, report = _run(tmp_path, project("clean"), url, "--config", str(settings))
    failing = [f for f in report["findings"] if f["code"] == "RH404"]
    assert failing and all("impossible" in f["message"] for f in failing)
    assert not any("has_rows" in f["message"] for f in failing)

    findings = [f for r in report["revisions"] for f in r["findings"]]
    assert findings, "the clean project still trips some rules (e.g. lock_timeout)"
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(yaml.safe_dump({"accepted": [
        {"code": f["code"], "revision": f["revision"], "reason": "known, accepted in review"} for f in findings]}))
    proc, report = _run(tmp_path, project("clean"), url, "--baseline", str(baseline))
    accepted = [f for r in report["revisions"] for f in r["findings"]]
    assert accepted and all(f["accepted"] == "known, accepted in review" for f in accepted)
