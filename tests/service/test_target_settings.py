"""A target's thresholds reach the child `rehearse run`: its report is judged by the target's budgets."""

from __future__ import annotations

from rehearse.model import RISK_LEVELS

TINY_LOCK_BUDGET = {"medium_lock_s": 0, "high_lock_s": 0, "critical_lock_s": 0, "large_table_rows": 1}


def test_a_tiny_lock_budget_raises_the_risk_of_the_same_rehearsal(service, source_db):
    service.target("default", source_db=source_db())
    tight = service.target("tight", source_db=source_db(), thresholds=TINY_LOCK_BUDGET)
    assert tight["thresholds"] == TINY_LOCK_BUDGET
    service.env["SERVICE_SLEEP_S"] = "0"
    service.start_worker()
    rows = {}
    for name in ("default", "tight"):
        rid = service.submit(name, ref="main")
        rows[name] = service.wait_for(rid, ("passed", "failed", "error", "cancelled"))
        assert rows[name]["exit_code"] in (0, 1) and rows[name]["risk"], rows[name]
    assert RISK_LEVELS.index(rows["tight"]["risk"]) > RISK_LEVELS.index(rows["default"]["risk"]), rows
    # ADD COLUMN holds ACCESS EXCLUSIVE (it blocks reads): over a 0 s budget on a "large" 300-row table
    assert rows["tight"]["risk"] == "critical", rows
    report = service.http.get(f"/api/rehearsals/{rows['tight']['id']}/report", params={"format": "json"}).json()
    reasons = " ".join(r for rev in report["revisions"] for r in rev["risk_reasons"])
    assert "limit for a large table" in reasons, report["revisions"]

def test_thresholds_the_child_would_refuse_are_refused_when_the_target_is_saved(service):
    base = {"name": "t", "project_path": "/p", "snapshot": "/s"}
    for thresholds, needle in (({"lock_budget_s": 1}, "unknown"), ({"medium_lock_s": -1}, "greater than"),
                               ({"medium_lock_s": 9, "high_lock_s": 2}, "medium_lock_s <= high_lock_s"),
                               ({"checks": {"statement_s": "slow"}}, "statement_s")):
        resp = service.http.post("/api/targets", json={**base, "thresholds": thresholds})
        assert resp.status_code == 422, (thresholds, resp.text)
        body = resp.json()
        assert set(body) == {"what", "why", "hint"} and all(body.values()) and needle in body["what"], body
    assert service.http.get("/api/targets/t").status_code == 404
    ok = service.http.post("/api/targets", json={**base, "thresholds": {"checks": {"statement_s": 2}, "high_lock_s": 3}})
    assert ok.status_code == 201, ok.text


def test_the_child_settings_keep_the_projects_own_and_lay_the_targets_thresholds_over(tmp_path):
    from rehearse.config import read_settings
    from rehearse.service.jobs import rehearse_command, write_child_settings
    project = tmp_path / "app"
    project.mkdir()
    (project / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s\n")
    (project / "rehearse.yaml").write_text("run:\n  mode: stairway\nthresholds:\n  statement_s: 2\n  medium_lock_s: 4\n"
                                           "invariants:\n  - {name: n, sql: SELECT 0, expect: '== 0'}\n")
    target = {"alembic_ini": "alembic.ini", "thresholds": {"risk": {"medium_lock_s": 0.5}}}
    path = write_child_settings(target, project, tmp_path / "work")
    settings = read_settings(path).data
    assert settings.run.mode == "stairway" and [i.name for i in settings.invariants] == ["n"]
    assert settings.thresholds.checks.statement_s == 2 and settings.thresholds.risk.medium_lock_s == 0.5
    assert rehearse_command(target, project, tmp_path / "r", path)[-2:] == ["--config", str(path)]
    assert write_child_settings({"alembic_ini": "alembic.ini", "thresholds": {}}, project, tmp_path / "w") is None
