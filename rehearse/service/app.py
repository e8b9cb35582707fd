"""The service's HTTP API (FastAPI): targets, rehearsals, reports, progress events, approvals, users, tokens, webhooks.

(No `from __future__ import annotations` here: FastAPI resolves the local Annotated[...] dependencies at runtime.)

Every endpoint but /api/health needs a bearer token or a signed-in session (auth.py; sessions also
need the CSRF token to change anything). The web pages (pages.py) are mounted on the same app.
Errors are JSON {what, why, hint} with a 4xx status (an error page on the pages); anything
unexpected is logged and answered with a one-line error body of the same shape (status 503), never
a traceback. A target's source_url is accepted but never returned.
"""


import asyncio
import contextlib
import csv
import io
import json
import logging
import time
from datetime import datetime
from typing import Annotated, Any, Literal, Optional, Union

import orjson
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import RehearseError
from ..urls import redact
from . import actions, store
from .actions import ApiError, rehearsal_or_404, target_or_404
from .auth import Auth, Who

log = logging.getLogger("rehearse.service")
REPORT_MEDIA = {"json": "application/json", "markdown": "text/markdown", "md": "text/markdown",
                "html": "text/html", "junit": "application/xml", "sarif": "application/sarif+json"}


def fast(obj) -> Response:
    """JSON straight from orjson: the read endpoints skip FastAPI's response-model pass (measured hot path)."""
    return Response(orjson.dumps(obj), media_type="application/json")


class TargetIn(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    source_url: Optional[str] = None
    snapshot: Optional[str] = None
    # {"every": "24h", "keep": 7} or {"cron": "0 3 * * *", "keep": 3} (or the bare string); see schedule.py
    snapshot_schedule: Optional[Union[dict[str, Any], str]] = None
    project_path: Optional[str] = None
    git_url: Optional[str] = None
    git_ref: Optional[str] = None
    alembic_ini: str = "alembic.ini"
    python: Optional[str] = None
    policy: Optional[str] = None
    staging: str = "local"
    fail_on: Optional[Literal["low", "medium", "high", "critical"]] = None
    thresholds: dict[str, Any] = {}
    # `rehearse run` options: queries, traffic_window_s, app_checks (admin only), scale, settings,
    # target_version, pg_bindir, suggest_rewrites (docs/service.md, "Run options")
    run_options: dict[str, Any] = {}
    approval_threshold: Literal["low", "medium", "high", "critical"] = "high"


class RehearsalIn(BaseModel):
    target: str
    ref: Optional[str] = None


class UserIn(BaseModel):
    name: str
    password: str
    role: Literal["viewer", "requester", "approver", "admin"]


class TokenIn(BaseModel):
    user: Optional[str] = None
    role: Optional[Literal["viewer", "requester", "approver", "admin"]] = None


class ApprovalIn(BaseModel):
    reason: str


def create_app(db_url: str) -> FastAPI:
    engine = store.engine(db_url, pool_size=20)  # 50 concurrent readers: fewer waits for a connection

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        # the API reaps too: with every worker dead, nobody else would fail their rehearsals
        from .jobs import HEARTBEAT_S, reap_lost

        async def reaper() -> None:
            while True:
                try:
                    await asyncio.to_thread(reap_lost, engine)
                except Exception as exc:
                    log.warning("reaper: %s", redact(str(exc).splitlines()[0] if str(exc) else repr(exc)))
                await asyncio.sleep(HEARTBEAT_S)

        task = asyncio.create_task(reaper())
        yield
        task.cancel()
        engine.dispose()

    app = FastAPI(title="rehearse service", openapi_url="/api/openapi.json", docs_url="/api/docs", redoc_url=None,
                  lifespan=lifespan)
    app.state.engine = engine

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        if not request.url.path.startswith("/api/"):
            from .pages import error_page
            return error_page(request, exc)
        return JSONResponse({"what": exc.what, "why": exc.why, "hint": exc.hint}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse({"what": f"invalid request: {where or 'body'}", "why": first.get("msg", "invalid input"),
                             "hint": "see /api/openapi.json for the expected fields"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"what": str(exc.detail), "why": f"HTTP {exc.status_code}",
                             "hint": "see /api/openapi.json for the endpoints"}, status_code=exc.status_code)

    @app.exception_handler(RehearseError)
    async def _rehearse(_: Request, exc: RehearseError) -> JSONResponse:
        return JSONResponse({"what": redact(exc.message), "why": "rehearse refused the input",
                             "hint": exc.hint or ""}, status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error: %s", redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        return JSONResponse({"what": "the service could not answer", "why": type(exc).__name__,
                             "hint": "retry; if it persists, read the service log"}, status_code=503)

    auth = Auth(engine)
    app.state.auth = auth
    Viewer = Annotated[Who, Depends(auth.need("viewer"))]
    Requester = Annotated[Who, Depends(auth.need("requester"))]
    Approver = Annotated[Who, Depends(auth.need("approver"))]
    Admin = Annotated[Who, Depends(auth.need("admin"))]

    @app.get("/api/health")
    def health() -> dict:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return {"status": "ok"}

    @app.post("/api/targets", status_code=201)
    def put_target(body: TargetIn, who: Admin) -> dict:
        return actions.put_target(engine, who, body.model_dump())

    @app.get("/api/targets/{name}/snapshots")
    def list_snapshots(name: str, _: Viewer, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
        with engine.connect() as conn:
            target_or_404(conn, name)
            return fast(store.list_snapshots(conn, name, limit))

    @app.post("/api/targets/{name}/snapshots", status_code=202)
    def pull_now(name: str, who: Admin) -> Response:
        with engine.begin() as conn:
            t = target_or_404(conn, name)
            if not (t["snapshot_schedule"] and t["has_source_url"]):
                raise ApiError(409, f"target {name} has no snapshot_schedule", "only a scheduled target rehearses "
                               "on pulled snapshots", "give the target a snapshot_schedule and a source_url")
            row, new = store.queue_pull(conn, name, requested_by=who[0])
            store.audit(conn, who[0], "snapshot.request" if new else "snapshot.request.already_queued",
                        str(row["id"]), target=name)
        return Response(orjson.dumps({**store.public_snapshot(row), "already_queued": not new}),
                        status_code=202 if new else 200, media_type="application/json")

    @app.get("/api/targets/{name}/snapshots/{sid}")
    def get_snapshot(name: str, sid: int, _: Viewer) -> Response:
        with engine.connect() as conn:
            row = store.snapshot_row(conn, sid)
            if row is None or row["target"] != name:
                raise ApiError(404, f"snapshot {sid} of target {name} does not exist", "no pull has that id",
                               f"list them with GET /api/targets/{name}/snapshots")
            return fast({**store.public_snapshot(row), "events": store.snapshot_events(conn, sid)})

    @app.post("/api/targets/{name}/snapshots/{sid}/cancel")
    def cancel_pull(name: str, sid: int, who: Admin) -> dict:
        with engine.begin() as conn:
            row = store.snapshot_row(conn, sid)
            if row is None or row["target"] != name:
                raise ApiError(404, f"snapshot {sid} of target {name} does not exist", "no pull has that id",
                               f"list them with GET /api/targets/{name}/snapshots")
            if row["status"] not in ("queued", "running"):
                raise ApiError(409, f"snapshot {sid} is already {row['status']}", "only a queued or running pull "
                               "can be cancelled", "nothing to do")
            status = store.request_pull_cancel(conn, sid)
            store.audit(conn, who[0], "snapshot.cancel", str(sid), target=name, was=row["status"])
        return {"id": sid, "status": status, "cancel_requested": True}

    @app.get("/api/targets")
    def list_targets(_: Viewer) -> Response:
        with engine.connect() as conn:
            return fast(store.list_targets(conn))

    @app.get("/api/targets/{name}")
    def get_target(name: str, _: Viewer) -> Response:
        with engine.connect() as conn:
            return fast(target_or_404(conn, name))

    @app.get("/api/targets/{name}/history")
    def target_history(name: str, _: Viewer) -> dict:
        with engine.connect() as conn:
            target_or_404(conn, name)
            return {"target": name, "rehearsals": store.history(conn, name)}

    @app.post("/api/rehearsals", status_code=201)
    def submit(body: RehearsalIn, who: Requester) -> dict:
        return actions.submit(engine, who, body.target, body.ref)

    @app.get("/api/rehearsals")
    def list_rehearsals(_: Viewer, target: Optional[str] = None,
                        status: Optional[Literal["queued", "running", "passed", "failed", "cancelled", "error"]] = None,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
        with engine.connect() as conn:
            return fast(store.list_rehearsals(conn, target=target, status=status, limit=limit))

    @app.get("/api/rehearsals/{rid}")
    def get_rehearsal(rid: int, _: Viewer) -> Response:
        with engine.connect() as conn:
            row = store.public_rehearsal_by_id(conn, rid)
            if row is None:
                raise ApiError(404, f"rehearsal {rid} does not exist", "no rehearsal has that id",
                               "list them with GET /api/rehearsals")
            row["approval"] = store.decision_for(conn, rid)
        return fast(row)

    @app.post("/api/rehearsals/{rid}/cancel")
    def cancel(rid: int, who: Requester) -> dict:
        return actions.cancel(engine, who, rid)

    @app.post("/api/rehearsals/{rid}/approve")
    def approve(rid: int, body: ApprovalIn, who: Approver) -> dict:
        return actions.approve(engine, who, rid, body.reason)

    @app.get("/api/rehearsals/{rid}/report")
    def report(rid: int, _: Viewer,
               format: Literal["json", "markdown", "md", "html", "junit", "sarif"] = "json") -> PlainTextResponse:
        with engine.connect() as conn:
            row = rehearsal_or_404(conn, rid)
        if row["report_json"] is None:
            raise ApiError(409, f"rehearsal {rid} has no report", f"it is {row['status']}"
                           + (f" ({row['status_reason']})" if row["status_reason"] else ""),
                           "wait until it finishes; cancelled or lost rehearsals have none")
        if format == "json":
            text = row["report_json"]
        else:
            from ..api import render
            from ..model import report_from_dict
            text = render(report_from_dict(json.loads(row["report_json"])), "md" if format == "markdown" else format)
        return PlainTextResponse(text, media_type=REPORT_MEDIA[format])

    @app.get("/api/rehearsals/{rid}/events")
    async def events(rid: int, _: Viewer, after: int = 0) -> StreamingResponse:
        def snapshot(last: int) -> tuple[list[dict], str]:
            with engine.connect() as conn:
                row = rehearsal_or_404(conn, rid)
                return store.events_after(conn, rid, last), row["status"]

        first, _status = await asyncio.to_thread(snapshot, after)  # 404 before the stream starts

        async def stream():
            last, batch, status = after, first, _status
            idle_since = time.monotonic()
            while True:
                for ev in batch:
                    last = ev["id"]
                    yield f"id: {ev['id']}\nevent: progress\ndata: {json.dumps(ev)}\n\n"
                if status in store.FINISHED:
                    batch, status = await asyncio.to_thread(snapshot, last)
                    if not batch:
                        yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
                        return
                    continue
                if time.monotonic() - idle_since > 15:
                    idle_since = time.monotonic()
                    yield ": keep-alive\n\n"
                await asyncio.sleep(0.3)
                batch, status = await asyncio.to_thread(snapshot, last)

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/api/audit", response_model=None)
    def audit(_: Approver, actor: Optional[str] = None, action: Optional[str] = None,
              since: Optional[datetime] = None, format: Literal["json", "csv"] = "json"):
        with engine.connect() as conn:
            rows = store.audit_entries(conn, actor=actor, action=action, since=since)
        if format == "json":
            return rows
        buf = io.StringIO()
        out = csv.DictWriter(buf, fieldnames=["id", "at", "actor", "action", "subject", "detail"])
        out.writeheader()
        for r in rows:
            out.writerow({**r, "detail": json.dumps(r["detail"])})
        return PlainTextResponse(buf.getvalue(), media_type="text/csv",
                                 headers={"content-disposition": "attachment; filename=audit.csv"})

    @app.get("/api/me")
    def me(who: Viewer) -> dict:
        return {"name": who.name, "role": who.role, "via": who.via}

    @app.get("/api/dashboard")
    def dashboard(_: Viewer) -> Response:
        with engine.connect() as conn:
            return fast(store.dashboard(conn))

    @app.get("/api/targets/{name}/trends")
    def target_trends(name: str, _: Viewer) -> Response:
        from .trends import trends
        with engine.connect() as conn:
            target = target_or_404(conn, name)
            return fast(trends(target, store.history(conn, name)))

    @app.get("/api/compare")
    def compare(a: int, b: int, _: Viewer) -> Response:
        from .trends import compare as diff
        with engine.connect() as conn:
            ra, rb = rehearsal_or_404(conn, a), rehearsal_or_404(conn, b)
            if ra["target"] != rb["target"]:
                raise ApiError(422, f"rehearsals {a} and {b} are of different targets",
                               f"{ra['target']} and {rb['target']}: only two rehearsals of one target compare",
                               "pick two rehearsals from the same target page")
            if ra["report_json"] is None or rb["report_json"] is None:
                raise ApiError(409, "both rehearsals need a report", "one of them has not finished with a report",
                               "compare rehearsals that passed or failed")
            target = target_or_404(conn, ra["target"])
        out = diff(json.loads(ra["report_json"]), json.loads(rb["report_json"]), target)
        return fast({"target": target["name"], "a": a, "b": b, **out})

    @app.get("/api/rules")
    def rules(_: Viewer) -> Response:
        from ..checks import all_rules
        return fast([{"code": r.code, "name": r.name, "severity": r.severity, "kind": r.kind,
                      "summary": r.summary.strip(), "problem": r.problem.strip(), "solution": r.solution.strip()}
                     for r in all_rules()])

    @app.post("/api/users", status_code=201)
    def create_user(body: UserIn, who: Admin) -> dict:
        return actions.create_user(engine, who, body.name, body.password, body.role)

    @app.get("/api/users")
    def list_users(_: Admin) -> Response:
        with engine.connect() as conn:
            return fast(store.list_users(conn))

    @app.post("/api/users/{name}/disable")
    def disable_user(name: str, who: Admin) -> dict:
        out = actions.set_user_disabled(engine, who, name, True)
        auth.forget(name)  # this process stops its tokens now; other `serve` processes within their cache
        return out

    @app.post("/api/users/{name}/enable")
    def enable_user(name: str, who: Admin) -> dict:
        return actions.set_user_disabled(engine, who, name, False)

    @app.post("/api/tokens", status_code=201)
    def create_token(body: TokenIn, who: Viewer) -> dict:
        return actions.create_token(engine, who, body.user, body.role)

    @app.post("/api/tokens/{token_id}/revoke")
    def revoke_token(token_id: int, who: Viewer) -> dict:
        out = actions.revoke_token(engine, who, token_id)
        auth.forget(out["owner"])
        return out

    @app.get("/api/tokens")
    def list_tokens(_: Admin) -> Response:
        with engine.connect() as conn:
            return fast(store.list_tokens(conn))

    from .hooks import install_hooks
    install_hooks(app, engine, ApiError)
    from .pages import install_pages
    install_pages(app, engine, auth)
    return app
