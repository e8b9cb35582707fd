"""A target's run options (issue #15's `rehearse run` options) reach the child run through a real
`rehearse serve` and a real worker: checked when saved, kept with each rehearsal, found in its report."""

from __future__ import annotations

import sys

import pytest

from .conftest import PROJECTS
from .uikit import login, make_user

OLD_APP = f"{sys.executable} {PROJECTS / 'app_check' / 'old_app_check.py'}"
DONE = ("passed", "failed", "error", "cancelled")


def _report(service, rid: int) -> dict:
    resp = service.http.get(f"/api/rehearsals/{rid}/report", params={"format": "json"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_an_app_check_that_breaks_after_the_upgrade_is_a_critical_finding_of_the_stored_report(service, source_db):
    # the old release's query reads items.legacy_code, which ac02 drops; its URL comes in APP_DB
    check = {"cmd": f"{OLD_APP} APP_DB", "env": "APP_DB", "timeout_s": 120, "at": ["after-upgrade", "before-upgrade"]}
    saved = service.target("shop", project="app_check", source_db=source_db("app_check", "ac01"),
                           run_options={"app_checks": [check]})
    normalized = {**check, "timeout_s": 120.0, "at": ["before-upgrade", "after-upgrade"]}  # in rehearsal order
    assert saved["run_options"] == {"app_checks": [normalized]}
    assert service.http.get("/api/targets/shop").json()["run_options"] == saved["run_options"]
    service.start_worker()
    rid = service.submit("shop")
    row = service.wait_for(rid, DONE)
    assert row["status"] in ("passed", "failed") and row["risk"] == "critical", row
    assert row["run_options"] == saved["run_options"]  # the rehearsal says what it ran with
    report = _report(service, rid)
    runs = {r["moment"]: r for r in report["app_checks"]}
    assert set(runs) == {"before-upgrade", "after-upgrade"}  # not after the rollback: `at` reached the child
    assert runs["before-upgrade"]["ok"] and "300 items read" in runs["before-upgrade"]["output_tail"]
    assert not runs["after-upgrade"]["ok"] and "legacy_code" in runs["after-upgrade"]["output_tail"]
    [found] = [f for f in report["findings"] if f["code"] == "RH406"]
    assert found["severity"] == "critical" and found["evidence"]["command"] == check["cmd"]
    page = service.http.get(f"/rehearsals/{rid}").text
    assert 'data-option="app_checks"' in page and "URL in APP_DB" in page and "old_app_check.py APP_DB" in page


def test_settings_of_a_target_give_a_report_with_the_settings_comparison(service, source_db):
    service.target("tuned", project="app_check", source_db=source_db("app_check", "ac01"),
                   run_options={"settings": {"lock_timeout": "5s", "work_mem": "64MB"}})
    service.start_worker()
    rid = service.submit("tuned")
    row = service.wait_for(rid, DONE)
    assert row["status"] in ("passed", "failed"), row
    change = _report(service, rid)["settings_change"]
    assert change["settings"] == {"lock_timeout": "5s", "work_mem": "64MB"}
    assert any("DROP COLUMN legacy_code" in s["sql"] for s in change["statements"]), change["statements"]
    assert row["run_options"] == {"settings": {"lock_timeout": "5s", "work_mem": "64MB"}}


@pytest.mark.parametrize("options, needle", [
    ({"scale": "10%"}, "at least two subset sizes"),
    ({"scale": "1%,150%"}, "not between 0% and 100%"),
    ({"settings": {"nosuch_setting": 1}}, "no such setting"),
    ({"settings": {"shared_buffers": "1GB"}}, "server start"),
    ({"app_checks": [{"cmd": "true", "env": "1BAD"}]}, "not an environment variable name"),
    ({"app_checks": [{"cmd": "true", "at": "during-upgrade"}]}, "not a moment"),
    ({"app_checks": [{"cmd": "true", "timeout_s": 0}]}, "more than 0"),
    ({"app_checks": [{"cmd": " "}]}, "needs a command"),
    ({"app_checks": [{"cmd": "true", "retries": 2}]}, "unknown setting"),
    ({"traffic_window_s": "soon"}, "not a duration"),
    ({"queries": "missing.csv"}, "no such file"),  # relative to the project folder, where the child starts
    ({"target_version": 99}, "no PostgreSQL 99"),
    ({"pg_bindir": "/nonexistent/bin"}, "holds no PostgreSQL server"),
    ({"mode": "stairway"}, "unknown option 'mode'"),
])
def test_bad_run_options_are_refused_with_422_and_nothing_is_stored(service, options, needle):
    base = {"name": "t", "project_path": str(PROJECTS / "app_check"), "snapshot": "/s"}
    resp = service.http.post("/api/targets", json={**base, "run_options": options})
    assert resp.status_code == 422, (options, resp.text)
    body = resp.json()
    assert set(body) == {"what", "why", "hint"} and all(body.values()) and needle in body["what"] + body["hint"], body
    assert service.http.get("/api/targets/t").status_code == 404
    # a target that exists keeps its options when a bad change is refused
    assert service.http.post("/api/targets", json={**base, "run_options": {"scale": "1%,3%"}}).status_code == 201
    assert service.http.post("/api/targets", json={**base, "run_options": options}).status_code == 422
    assert service.http.get("/api/targets/t").json()["run_options"] == {"scale": [0.01, 0.03]}


def test_only_an_admin_sets_app_checks_and_the_target_page_edits_run_options(service):
    import sqlalchemy as sa

    from rehearse.service import actions, store

    base = {"name": "t", "project_path": str(PROJECTS / "app_check"), "snapshot": "/s"}
    pw_ann = make_user(service, "ann", "approver")
    token = service.http.post("/api/tokens", json={"user": "ann"}).json()["token"]
    resp = service.http.post("/api/targets", json={**base, "run_options": {"app_checks": ["true"]}},
                             headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403 and set(resp.json()) == {"what", "why", "hint"}, resp.text
    assert service.http.get("/api/targets/t").status_code == 404
    # below the route's own role check, the action refuses app checks to anyone but an admin
    engine = store.engine(service.db_url)
    try:
        with pytest.raises(actions.ApiError) as refused:
            actions.put_target(engine, ("ann", "approver"), {**base, "run_options": {"app_checks": ["true"]}})
        assert refused.value.status == 403 and "only admins set app_checks" in refused.value.what
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM targets")).scalar() == 0
    finally:
        engine.dispose()
    # an admin edits them on the target page: YAML in, the same checks, audited
    pw = make_user(service, "ada", "admin")
    assert service.http.post("/api/targets", json={**base, "thresholds": {"high_lock_s": 3}}).status_code == 201
    browser = login(service, "ada", pw)
    page = browser.get("/targets/t").text
    assert 'id="run-options-form"' in page and "None: rehearsals run with the project's own rehearse.yaml" in page
    text = "scale: 1%,3%\nsuggest_rewrites: true\napp_checks:\n  - {cmd: python smoke.py, timeout_s: 60}\n"
    resp = browser.post("/targets/t/run-options", data={"csrf_token": browser.csrf, "run_options": text})
    assert resp.status_code == 303, resp.text
    saved = service.http.get("/api/targets/t").json()
    assert saved["run_options"] == {"scale": [0.01, 0.03], "suggest_rewrites": True,
                                    "app_checks": [{"cmd": "python smoke.py", "timeout_s": 60.0}]}
    assert saved["thresholds"] == {"high_lock_s": 3}  # the rest of the target is left alone
    page = browser.get("/targets/t").text
    assert "python smoke.py (time limit 60 s)" in page and "1%, 3%" in page
    for bad, status in (("scale: [1%", 422), ("scale: 10%", 422), ("- a list", 422)):
        resp = browser.post("/targets/t/run-options", data={"csrf_token": browser.csrf, "run_options": bad})
        assert resp.status_code == status, (bad, resp.status_code)
    assert service.http.get("/api/targets/t").json()["run_options"] == saved["run_options"]
    # an approver's session sees the options but gets no form, and posting it is refused
    as_ann = login(service, "ann", pw_ann)
    page = as_ann.get("/targets/t").text
    assert "python smoke.py" in page and 'id="run-options-form"' not in page
    assert as_ann.post("/targets/t/run-options", data={"csrf_token": as_ann.csrf, "run_options": ""}).status_code == 403
    assert service.http.get("/api/targets/t").json()["run_options"] == saved["run_options"]
    [entry] = service.http.get("/api/audit", params={"action": "target.run_options"}).json()
    assert entry["actor"] == "ada" and entry["subject"] == "t" and entry["detail"]["run_options"] == saved["run_options"]


def test_the_child_settings_carry_the_run_options_in_their_run_section(tmp_path):
    from rehearse.config import load_run_config
    from rehearse.service.jobs import write_child_settings
    project = tmp_path / "app"
    project.mkdir()
    (project / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s\n")
    (project / "shapes.csv").write_text("query,calls\n")
    (project / "rehearse.yaml").write_text("run:\n  mode: stairway\n  traffic_window: 9s\n  scale: 5%,50%\n")
    target = {"alembic_ini": "alembic.ini", "thresholds": {},
              "run_options": {"queries": "shapes.csv", "traffic_window_s": 2.0, "scale": [0.01, 0.03],
                              "settings": {"work_mem": "64MB"}, "suggest_rewrites": True,
                              "app_checks": [{"cmd": "python smoke.py", "timeout_s": 60.0, "at": ["after-upgrade"]}]}}
    path = write_child_settings(target, project, tmp_path / "work")
    # the child starts in the project folder, so its relative paths do too
    import os
    here = os.getcwd()
    os.chdir(project)
    try:
        cfg = load_run_config(alembic_ini=project / "alembic.ini", settings_file=path, snapshot=tmp_path)
    finally:
        os.chdir(here)
    assert cfg.mode == "stairway"  # the project's own run: keys stay
    assert (cfg.traffic_window_s, cfg.scale, cfg.suggest_rewrites) == (2.0, (0.01, 0.03), True)  # the target's win
    assert cfg.queries.name == "shapes.csv" and cfg.pg_settings == (("work_mem", "64MB"),)
    [check] = cfg.app_checks
    assert (check.command, check.timeout_s, check.env, check.at) == ("python smoke.py", 60.0, "DATABASE_URL",
                                                                      ("after-upgrade",))
