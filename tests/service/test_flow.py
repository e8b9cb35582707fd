"""A rehearsal through the service end to end: submit, run on a worker, events, every report format."""

from __future__ import annotations


def test_submit_runs_and_every_report_format_renders(service, source_db):
    service.target("shop", source_db=source_db())
    service.start_worker()
    rid = service.submit("shop", ref="main")
    row = service.wait_for(rid, ("passed", "failed", "error", "cancelled"))
    assert row["status"] == "passed", row
    assert row["exit_code"] == 0 and row["started_at"] and row["finished_at"]
    for fmt, needle in (("json", '"revisions"'), ("markdown", "sv02"), ("html", "<html"), ("junit", "<testsuite"),
                        ("sarif", '"runs"')):
        resp = service.http.get(f"/api/rehearsals/{rid}/report", params={"format": fmt})
        assert resp.status_code == 200 and needle in resp.text, (fmt, resp.text[:200])
    with service.http.stream("GET", f"/api/rehearsals/{rid}/events") as stream:
        text = "".join(stream.iter_text())
    assert "event: progress" in text and "finished: passed" in text and "event: end" in text
    history = service.http.get("/api/targets/shop/history").json()
    assert [r["revision"] for r in history["rehearsals"][0]["revisions"]] == ["sv02"]
    assert history["rehearsals"][0]["revisions"][0]["duration_s"] >= 2.5  # sv02 sleeps 3 s


def test_a_git_target_is_cloned_at_the_requested_ref(service, source_db, tmp_path):
    import shutil
    import subprocess

    from tests.e2e.conftest import PROJECTS
    repo = tmp_path / "app"
    shutil.copytree(PROJECTS / "service_sleep", repo)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    service.http.post("/api/targets", json={"name": "gitshop", "git_url": str(repo), "git_ref": "main",
                                            "source_url": f"postgresql://postgres@127.0.0.1:5432/{source_db()}"}
                      ).raise_for_status()
    service.env["SERVICE_SLEEP_S"] = "0"
    service.start_worker()
    rid = service.submit("gitshop", ref=sha)
    row = service.wait_for(rid, ("passed", "failed", "error", "cancelled"))
    assert row["status"] == "passed" and row["commit"] == sha
    bad = service.submit("gitshop", ref="no-such-ref")
    row = service.wait_for(bad, ("passed", "failed", "error", "cancelled"))
    assert row["status"] == "error" and "could not check the project out" in row["status_reason"]
