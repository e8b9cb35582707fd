"""The HTTP API's contract: tokens and roles, JSON errors for bad input, secrets never returned."""

from __future__ import annotations

import subprocess
import sys

import httpx


def _token(service, role: str, name: str | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "rehearse.cli", "token", "create", "--role", role,
                          "--name", name or role, "--db", service.db_url], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _is_error(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"what", "why", "hint"} and all(body.values()), body
    assert "Traceback" not in resp.text
    return body


def test_health_is_open_and_openapi_lists_every_endpoint(service):
    assert httpx.get(f"{service.base}/api/health").json() == {"status": "ok"}
    paths = httpx.get(f"{service.base}/api/openapi.json").json()["paths"]
    for path in ("/api/health", "/api/targets", "/api/targets/{name}", "/api/targets/{name}/history",
                 "/api/rehearsals", "/api/rehearsals/{rid}", "/api/rehearsals/{rid}/cancel",
                 "/api/rehearsals/{rid}/report", "/api/rehearsals/{rid}/events", "/api/hooks/github",
                 "/api/hooks/gitlab"):
        assert path in paths


def test_every_endpoint_but_health_needs_a_known_token(service):
    anon = httpx.Client(base_url=service.base)
    for method, path in (("GET", "/api/targets"), ("GET", "/api/rehearsals"), ("POST", "/api/rehearsals"),
                         ("GET", "/api/rehearsals/1"), ("GET", "/api/targets/x/history")):
        _is_error(anon.request(method, path), 401)
        _is_error(anon.request(method, path, headers={"Authorization": "Bearer rh_not_issued"}), 401)


def test_roles_are_checked_on_the_server(service, source_db):
    viewer, requester, other = _token(service, "viewer"), _token(service, "requester"), _token(service, "requester", "bob")
    as_ = lambda tok: {"Authorization": f"Bearer {tok}"}  # noqa: E731
    target = {"name": "shop", "project_path": "/nonexistent", "snapshot": "/nonexistent"}
    _is_error(service.http.post("/api/targets", json=target, headers=as_(requester)), 403)
    assert service.http.post("/api/targets", json=target).status_code == 201  # admin
    assert service.http.get("/api/targets", headers=as_(viewer)).status_code == 200
    _is_error(service.http.post("/api/rehearsals", json={"target": "shop"}, headers=as_(viewer)), 403)
    rid = service.submit("shop", token=requester)
    assert service.get(rid)["requested_by"] == "requester"
    _is_error(service.http.post(f"/api/rehearsals/{rid}/cancel", headers=as_(other)), 403)
    assert service.http.post(f"/api/rehearsals/{rid}/cancel", headers=as_(requester)).json()["status"] == "cancelled"


def test_bad_input_gets_a_4xx_json_error(service):
    _is_error(service.http.post("/api/rehearsals", json={"target": "nope"}), 404)
    _is_error(service.http.post("/api/rehearsals", json={}), 422)
    _is_error(service.http.post("/api/rehearsals", content=b"{not json", headers={"content-type": "application/json"}), 422)
    _is_error(service.http.get("/api/rehearsals/999999"), 404)
    _is_error(service.http.get("/api/rehearsals/abc"), 422)
    _is_error(service.http.get("/api/rehearsals", params={"status": "sleeping"}), 422)
    _is_error(service.http.get("/api/targets/nope"), 404)
    _is_error(service.http.post("/api/targets", json={"name": "t", "project_path": "/p"}), 422)
    _is_error(service.http.post("/api/targets", json={"name": "bad name!", "project_path": "/p", "snapshot": "/s"}), 422)
    body = _is_error(service.http.post("/api/targets", json={"name": "t", "project_path": "/p",
                                                             "source_url": "mysql://u:hunter2@h/db"}), 400)
    assert "hunter2" not in str(body)
    _is_error(service.http.get("/api/nowhere"), 404)


def test_source_url_is_stored_but_never_returned(service, source_db):
    db = source_db()
    service.http.post("/api/targets", json={"name": "secret", "project_path": "/p",
                                            "source_url": f"postgresql://postgres:hunter2@127.0.0.1:5432/{db}"})
    for resp in (service.http.get("/api/targets/secret"), service.http.get("/api/targets")):
        assert resp.status_code == 200 and "hunter2" not in resp.text
        for t in resp.json() if isinstance(resp.json(), list) else [resp.json()]:
            assert "source_url" not in t
    assert service.http.get("/api/targets/secret").json()["has_source_url"] is True


def test_submit_wait_streams_progress_and_exits_with_the_rehearsal_code(service, source_db):
    service.target("ok", source_db=source_db())
    broken = source_db("fails_midway", "fm01")
    service.target("broken", project="fails_midway", source_db=broken)
    service.env["SERVICE_SLEEP_S"] = "0"
    service.start_worker()
    env = {**service.env, "REHEARSE_TOKEN": _token(service, "requester", "ci")}
    for target, code in (("ok", 0), ("broken", 1)):
        out = subprocess.run([sys.executable, "-m", "rehearse.cli", "submit", "--server", service.base, "--target",
                              target, "--ref", "main", "--wait"], capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == code, out.stderr
        assert "started: run --alembic-ini" in out.stderr and "finished:" in out.stderr
    out = subprocess.run([sys.executable, "-m", "rehearse.cli", "submit", "--server", service.base, "--target", "nope"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_audit_log_records_changes_and_nothing_can_change_or_delete_an_entry(service):
    import psycopg2

    from .conftest import PG
    service.http.post("/api/targets", json={"name": "shop", "project_path": "/p", "snapshot": "/s"})
    rid = service.submit("shop")
    service.http.post(f"/api/rehearsals/{rid}/cancel")
    rows = service.http.get("/api/audit").json()
    assert [r["action"] for r in rows if r["action"] != "token.create"] == \
        ["target.create", "rehearsal.submit", "rehearsal.cancel"]
    csv_text = service.http.get("/api/audit", params={"format": "csv", "action": "rehearsal.cancel"}).text
    assert csv_text.splitlines()[0] == "id,at,actor,action,subject,detail" and len(csv_text.splitlines()) == 2
    # no endpoint edits the log: every route under it answers only GET
    for path, ops in httpx.get(f"{service.base}/api/openapi.json").json()["paths"].items():
        if "audit" in path:
            assert set(ops) == {"get"}
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert service.http.request(method, "/api/audit").status_code == 405
    # and the database refuses too, whoever asks
    conn = psycopg2.connect(f"{PG}/{service.db_url.rsplit('/', 1)[1]}")
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with conn.cursor() as cur:
            try:
                cur.execute(sql)
            except psycopg2.Error as exc:
                assert "append-only" in str(exc)
                conn.rollback()
            else:
                raise AssertionError(f"{sql} was allowed")
    conn.close()
    assert len(service.http.get("/api/audit").json()) == len(rows)
