"""The web UI: server-rendered pages (Jinja2 + htmx, shipped in the package; no CDN, no build step).

Each page reads the same store functions as its JSON twin under /api/ and acts through the same
``actions`` functions, so the two never disagree. Forms post to the page paths below (a CSRF
token in every form, checked by ``auth``) and redirect back (303) once done; htmx only refreshes
the dashboard's live part, and ``static/ui.js`` follows a rehearsal's progress on the events stream.

| page | JSON twin |
|---|---|
| /login | GET /api/me |
| / | GET /api/dashboard |
| /targets/{name} | GET /api/targets/{name}, /history, /trends |
| /rehearsals/{id} | GET /api/rehearsals/{id} (and /report, /events) |
| /compare?a=&b= | GET /api/compare?a=&b= |
| /audit | GET /api/audit |
| /rules | GET /api/rules |
| /admin | GET /api/targets, /api/users, /api/tokens |
"""

# (no `from __future__ import annotations`: FastAPI resolves the local Annotated[...] dependencies at runtime)
import json
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional
from urllib.parse import quote, urlencode

import jinja2
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from . import actions, charts, store
from .actions import ApiError, rehearsal_or_404, target_or_404
from .auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, SESSION_LIFETIME_S, Auth, Who, client_address, is_https

HERE = Path(__file__).parent
REPORT_FORMATS = ("html", "markdown", "json", "junit", "sarif")
RANK = {r: i for i, r in enumerate(store.ROLES)}
# script only from the service itself; inline style attributes (chart legends) are allowed
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'")

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _when(value: Optional[str]) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")


def _duration(row: dict) -> str:
    if not row.get("started_at"):
        return ""
    end = datetime.fromisoformat(row["finished_at"]) if row.get("finished_at") else None
    if end is None:
        return "running"
    seconds = (end - datetime.fromisoformat(row["started_at"])).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _option_rows(options: Optional[dict]) -> list[tuple[str, list[str]]]:
    """A target's (or a rehearsal's) run options as (name, lines of text), in the API's order."""
    rows = []
    for name in actions.RUN_OPTIONS:
        if name not in (options or {}):
            continue
        value = options[name]
        if name == "app_checks":
            lines = [_check_text(check) for check in value]
        elif name == "scale":
            lines = [", ".join(f"{f * 100:g}%" for f in value)]
        elif name == "settings":
            lines = [f"{k} = {v}" for k, v in value.items()]
        else:
            lines = [str(value).lower() if isinstance(value, bool) else str(value)]
        rows.append((name, lines))
    return rows


def _check_text(check: dict) -> str:
    how = []
    if "timeout_s" in check:
        how.append(f"time limit {check['timeout_s']:g} s")
    if "env" in check:
        how.append(f"URL in {check['env']}")
    if "at" in check:
        how.append("at " + ", ".join(check["at"]))
    return check["cmd"] + (f" ({'; '.join(how)})" if how else "")


def _as_yaml(options: Optional[dict]) -> str:
    import yaml
    return yaml.safe_dump(options, sort_keys=False, default_flow_style=False) if options else ""


_env.filters["when"] = _when
_env.filters["duration"] = _duration
_env.filters["option_rows"] = _option_rows
_env.filters["as_yaml"] = _as_yaml
_env.globals["rank"] = RANK


def _headers(response: Response) -> Response:
    response.headers["content-security-policy"] = CSP
    response.headers["x-frame-options"] = "SAMEORIGIN"
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["referrer-policy"] = "same-origin"
    response.headers["cache-control"] = "no-store"
    return response


def render(request: Request, template: str, who: Optional[Who], status: int = 200, **context) -> HTMLResponse:
    html = _env.get_template(template).render(request=request, who=who, path=request.url.path, **context)
    return _headers(HTMLResponse(html, status_code=status))


def error_page(request: Request, exc: ApiError) -> Response:
    if exc.status == 401 and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    return render(request, "error.html", None, status=exc.status, error=exc)


def _safe_next(value: Optional[str]) -> str:
    # only a path on this service: never an absolute URL (an open redirect after login)
    return value if value and value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


def install_pages(app: FastAPI, engine: sa.Engine, auth: Auth) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    Viewer = Annotated[Who, Depends(auth.need("viewer"))]
    Requester = Annotated[Who, Depends(auth.need("requester"))]
    Approver = Annotated[Who, Depends(auth.need("approver"))]
    Admin = Annotated[Who, Depends(auth.need("admin"))]

    def back(path: str, **query: str) -> RedirectResponse:
        return RedirectResponse(path + (f"?{urlencode(query)}" if query else ""), status_code=303)

    # -- signing in -------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: Optional[str] = None) -> Response:
        csrf = secrets.token_urlsafe(32)
        resp = render(request, "login.html", None, csrf_token=csrf, next=_safe_next(next), error=None)
        # login CSRF: the form's token must match this cookie (double submit), so no other site can sign you in
        resp.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=is_https(request),
                        max_age=3600, path="/login")
        return resp

    @app.post("/login", include_in_schema=False)
    def login(request: Request, name: Annotated[str, Form()], password: Annotated[str, Form()],
              csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not expected or not secrets.compare_digest(expected, csrf_token):
            raise ApiError(403, "missing or wrong CSRF token", "the login form must come from this service's "
                           "own login page", "reload /login and sign in again")
        try:
            session_id, _ = auth.login(name, password, client_address(request))
        except ApiError as exc:
            if exc.status not in (401, 403, 429):  # wrong password, disabled user, rate limit: the form again
                raise
            csrf = secrets.token_urlsafe(32)
            resp = render(request, "login.html", None, status=exc.status, csrf_token=csrf, next=_safe_next(next),
                          error=exc)
            resp.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=is_https(request),
                            max_age=3600, path="/login")
            return resp
        resp = RedirectResponse(_safe_next(next), status_code=303)
        resp.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="lax", secure=is_https(request),
                        max_age=SESSION_LIFETIME_S, path="/")
        resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return resp

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, who: Viewer) -> Response:
        if who.via == "session":
            auth.logout(request.cookies[SESSION_COOKIE], who)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    # -- reading ----------------------------------------------------------------------------------
    def _dashboard(conn) -> dict:
        data = store.dashboard(conn)
        for row in data["recent"]:
            row["approval"] = store.decision_for(conn, row["id"])
        return data

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard_page(request: Request, who: Viewer) -> Response:
        with engine.connect() as conn:
            data, targets = _dashboard(conn), store.list_targets(conn)
        return render(request, "dashboard.html", who, data=data, targets=targets, may_cancel=actions.may_cancel)

    @app.get("/partials/active", response_class=HTMLResponse, include_in_schema=False)
    def active_partial(request: Request, who: Viewer) -> Response:
        with engine.connect() as conn:
            data = _dashboard(conn)
        return render(request, "_active.html", who, data=data, may_cancel=actions.may_cancel)

    @app.get("/targets/{name}", response_class=HTMLResponse, include_in_schema=False)
    def target_page(request: Request, name: str, who: Viewer) -> Response:
        from .trends import trends
        with engine.connect() as conn:
            target = target_or_404(conn, name)
            history = store.history(conn, name)
            rehearsals = store.list_rehearsals(conn, target=name, limit=200)
            for row in rehearsals:
                row["approval"] = store.decision_for(conn, row["id"])
        t = trends(target, history)
        svg = {
            "duration": charts.trend_chart("chart-duration", "upgrade duration per revision", t["duration_s"],
                                           t["budgets"]["duration_s"]),
            "lock": charts.trend_chart("chart-lock", "longest blocking lock per revision", t["longest_lock_s"],
                                       t["budgets"]["lock_s"]),
            "by_size": charts.scatter_chart("chart-size", "duration against the touched table's rows",
                                            t["duration_by_table_rows"], "table_rows", "duration_s",
                                            "rows of the largest table the revision locked"),
            "data": charts.size_chart("chart-data", "rows restored from the snapshot", t["data_rows"]),
        }
        reported = [r["id"] for r in rehearsals if r["has_report"]]  # newest first: compare the last two by default
        return render(request, "target.html", who, target=target, rehearsals=rehearsals, charts=svg,
                      compare_b=reported[0] if reported else None,
                      compare_a=reported[1] if len(reported) > 1 else None)

    @app.get("/rehearsals/{rid}", response_class=HTMLResponse, include_in_schema=False)
    def rehearsal_page(request: Request, rid: int, who: Viewer) -> Response:
        with engine.connect() as conn:
            row = store.public_rehearsal_by_id(conn, rid)
            if row is None:
                rehearsal_or_404(conn, rid)
            decision = store.decision_for(conn, rid)
            events = store.events_after(conn, rid)
        may_approve = (decision["state"] == "awaiting approval" and RANK[who.role] >= RANK["approver"]
                       and row["requested_by"] != who.name)
        return render(request, "rehearsal.html", who, row=row, decision=decision, events=events,
                      last_event=events[-1]["id"] if events else 0, formats=REPORT_FORMATS,
                      may_cancel=actions.may_cancel(who, row), may_approve=may_approve)

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare_page(request: Request, who: Viewer, a: int, b: int) -> Response:
        from .trends import compare
        with engine.connect() as conn:
            ra, rb = rehearsal_or_404(conn, a), rehearsal_or_404(conn, b)
            if ra["target"] != rb["target"]:
                raise ApiError(422, f"rehearsals {a} and {b} are of different targets",
                               f"{ra['target']} and {rb['target']}", "pick two rehearsals of one target")
            if ra["report_json"] is None or rb["report_json"] is None:
                raise ApiError(409, "both rehearsals need a report", "one of them has not finished with a report",
                               "compare rehearsals that passed or failed")
            target = target_or_404(conn, ra["target"])
        diff = compare(json.loads(ra["report_json"]), json.loads(rb["report_json"]), target)
        return render(request, "compare.html", who, target=target, a=store.public_rehearsal(ra),
                      b=store.public_rehearsal(rb), diff=diff)

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(request: Request, who: Approver, actor: Optional[str] = None, action: Optional[str] = None,
                   since: Annotated[Optional[str], Query()] = None) -> Response:
        when = None
        if since:
            try:
                when = datetime.fromisoformat(since)
            except ValueError:
                raise ApiError(422, f"invalid date {since!r}", "since is an ISO date or time",
                               "e.g. 2025-01-31 or 2025-01-31T12:00") from None
        with engine.connect() as conn:
            rows = store.audit_entries(conn, actor=actor, action=action, since=when)
        query = {k: v for k, v in (("actor", actor), ("action", action), ("since", since)) if v}
        return render(request, "audit.html", who, rows=list(reversed(rows)), filters=query,
                      export_csv="/api/audit?" + urlencode({**query, "format": "csv"}),
                      export_json="/api/audit?" + urlencode({**query, "format": "json"}))

    @app.get("/rules", response_class=HTMLResponse, include_in_schema=False)
    def rules_page(request: Request, who: Viewer) -> Response:
        from ..checks import all_rules
        return render(request, "rules.html", who, rules=all_rules())

    def _admin(request: Request, who: Who, new_token: Optional[dict] = None) -> Response:
        with engine.connect() as conn:
            targets, users, tokens = store.list_targets(conn), store.list_users(conn), store.list_tokens(conn)
        return render(request, "admin.html", who, targets=targets, users=users, tokens=tokens, new_token=new_token,
                      roles=store.ROLES, levels=("low", "medium", "high", "critical"))

    @app.get("/admin", response_class=HTMLResponse, include_in_schema=False)
    def admin_page(request: Request, who: Admin) -> Response:
        return _admin(request, who)

    # -- acting (forms) ---------------------------------------------------------------------------
    @app.post("/rehearsals", include_in_schema=False)
    def submit_form(who: Requester, target: Annotated[str, Form()], ref: Annotated[str, Form()] = "") -> Response:
        created = actions.submit(engine, who, target, ref.strip() or None)
        return back(f"/rehearsals/{created['id']}")

    @app.post("/rehearsals/{rid}/cancel", include_in_schema=False)
    def cancel_form(rid: int, who: Requester, next: Annotated[str, Form()] = "") -> Response:
        actions.cancel(engine, who, rid)
        return back(_safe_next(next or f"/rehearsals/{rid}"))

    @app.post("/rehearsals/{rid}/approve", include_in_schema=False)
    def approve_form(rid: int, who: Approver, reason: Annotated[str, Form()] = "") -> Response:
        actions.approve(engine, who, rid, reason)
        return back(f"/rehearsals/{rid}")

    @app.post("/admin/users", include_in_schema=False)
    def user_form(who: Admin, name: Annotated[str, Form()], password: Annotated[str, Form()],
                  role: Annotated[str, Form()]) -> Response:
        actions.create_user(engine, who, name.strip(), password, role)
        return back("/admin")

    @app.post("/admin/users/{name}/disable", include_in_schema=False)
    def disable_form(name: str, who: Admin) -> Response:
        actions.set_user_disabled(engine, who, name, True)
        auth.forget(name)
        return back("/admin")

    @app.post("/admin/users/{name}/enable", include_in_schema=False)
    def enable_form(name: str, who: Admin) -> Response:
        actions.set_user_disabled(engine, who, name, False)
        return back("/admin")

    @app.post("/admin/tokens", include_in_schema=False)
    def token_form(request: Request, who: Admin, user: Annotated[str, Form()],
                   role: Annotated[str, Form()] = "") -> Response:
        created = actions.create_token(engine, who, user.strip(), role or None)
        return _admin(request, who, new_token=created)  # shown once, in this answer only (no redirect, no URL)

    @app.post("/admin/tokens/{token_id}/revoke", include_in_schema=False)
    def revoke_form(token_id: int, who: Admin) -> Response:
        auth.forget(actions.revoke_token(engine, who, token_id)["owner"])
        return back("/admin")

    @app.post("/admin/targets", include_in_schema=False)
    def target_form(who: Admin, name: Annotated[str, Form()], project_path: Annotated[str, Form()] = "",
                    git_url: Annotated[str, Form()] = "", snapshot: Annotated[str, Form()] = "",
                    source_url: Annotated[str, Form()] = "", staging: Annotated[str, Form()] = "local",
                    fail_on: Annotated[str, Form()] = "", approval_threshold: Annotated[str, Form()] = "high") -> Response:
        from pydantic import ValidationError

        from .app import TargetIn
        fields = {"name": name.strip(), "project_path": project_path, "git_url": git_url, "snapshot": snapshot,
                  "source_url": source_url, "staging": staging, "fail_on": fail_on,
                  "approval_threshold": approval_threshold}
        with engine.connect() as conn:
            old = store.get_target(conn, fields["name"]) or {}
        keep = {k: old.get(k) for k in ("alembic_ini", "python", "policy", "thresholds", "git_ref",
                                        "snapshot_schedule", "run_options") if old.get(k)}
        try:
            body = TargetIn(**keep, **{k: (v.strip() or None) if k not in ("name",) else v
                                       for k, v in fields.items() if v.strip() or k == "name"})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ApiError(422, f"invalid target: {'.'.join(map(str, first['loc']))}", first["msg"],
                           "correct the field and save again") from None
        actions.put_target(engine, who, body.model_dump())
        return back(f"/targets/{quote(body.name)}")

    @app.post("/targets/{name}/run-options", include_in_schema=False)
    def run_options_form(name: str, who: Admin, run_options: Annotated[str, Form()] = "") -> Response:
        import yaml
        try:
            options = yaml.safe_load(run_options) if run_options.strip() else {}
        except yaml.YAMLError as exc:
            raise ApiError(422, "the run options are not valid YAML", " ".join(str(exc).split()),
                           "write one option a line in YAML (or the object as JSON), e.g. scale: 1%,3%,10%") from None
        actions.set_run_options(engine, who, name, options)
        return back(f"/targets/{quote(name)}")
