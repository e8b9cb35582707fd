"""The pipeline's features end to end, on real PostgreSQL: each rule kind fires in `rehearse run`,
--changed-since (revision and git forms), --reuse, and `rehearse.api` used as a library."""

from __future__ import annotations

import shutil
import subprocess

from rehearse import api
from rehearse.staging import registry

from .conftest import PROJECTS, at_revision, read_report, rehearse


def _findings(report: dict) -> list[dict]:
    return report["findings"] + [f for r in report["revisions"] for f in r["findings"]]


def test_a_rule_of_every_kind_fires_in_a_run(tmp_path, source_db):
    """sql, measured, graph, schema (RH401, RH402, RH405), drift (RH403) and invariant (RH404)."""
    _, url, _ = source_db
    ini = PROJECTS / "rule_kinds" / "alembic.ini"
    at_revision(ini, url, "rk01")
    proc = rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(ini), "--report-dir",
                    str(tmp_path / "r"), "--models", "rk_models:metadata")
    assert "Traceback" not in proc.stderr, proc.stderr
    found = _findings(read_report(tmp_path / "r"))
    codes = {f["code"] for f in found}
    kinds = {f["code"][:3] for f in found}
    assert {"RH1", "RH2", "RH3"} <= kinds, codes
    assert {"RH401", "RH402", "RH403", "RH404", "RH405"} <= codes, codes
    by_code = {f["code"]: f for f in found}
    assert by_code["RH402"]["revision"] == "rk02" and by_code["RH402"]["evidence"]["lost"] == 50
    assert by_code["RH401"]["evidence"]["table"] == "public.child"
    assert any("child.extra" in f["message"] for f in found if f["code"] == "RH403")
    assert by_code["RH405"]["evidence"]["column"] == "public.child.extra"
    assert by_code["RH404"]["evidence"]["invariant"] == "enough_children"
    # an invariant that does not hold fails the rehearsal
    assert proc.returncode == 1
    assert any("enough_children" in line for line in read_report(tmp_path / "r")["failures"])


def test_changed_since_a_revision_scopes_rules_to_later_revisions(tmp_path, source_db):
    _, url, _ = source_db
    ini = PROJECTS / "rule_kinds" / "alembic.ini"
    at_revision(ini, url, "rk01")
    rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(ini), "--report-dir",
             str(tmp_path / "r"), "--changed-since", "rk02")
    report = read_report(tmp_path / "r")
    assert report["scope"] == ["rk03"]
    assert {f["revision"] for f in _findings(report) if f.get("revision")} <= {"rk03"}
    assert [r["id"] for r in report["revisions"]] == ["rk02", "rk03"]  # both still rehearsed


def test_changed_since_a_git_ref_scopes_rules_to_changed_files(tmp_path, source_db):
    _, url, _ = source_db
    repo = tmp_path / "repo"
    shutil.copytree(PROJECTS / "rule_kinds", repo / "app")
    newest = repo / "app" / "versions" / "rk03_empty_downgrade.py"
    kept = newest.read_text()
    newest.unlink()

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "rk01 and rk02")
    git("checkout", "-q", "-b", "feature")
    newest.write_text(kept)
    git("add", ".")
    git("commit", "-q", "-m", "rk03")
    ini = repo / "app" / "alembic.ini"
    at_revision(ini, url, "rk01")
    rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(ini), "--report-dir",
             str(tmp_path / "r"), "--changed-since", "main")
    report = read_report(tmp_path / "r")
    assert report["scope"] == ["rk03"]
    bad = rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(ini), "--report-dir",
                   str(tmp_path / "r2"), "--changed-since", "no-such-ref")
    assert bad.returncode == 2 and "neither a revision of this project nor a git ref" in bad.stderr


def test_reuse_starts_the_second_run_from_the_kept_restore(tmp_path, source_db):
    _, url, _ = source_db
    ini = PROJECTS / "clean" / "alembic.ini"
    at_revision(ini, url, "clean01")
    snap = tmp_path / "snap"
    assert rehearse("snapshot", url, "-o", str(snap), "--no-strict").returncode == 0
    from rehearse.snapshot.format import read_snapshot
    key = read_snapshot(snap, verify=False).checksum[:32]
    try:
        first = rehearse("run", "--snapshot", str(snap), "--alembic-ini", str(ini), "--reuse",
                         "--report-dir", str(tmp_path / "a"))
        second = rehearse("run", "--snapshot", str(snap), "--alembic-ini", str(ini), "--reuse",
                          "--report-dir", str(tmp_path / "b"))
        assert first.returncode == 0 and second.returncode == 0, second.stderr
        assert "cloned from a kept restore" not in first.stderr
        assert "cloned from a kept restore" in second.stderr
        a, b = read_report(tmp_path / "a"), read_report(tmp_path / "b")
        assert [(r["id"], r["risk"], r["rollback"]["classification"]) for r in a["revisions"]] == \
               [(r["id"], r["risk"], r["rollback"]["classification"]) for r in b["revisions"]]
    finally:
        for tpl in (registry.cache_dir() / "templates").glob(f"*{key}*"):
            shutil.rmtree(tpl, ignore_errors=True)


def test_api_run_as_a_library(tmp_path, source_db):
    _, url, _ = source_db
    ini = PROJECTS / "broken_downgrade" / "alembic.ini"
    at_revision(ini, url, "bd01")
    cfg = api.configure(alembic_ini=ini, source=url, strict=False, report_dir=tmp_path / "r")
    said: list[str] = []
    report = api.run(cfg, say=said.append)
    assert report.outcome == "fail"
    assert [r.id for r in report.revisions] == ["bd02"]
    assert report.revisions[0].rollback is not None and not report.revisions[0].rollback.ok
    assert any("items.sku" in d.message for d in report.revisions[0].rollback.schema_diff)
    assert any(line.startswith("upgrade bd02") for line in said)
    assert not (tmp_path / "r" / "report.json").exists()  # writing reports is the caller's choice
    assert '"outcome": "fail"' in api.render(report, "json")
