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
