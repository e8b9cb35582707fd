"""The web UI's access control over plain HTTP: roles on every route, CSRF, the login rate limit,
session cookies, approvals routed by risk, JSON twins, and an audit log no endpoint can edit."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.routing import APIRoute

from rehearse.service.app import create_app

from .uikit import csrf_of, login, make_user, password

# The least role each route needs. Every route of the app must be here, so a new one cannot ship unchecked.
OPEN = None
ROUTES = {
    ("GET", "/api/health"): OPEN, ("GET", "/login"): OPEN, ("POST", "/login"): OPEN,
    ("POST", "/api/hooks/github"): "signature", ("POST", "/api/hooks/gitlab"): "signature",
    ("GET", "/api/targets"): "viewer", ("GET", "/api/targets/{name}"): "viewer",
    ("GET", "/api/targets/{name}/history"): "viewer", ("GET", "/api/targets/{name}/trends"): "viewer",
    ("GET", "/api/rehearsals"): "viewer", ("GET", "/api/rehearsals/{rid}"): "viewer",
    ("GET", "/api/rehearsals/{rid}/report"): "viewer", ("GET", "/api/rehearsals/{rid}/events"): "viewer",
    ("GET", "/api/me"): "viewer", ("GET", "/api/dashboard"): "viewer", ("GET", "/api/compare"): "viewer",
    ("GET", "/api/rules"): "viewer", ("POST", "/api/tokens"): "viewer",
    ("POST", "/api/rehearsals"): "requester", ("POST", "/api/rehearsals/{rid}/cancel"): "requester",
    ("POST", "/api/rehearsals/{rid}/approve"): "approver", ("GET", "/api/audit"): "approver",
    ("POST", "/api/targets"): "admin", ("POST", "/api/users"): "admin", ("GET", "/api/users"): "admin",
    ("GET", "/api/tokens"): "admin", ("POST", "/api/tokens/{token_id}/revoke"): "viewer",
    ("GET", "/"): "viewer", ("GET", "/partials/active"): "viewer", ("GET", "/targets/{name}"): "viewer",
    ("GET", "/rehearsals/{rid}"): "viewer", ("GET", "/compare"): "viewer", ("GET", "/rules"): "viewer",
    ("POST", "/logout"): "viewer",
    ("GET", "/api/targets/{name}/snapshots"): "viewer", ("GET", "/api/targets/{name}/snapshots/{sid}"): "viewer",
    ("POST", "/api/targets/{name}/snapshots"): "admin", ("POST", "/api/targets/{name}/snapshots/{sid}/cancel"): "admin",
    ("POST", "/rehearsals"): "requester", ("POST", "/rehearsals/{rid}/cancel"): "requester",
    ("POST", "/rehearsals/{rid}/approve"): "approver", ("GET", "/audit"): "approver",
    ("GET", "/admin"): "admin", ("POST", "/admin/users"): "admin", ("POST", "/admin/tokens"): "admin",
    ("POST", "/admin/targets"): "admin", ("POST", "/admin/tokens/{token_id}/revoke"): "admin",
    ("POST", "/targets/{name}/run-options"): "admin",
    ("POST", "/api/users/{name}/disable"): "admin", ("POST", "/api/users/{name}/enable"): "admin",
    ("POST", "/admin/users/{name}/disable"): "admin", ("POST", "/admin/users/{name}/enable"): "admin",
}
ROLES = ("viewer", "requester", "approver", "admin")


def _app_routes() -> set[tuple[str, str]]:
    app = create_app("postgresql://postgres@127.0.0.1:5432/not_connected_here")
    return {(m, r.path) for r in app.routes if isinstance(r, APIRoute) for m in r.methods}


def _url(path: str) -> str:
    url = path.replace("{rid}", "999999").replace("{name}", "nope").replace("{token_id}", "999999")
    return url + ("?a=999999&b=999999" if url.endswith("compare") else "")


def _is_error(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, (resp.request.method, resp.request.url, resp.status_code, resp.text[:300])
    body = resp.json()
    assert set(body) == {"what", "why", "hint"} and all(body.values()), body
    return body


def test_the_route_table_covers_every_route_of_the_app():
    assert _app_routes() == set(ROUTES), "add the new route and the role it needs to ROUTES"


def test_every_route_checks_the_role_on_the_server(service):
    tokens = {}
    for role in ROLES:
        make_user(service, f"u-{role}", role)
        tokens[role] = service.http.post("/api/tokens", json={"user": f"u-{role}"}).json()["token"]
    anon = httpx.Client(base_url=service.base, timeout=30)
    for (method, path), need in sorted(ROUTES.items()):
        if need in (OPEN, "signature"):
            continue
        url = _url(path)
        resp = anon.request(method, url, json={} if method == "POST" else None)
        if path.startswith("/api/"):
            _is_error(resp, 401)
        elif method == "GET":  # a page: to the login form, and back here afterwards
            assert resp.status_code == 303 and resp.headers["location"].startswith("/login?next="), (path, resp.text)
        else:
            assert resp.status_code == 401, (method, path, resp.status_code)
        for role in ROLES:
            resp = anon.request(method, url, headers={"Authorization": f"Bearer {tokens[role]}"},
                                json={} if method == "POST" and path.startswith("/api/") else None)
            allowed = ROLES.index(role) >= ROLES.index(need)
            if allowed:
                assert resp.status_code not in (401, 403), (method, path, role, resp.status_code, resp.text[:200])
            else:
                assert resp.status_code == 403, (method, path, role, resp.status_code, resp.text[:200])
                if path.startswith("/api/"):
                    _is_error(resp, 403)


def test_a_token_never_acts_above_its_user(service):
    make_user(service, "vera", "viewer")
    token = service.http.post("/api/tokens", json={"user": "vera"}).json()["token"]
    as_vera = {"Authorization": f"Bearer {token}"}
    assert service.http.get("/api/me", headers=as_vera).json() == {"name": "vera", "role": "viewer", "via": "token"}
    # a viewer gets a token for herself, not for others, and not above her role
    assert service.http.post("/api/tokens", json={}, headers=as_vera).status_code == 201
    _is_error(service.http.post("/api/tokens", json={"user": "u-x"}, headers=as_vera), 403)
    _is_error(service.http.post("/api/tokens", json={"role": "admin"}, headers=as_vera), 403)
    _is_error(service.http.post("/api/tokens", json={"user": "nobody"}), 404)
    listed = service.http.get("/api/tokens").json()
    assert {t["user"] for t in listed if t["user"]} == {"vera"} and "token_hash" not in json.dumps(listed)
    # revoking: her own yes, others' no; a revoked token stops working (after the 5 s cache at most)
    admins = [t["id"] for t in listed if t["user"] is None]
    _is_error(service.http.post(f"/api/tokens/{admins[0]}/revoke", headers=as_vera), 403)
    assert service.http.post(f"/api/tokens/{listed[-1]['id']}/revoke", headers=as_vera).json()["revoked"]
    assert service.http.post(f"/api/tokens/{listed[-2]['id']}/revoke").status_code == 200  # by the admin
    import time
    deadline = time.monotonic() + 30
    while service.http.get("/api/me", headers=as_vera).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    _is_error(service.http.get("/api/me", headers=as_vera), 401)
    assert [r["action"] for r in service.http.get("/api/audit", params={"action": "token.revoke"}).json()] == \
        ["token.revoke", "token.revoke"]


def test_session_cookie_is_httponly_lax_and_state_changes_need_the_csrf_token(service):
    pw = make_user(service, "rita", "requester")
    service.http.post("/api/targets", json={"name": "shop", "project_path": "/p", "snapshot": "/s"})
    anon = httpx.Client(base_url=service.base, timeout=30)
    page = anon.get("/login")
    # login CSRF: a form posted without the login page's own token is refused
    assert anon.post("/login", data={"name": "rita", "password": pw, "csrf_token": "forged"}).status_code == 403
    resp = anon.post("/login", data={"name": "rita", "password": pw, "csrf_token": csrf_of(page.text)})
    assert resp.status_code == 303
    cookie = next(v for k, v in resp.headers.multi_items() if k == "set-cookie" and v.startswith("rehearse_session="))
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert "httponly" in attrs and "samesite=lax" in cookie.lower() and "secure" not in attrs  # plain http here
    # behind a TLS proxy (uvicorn trusts X-Forwarded-Proto from 127.0.0.1), the cookie is Secure
    page = httpx.get(f"{service.base}/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" in page.headers["set-cookie"].lower()
    token = csrf_of(page.text)  # its Secure cookie is not sent back over plain http: send it as the browser would
    resp = httpx.post(f"{service.base}/login", data={"name": "rita", "password": pw, "csrf_token": token},
                      headers={"X-Forwarded-Proto": "https", "cookie": f"rehearse_login_csrf={token}"})
    cookie = next(v for k, v in resp.headers.multi_items() if k == "set-cookie" and v.startswith("rehearse_session="))
    assert "secure" in {a.strip().lower() for a in cookie.split(";")}
    browser = login(service, "rita", pw)
    # without the token: refused, with the JSON shape on the API and nothing queued
    _is_error(browser.post("/api/rehearsals", json={"target": "shop"}), 403)
    assert browser.post("/rehearsals", data={"target": "shop"}).status_code == 403
    assert browser.post("/rehearsals", data={"target": "shop", "csrf_token": "wrong"}).status_code == 403
    assert service.http.get("/api/rehearsals", params={"target": "shop"}).json() == []
    # with it (form field or header): accepted
    resp = browser.post("/rehearsals", data={"target": "shop", "csrf_token": browser.csrf})
    assert resp.status_code == 303 and resp.headers["location"].startswith("/rehearsals/")
    rid = browser.post("/api/rehearsals", json={"target": "shop"}, headers={"X-CSRF-Token": browser.csrf}).json()["id"]
    assert service.get(rid)["requested_by"] == "rita"
    # reads need no token; a bearer token needs none either (it is no ambient credential)
    assert browser.get("/api/dashboard").status_code == 200
    # signing out ends the session on the server: the old cookie no longer works
    old = browser.cookies.get("rehearse_session")
    assert browser.post("/logout", data={"csrf_token": browser.csrf}).status_code == 303
    _is_error(httpx.get(f"{service.base}/api/me", cookies={"rehearse_session": old}), 401)


def test_login_is_rate_limited_per_user_and_per_address_in_the_database(service):
    pw = make_user(service, "lars", "viewer")
    make_user(service, "lena", "viewer")
    anon = httpx.Client(base_url=service.base, timeout=30)

    def attempt(name: str, secret: str) -> int:
        token = csrf_of(anon.get("/login").text)
        return anon.post("/login", data={"name": name, "password": secret, "csrf_token": token}).status_code

    assert [attempt("lars", "wrong-password") for _ in range(5)] == [401] * 5
    assert attempt("lars", pw) == 429  # the right password, but only after the window
    assert attempt("lena", "wrong-password") == 429  # the same address is limited for every name
    actions = [r["action"] for r in service.http.get("/api/audit", params={"actor": "lars"}).json()]
    assert actions.count("login.failure") == 5 and "login.refused" in actions and "login.success" not in actions
    # the limit lives in the database: another `serve` on it refuses too
    service.stop_server()
    service.start_server()
    assert attempt("lars", pw) == 429


def test_approval_is_routed_by_risk_and_needs_another_approver(service, source_db):
    db = source_db()
    service.target("strict", source_db=db, approval_threshold="low")  # every passed rehearsal needs a sign-off
    service.target("relaxed", source_db=db)  # default "high": a low-risk rehearsal is approved automatically
    make_user(service, "ann", "approver")
    make_user(service, "bob", "approver")
    make_user(service, "rex", "requester")
    tok = {u: service.http.post("/api/tokens", json={"user": u}).json()["token"] for u in ("ann", "bob", "rex")}
    as_ = lambda u: {"Authorization": f"Bearer {tok[u]}"}  # noqa: E731
    service.env["SERVICE_SLEEP_S"] = "0"
    service.start_worker()
    strict = service.submit("strict", token=tok["ann"])
    relaxed = service.submit("relaxed", token=tok["rex"])
    for rid in (strict, relaxed):
        assert service.wait_for(rid, ("passed", "failed", "error"))["status"] == "passed"
    auto = service.get(relaxed)["approval"]
    assert auto["state"] == "auto-approved" and auto["release_approved"] and "below" in auto["summary"]
    _is_error(service.http.post(f"/api/rehearsals/{relaxed}/approve", json={"reason": "x"}, headers=as_("bob")), 409)
    waiting = service.get(strict)["approval"]
    assert waiting["state"] == "awaiting approval" and not waiting["release_approved"]
    _is_error(service.http.post(f"/api/rehearsals/{strict}/approve", json={"reason": "mine"}, headers=as_("ann")), 403)
    _is_error(service.http.post(f"/api/rehearsals/{strict}/approve", json={"reason": "r"}, headers=as_("rex")), 403)
    _is_error(service.http.post(f"/api/rehearsals/{strict}/approve", json={"reason": " "}, headers=as_("bob")), 422)
    resp = service.http.post(f"/api/rehearsals/{strict}/approve", json={"reason": "reviewed the lock"},
                             headers=as_("bob"))
    assert resp.status_code == 200, resp.text
    done = service.get(strict)["approval"]
    assert done["state"] == "approved" and done["approver"] == "bob" and done["reason"] == "reviewed the lock"
    _is_error(service.http.post(f"/api/rehearsals/{strict}/approve", json={"reason": "again"}, headers=as_("bob")), 409)
    log = service.http.get("/api/audit").json()
    assert any(r["action"] == "rehearsal.approve" and r["actor"] == "bob" and r["subject"] == str(strict) for r in log)
    assert any(r["action"] == "rehearsal.approve.refused" and r["actor"] == "ann" for r in log)


def test_every_page_has_a_json_twin_with_the_same_data(service):
    pw = make_user(service, "ada", "admin")
    service.http.post("/api/targets", json={"name": "shop", "project_path": "/p", "snapshot": "/s"})
    rid = service.submit("shop", ref="main")
    browser = login(service, "ada", pw)
    twins = {"/": "/api/dashboard", "/targets/shop": "/api/targets/shop/trends", f"/rehearsals/{rid}":
             f"/api/rehearsals/{rid}", "/audit": "/api/audit", "/rules": "/api/rules", "/admin": "/api/users"}
    for page, api in twins.items():
        html, data = browser.get(page), browser.get(api)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html"), page
        assert "content-security-policy" in html.headers
        assert data.status_code == 200 and data.headers["content-type"] == "application/json", api
    assert [r["id"] for r in browser.get("/api/dashboard").json()["queued"]] == [rid]
    assert f'data-id="{rid}"' in browser.get("/").text
    rules = browser.get("/api/rules").json()
    assert len(rules) > 10 and all(r["code"] in browser.get("/rules").text for r in rules)
    assert browser.get("/api/me").json() == {"name": "ada", "role": "admin", "via": "session"}


def test_no_endpoint_can_change_or_delete_an_audit_entry(service):
    pw = make_user(service, "ada", "admin")
    service.http.post("/api/targets", json={"name": "shop", "project_path": "/p", "snapshot": "/s"})
    service.submit("shop")
    browser = login(service, "ada", pw)
    before = service.http.get("/api/audit").json()
    assert len(before) >= 4
    ids = [str(e["id"]) for e in before]
    # every state-changing route, called as an admin (bearer and session), aimed at audit entries by their ids
    for (method, path), _need in sorted(ROUTES.items()):
        if method == "GET":
            continue
        for ident in ids[:2]:
            url = path.replace("{rid}", ident).replace("{name}", ident).replace("{token_id}", "999999")
            service.http.request(method, url, json={"id": int(ident), "reason": "tamper", "name": ident})
            browser.request(method, url, data={"csrf_token": browser.csrf, "reason": "tamper", "name": ident})
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        for path in ("/api/audit", f"/api/audit/{ids[0]}", "/audit"):
            assert service.http.request(method, path).status_code in (404, 405)
    after = service.http.get("/api/audit").json()
    assert after[:len(before)] == before, "an existing audit entry changed"


@pytest.mark.parametrize("bad", ["/login?next=https://evil.example/", "/login?next=//evil.example/"])
def test_login_never_redirects_off_the_service(service, bad):
    pw = make_user(service, "ida", "viewer")
    anon = httpx.Client(base_url=service.base, timeout=30)
    page = anon.get(bad)
    resp = anon.post("/login", data={"name": "ida", "password": pw, "csrf_token": csrf_of(page.text),
                                     "next": bad.split("next=", 1)[1]})
    assert resp.status_code == 303 and resp.headers["location"] == "/"


def test_users_need_a_real_password_and_a_known_role(service):
    _is_error(service.http.post("/api/users", json={"name": "x", "password": "short", "role": "viewer"}), 422)
    _is_error(service.http.post("/api/users", json={"name": "x", "password": password(), "role": "god"}), 422)
    _is_error(service.http.post("/api/users", json={"name": "bad name", "password": password(), "role": "viewer"}), 422)
    make_user(service, "x", "viewer")
    assert [u["name"] for u in service.http.get("/api/users").json()] == ["x"]
    assert "password" not in json.dumps(service.http.get("/api/users").json())


def test_an_approval_updates_the_pull_request_comment(service, source_db):
    import time as clock

    from .test_hooks import Forge, _github, _pr

    forge = Forge()
    try:
        service.target("shop", source_db=source_db(), approval_threshold="low")
        service.env.update(SERVICE_SLEEP_S="0", REHEARSE_GITHUB_API=forge.url, REHEARSE_GITHUB_TOKEN="t")
        service.stop_server()
        service.start_server()  # the approval is posted by the API process: it needs the forge's address too
        make_user(service, "ann", "approver")
        token = service.http.post("/api/tokens", json={"user": "ann"}).json()["token"]
        service.start_worker()
        rid = _github(service, _pr("opened", "a" * 40)).json()["id"]
        assert service.wait_for(rid, ("passed", "failed", "error"))["status"] == "passed"

        def comment(after: int) -> str:
            deadline = clock.monotonic() + 60
            while clock.monotonic() < deadline:
                writes = [c for c in forge.calls if c[0] != "GET"]
                if len(writes) > after:
                    return writes[after][2]["body"]
                clock.sleep(0.2)
            raise AssertionError(f"no comment write #{after + 1}: {forge.calls}")

        first = comment(0)
        assert "**awaiting release approval**" in first
        assert json.loads(first.split("<!-- rehearse-summary ", 1)[1].split(" -->")[0])["release_approved"] is False
        resp = service.http.post(f"/api/rehearsals/{rid}/approve", json={"reason": "fine at this size"},
                                 headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, resp.text
        second = comment(1)
        assert "**release-approved**: approved by ann: fine at this size" in second
        assert [c[0] for c in forge.calls if c[0] != "GET"] == ["POST", "PATCH"]  # the same comment, updated
    finally:
        forge.close()


def test_user_create_command_makes_a_user_who_can_sign_in(service):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "rehearse.cli", "user", "create", "--name", "ops", "--role", "approver",
           "--db", service.db_url]
    short = subprocess.run(cmd, input="short\n", capture_output=True, text=True, timeout=120)
    assert short.returncode == 2 and "too short" in short.stderr and "Traceback" not in short.stderr
    pw = password()
    ok = subprocess.run(cmd, input=pw + "\n", capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert login(service, "ops", pw).get("/api/me").json() == {"name": "ops", "role": "approver", "via": "session"}


def test_a_disabled_user_cannot_sign_in_and_its_sessions_and_tokens_stop_until_enabled(service):
    pw = make_user(service, "dora", "requester")
    browser = login(service, "dora", pw)
    token = service.http.post("/api/tokens", json={"user": "dora"}).json()["token"]
    as_dora = {"Authorization": f"Bearer {token}"}
    assert service.http.get("/api/me", headers=as_dora).status_code == 200  # now in the token cache
    assert service.http.post("/api/users/dora/disable").json() == {"name": "dora", "disabled": True, "changed": True}
    # at once, in the serve that did it: the session is gone, the token refused with the reason
    _is_error(browser.get("/api/me"), 401)
    assert "disabled" in _is_error(service.http.get("/api/me", headers=as_dora), 403)["what"]
    anon = httpx.Client(base_url=service.base, timeout=30)

    def sign_in(secret: str) -> httpx.Response:
        return anon.post("/login", data={"name": "dora", "password": secret, "csrf_token": csrf_of(anon.get("/login").text)})

    assert sign_in("wrong-password").status_code == 401  # a wrong password learns nothing more
    refused = sign_in(pw)
    assert refused.status_code == 403 and "disabled" in refused.text and "rehearse_session" not in refused.headers.get("set-cookie", "")
    dora = next(u for u in service.http.get("/api/users").json() if u["name"] == "dora")
    assert dora["disabled_at"] and dora["disabled_by"]
    # a second disable changes nothing and is not audited twice
    assert service.http.post("/api/users/dora/disable").json()["changed"] is False
    _is_error(service.http.post("/api/users/nobody/disable"), 404)
    # enabled again: the same token works, and she signs in anew
    assert service.http.post("/api/users/dora/enable").json()["changed"] is True
    assert service.http.get("/api/me", headers=as_dora).json()["name"] == "dora"
    assert login(service, "dora", pw).get("/api/me").json()["name"] == "dora"
    audit = [(r["action"], r["subject"]) for r in service.http.get("/api/audit").json()
             if r["action"] in ("user.disable", "user.enable", "login.refused")]
    assert sorted(audit) == [("login.refused", "dora"), ("user.disable", "dora"), ("user.enable", "dora")]


def test_the_only_enabled_admin_is_neither_disabled_nor_demoted(service):
    pw = make_user(service, "ada", "admin")
    ada = login(service, "ada", pw)
    headers = {"X-CSRF-Token": ada.csrf}
    make_user(service, "vic", "viewer")
    assert ada.post("/api/users/vic/disable", headers=headers).json()["changed"] is True
    assert "yourself" in _is_error(ada.post("/api/users/ada/disable", headers=headers), 409)["what"]
    # the bootstrap token is no user: ada is the only admin who can sign in
    assert "only enabled admin" in _is_error(service.http.post("/api/users/ada/disable"), 409)["what"]
    _is_error(service.http.post("/api/users", json={"name": "ada", "password": pw, "role": "viewer"}), 409)
    assert ada.get("/api/me").json()["role"] == "admin"  # nothing changed, the session holds
    make_user(service, "bob", "admin")
    assert service.http.post("/api/users/ada/disable").json()["changed"] is True
    _is_error(ada.get("/api/me"), 401)


def test_user_disable_and_enable_commands_work_on_the_service_database(service):
    import subprocess
    import sys

    pw = make_user(service, "cleo", "viewer")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rehearse.cli", "user", *args, "--db", service.db_url],
                              capture_output=True, text=True, timeout=120)

    done = cli("disable", "--name", "cleo")
    assert done.returncode == 0 and "user cleo disabled" in done.stdout, done.stderr
    anon = httpx.Client(base_url=service.base, timeout=30)
    resp = anon.post("/login", data={"name": "cleo", "password": pw, "csrf_token": csrf_of(anon.get("/login").text)})
    assert resp.status_code == 403
    missing = cli("enable", "--name", "nobody")
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    assert cli("enable", "--name", "cleo").returncode == 0
    assert login(service, "cleo", pw).get("/api/me").json()["name"] == "cleo"
    assert [r["actor"] for r in service.http.get("/api/audit", params={"action": "user.disable"}).json()] == ["cli"]
