"""The service database: its schema (an Alembic history plus procrastinate's tables) and every query on it.

Everything the API and the workers share goes through this module, so the tables have one owner.
Connections are SQLAlchemy Core over psycopg2 (like the rest of rehearse); procrastinate keeps its
own psycopg 3 pool for the queue itself.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import BadInput, InfrastructureError
from ..urls import parse, redact

MIGRATIONS = Path(__file__).with_name("migrations")
ROLES = ("viewer", "requester", "approver", "admin")
FINISHED = ("passed", "failed", "cancelled", "error")
TASK_NAME = "rehearse.service.jobs.rehearse_task"
QUEUE = "rehearsals"
PULL_TASK_NAME = "rehearse.service.jobs.pull_task"
PULL_QUEUE = "snapshots"  # its own queue and worker loop: a nightly pull does not wait behind rehearsals
SNAPSHOT_FIELDS = ("id", "target", "slot", "requested_by", "status", "status_reason", "path", "worker_id",
                   "created_at", "started_at", "pulled_at", "deleted_at", "size_bytes", "revision", "row_counts")
_SNAPSHOT_LOCK = 7262302  # advisory lock class: one target's snapshot bookkeeping at a time

# The columns of a target that the API returns; source_url is stored but never leaves the service.
TARGET_FIELDS = ("name", "snapshot", "snapshot_schedule", "project_path", "git_url", "git_ref", "alembic_ini",
                 "python", "policy", "staging", "fail_on", "thresholds", "approval_threshold", "run_options")
REHEARSAL_FIELDS = ("id", "target", "ref", "commit", "requested_by", "status", "status_reason", "exit_code",
                    "risk", "worker_id", "created_at", "started_at", "finished_at", "cancel_requested", "snapshot_id",
                    "data_rows", "run_options")


def engine(url: str, *, pool_size: int = 5) -> Engine:
    # no pre-ping: it costs a round trip per request; a dropped connection fails one request, then the pool
    # replaces it
    return sa.create_engine(parse(url), pool_size=pool_size, max_overflow=10, pool_recycle=300)


def psycopg_dsn(url: str) -> str:
    """The libpq form of the service URL, for procrastinate's psycopg 3 connector."""
    return parse(url).set(drivername="postgresql").render_as_string(hide_password=False)


def migrate(url: str) -> None:
    """Apply the service's Alembic history, then procrastinate's schema if it is not there yet."""
    from alembic import command
    from alembic.config import Config

    eng = engine(url, pool_size=1)
    try:
        with eng.begin() as conn:
            # two processes starting at once (serve + worker) must not both create the tables
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7262301)"))
            cfg = Config(str(MIGRATIONS / "alembic.ini"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            has_queue = conn.execute(sa.text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar()
            if not has_queue:
                from procrastinate.schema import SchemaManager
                # straight to the driver without parameters: the schema's plpgsql contains '%' signs
                conn.connection.dbapi_connection.cursor().execute(SchemaManager.get_schema())
    except sa.exc.OperationalError as exc:
        raise InfrastructureError(f"cannot reach the service database {redact(url)}: "
                                  f"{str(exc.orig).strip().splitlines()[0]}",
                                  hint="start it, or pass another --db / REHEARSE_DB") from None
    finally:
        eng.dispose()


# ---- audit log (append-only: a trigger refuses UPDATE, DELETE and TRUNCATE) -----------------------

def audit(conn: Connection, actor: str, action: str, subject: str | None = None, **detail: Any) -> None:
    conn.execute(sa.text("INSERT INTO audit_log (actor, action, subject, detail) VALUES (:a, :x, :s, CAST(:d AS jsonb))"),
                 {"a": actor, "x": action, "s": subject, "d": json.dumps(detail, default=str)})


def audit_entries(conn: Connection, *, actor: str | None = None, action: str | None = None,
                  since: Any = None, limit: int = 1000) -> list[dict]:
    where, params = [], {"lim": limit}
    for col, val in (("actor", actor), ("action", action)):
        if val:
            where.append(f"{col} = :{col}")
            params[col] = val
    if since:
        where.append("at >= :since")
        params["since"] = since
    sql = (f"SELECT id, at, actor, action, subject, detail FROM audit_log "
           f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id LIMIT :lim")
    return [{**dict(r), "at": r["at"].isoformat()} for r in conn.execute(sa.text(sql), params).mappings()]


# ---- tokens -------------------------------------------------------------------------------------

def hash_token(token: str) -> str:
    # tokens are 256 random bits: a plain SHA-256 cannot be brute-forced, and lookups stay one index probe
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: Connection, name: str, role: str, token: str | None = None) -> str:
    if role not in ROLES:
        raise BadInput(f"role '{role}' does not exist", hint=f"use one of: {', '.join(ROLES)}")
    token = token or "rh_" + secrets.token_urlsafe(32)
    conn.execute(sa.text("INSERT INTO tokens (name, role, token_hash) VALUES (:n, :r, :h) "
                         "ON CONFLICT (token_hash) DO NOTHING"), {"n": name, "r": role, "h": hash_token(token)})
    audit(conn, name, "token.create", name, role=role)
    return token


def token_identity(conn: Connection, token: str) -> tuple[str, str, bool] | None:
    """(who, role, disabled) for a token; a token linked to a user acts as that user, never above
    the user's role, and not at all while the user is disabled."""
    row = conn.execute(sa.text("SELECT t.name, t.role, t.user_name, u.role AS user_role, "
                               "u.disabled_at IS NOT NULL AS disabled FROM tokens t "
                               "LEFT JOIN users u ON u.name = t.user_name WHERE t.token_hash = :h"),
                       {"h": hash_token(token)}).first()
    if row is None:
        return None
    if row.user_name is None:
        return row.name, row.role, False
    return row.user_name, min(row.role, row.user_role, key=ROLES.index), bool(row.disabled)


def create_user_token(conn: Connection, user: str, role: str, actor: str) -> str:
    """A token for a user (its role at most the user's), recorded in the audit log with who asked."""
    token = "rh_" + secrets.token_urlsafe(32)
    conn.execute(sa.text("INSERT INTO tokens (name, role, token_hash, user_name) VALUES (:n, :r, :h, :n)"),
                 {"n": user, "r": role, "h": hash_token(token)})
    audit(conn, actor, "token.create", user, role=role)
    return token


def revoke_token(conn: Connection, token_id: int) -> dict | None:
    row = conn.execute(sa.text("DELETE FROM tokens WHERE id = :i RETURNING name, role, user_name"),
                       {"i": token_id}).first()
    return {"name": row.name, "role": row.role, "user": row.user_name} if row else None


def token_owner(conn: Connection, token_id: int) -> str | None:
    row = conn.execute(sa.text("SELECT coalesce(user_name, name) AS who FROM tokens WHERE id = :i"),
                       {"i": token_id}).first()
    return row.who if row else None


def list_tokens(conn: Connection) -> list[dict]:
    rows = conn.execute(sa.text("SELECT id, name, role, user_name, created_at FROM tokens ORDER BY id"))
    return [{"id": r.id, "name": r.name, "role": r.role, "user": r.user_name, "created_at": r.created_at.isoformat()}
            for r in rows]


# ---- users, sessions, login attempts ------------------------------------------------------------

def put_user(conn: Connection, name: str, password_hash: str, role: str) -> bool:
    """Create or replace a user; True when it is new."""
    existed = conn.execute(sa.text("SELECT 1 FROM users WHERE name = :n"), {"n": name}).first() is not None
    conn.execute(sa.text("INSERT INTO users (name, password_hash, role) VALUES (:n, :p, :r) "
                         "ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role"),
                 {"n": name, "p": password_hash, "r": role})
    if existed:  # a new password or role ends the sessions opened with the old one
        conn.execute(sa.text("DELETE FROM sessions WHERE user_name = :n"), {"n": name})
    return not existed


def get_user(conn: Connection, name: str) -> dict | None:
    row = conn.execute(sa.text("SELECT name, password_hash, role, created_at, disabled_at, disabled_by "
                               "FROM users WHERE name = :n"), {"n": name}).mappings().first()
    return dict(row) if row else None


def list_users(conn: Connection) -> list[dict]:
    rows = conn.execute(sa.text("SELECT name, role, created_at, disabled_at, disabled_by FROM users ORDER BY name"))
    return [{"name": r.name, "role": r.role, "created_at": r.created_at.isoformat(),
             "disabled_at": r.disabled_at.isoformat() if r.disabled_at else None, "disabled_by": r.disabled_by}
            for r in rows]


def enabled_admins(conn: Connection) -> list[str]:
    """The enabled admin users, locked until the end of the transaction: two admins disabling or
    demoting each other at once cannot both pass a check that the other one remains."""
    rows = conn.execute(sa.text("SELECT name FROM users WHERE role = 'admin' AND disabled_at IS NULL "
                                "ORDER BY name FOR UPDATE"))
    return [r.name for r in rows]


def set_user_disabled(conn: Connection, name: str, disabled: bool, actor: str) -> bool:
    """Disable (or enable) a user; True when that changed anything. Disabling ends the user's
    sessions at once; its tokens stop working (token_identity) and come back when it is enabled."""
    row = conn.execute(sa.text(
        "UPDATE users SET disabled_at = CASE WHEN :d THEN now() END, disabled_by = CASE WHEN :d THEN :a END "
        "WHERE name = :n AND (disabled_at IS NOT NULL) <> :d RETURNING name"),
        {"n": name, "d": disabled, "a": actor}).first()
    if row is not None and disabled:
        conn.execute(sa.text("DELETE FROM sessions WHERE user_name = :n"), {"n": name})
    return row is not None


def set_password_hash(conn: Connection, name: str, password_hash: str) -> None:
    conn.execute(sa.text("UPDATE users SET password_hash = :p WHERE name = :n"), {"p": password_hash, "n": name})


def create_session(conn: Connection, session_id: str, user: str, csrf: str, lifetime_s: float) -> None:
    conn.execute(sa.text("DELETE FROM sessions WHERE expires_at < now()"))
    conn.execute(sa.text("INSERT INTO sessions (id_hash, user_name, csrf, expires_at) "
                         "VALUES (:h, :u, :c, now() + make_interval(secs => :s))"),
                 {"h": hash_token(session_id), "u": user, "c": csrf, "s": lifetime_s})


def session_identity(conn: Connection, session_id: str) -> tuple[str, str, str] | None:
    """(user, role, csrf token) of a live session."""
    row = conn.execute(sa.text("SELECT s.user_name, u.role, s.csrf FROM sessions s JOIN users u ON u.name = s.user_name "
                               "WHERE s.id_hash = :h AND s.expires_at > now() AND u.disabled_at IS NULL"),
                       {"h": hash_token(session_id)}).first()
    return (row.user_name, row.role, row.csrf) if row else None


def end_session(conn: Connection, session_id: str) -> None:
    conn.execute(sa.text("DELETE FROM sessions WHERE id_hash = :h"), {"h": hash_token(session_id)})


def record_login(conn: Connection, user: str, client: str, ok: bool) -> None:
    conn.execute(sa.text("INSERT INTO login_attempts (user_name, client, ok) VALUES (:u, :c, :o)"),
                 {"u": user, "c": client, "o": ok})


def recent_login_failures(conn: Connection, user: str, client: str, window_s: float) -> tuple[int, int]:
    """Failed logins in the last ``window_s`` seconds: (for this user name, from this client address)."""
    row = conn.execute(sa.text(
        "SELECT count(*) FILTER (WHERE user_name = :u) AS by_user, count(*) FILTER (WHERE client = :c) AS by_client "
        "FROM login_attempts WHERE NOT ok AND at > now() - make_interval(secs => :w) AND (user_name = :u OR client = :c)"),
        {"u": user, "c": client, "w": window_s}).first()
    return int(row.by_user), int(row.by_client)


# ---- approvals ----------------------------------------------------------------------------------

def add_approval(conn: Connection, rid: int, approver: str, reason: str) -> None:
    conn.execute(sa.text("INSERT INTO approvals (rehearsal_id, approver, reason) VALUES (:i, :a, :r)"),
                 {"i": rid, "a": approver, "r": reason})


def approval_of(conn: Connection, rid: int) -> dict | None:
    row = conn.execute(sa.text("SELECT approver, reason, at FROM approvals WHERE rehearsal_id = :i"),
                       {"i": rid}).first()
    return {"approver": row.approver, "reason": row.reason, "at": row.at.isoformat()} if row else None


def release_decision(row: dict, threshold: str, approval: dict | None) -> dict:
    """Whether a rehearsal is release-approved, routed by its observed risk against the target's threshold.

    At or above the threshold it needs an approver's sign-off (``approval``); below it, a passed
    rehearsal is approved automatically. Anything but a passed rehearsal is never release-approved.
    """
    from ..risk import level_rank

    risk = row.get("risk")
    needs = risk is not None and level_rank(risk) >= level_rank(threshold)
    base = {"threshold": threshold, "risk": risk, "needs_approval": needs, "approver": None, "reason": None, "at": None}
    if row["status"] != "passed":
        state = "pending" if row["status"] in ("queued", "running") else "not approvable"
        why = ("the rehearsal has not finished" if state == "pending"
               else f"the rehearsal {row['status']}: only a passed rehearsal can be release-approved")
        return {**base, "state": state, "release_approved": False, "summary": why}
    if not needs:
        return {**base, "state": "auto-approved", "release_approved": True,
                "summary": f"approved automatically: risk {risk} is below the target's approval threshold {threshold}"}
    if approval:
        return {**base, **approval, "state": "approved", "release_approved": True,
                "summary": f"approved by {approval['approver']}: {approval['reason']}"}
    return {**base, "state": "awaiting approval", "release_approved": False,
            "summary": f"risk {risk} is at or above the target's approval threshold {threshold}: "
                       "an approver who is not its requester must sign off"}


def decision_for(conn: Connection, rid: int) -> dict | None:
    row = conn.execute(sa.text("SELECT r.status, r.risk, t.approval_threshold FROM rehearsals r "
                               "JOIN targets t ON t.name = r.target WHERE r.id = :i"), {"i": rid}).mappings().first()
    if row is None:
        return None
    return release_decision(dict(row), row["approval_threshold"], approval_of(conn, rid))


# ---- targets ------------------------------------------------------------------------------------

def put_target(conn: Connection, t: dict) -> None:
    cols = ("name", "source_url", *TARGET_FIELDS[1:])
    values = {c: t.get(c) for c in cols}
    values["thresholds"] = json.dumps(t.get("thresholds") or {})
    values["run_options"] = json.dumps(t.get("run_options") or {})
    values["alembic_ini"] = values["alembic_ini"] or "alembic.ini"
    values["staging"] = values["staging"] or "local"
    values["approval_threshold"] = values["approval_threshold"] or "high"
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols[1:])
    conn.execute(sa.text(f"INSERT INTO targets ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)}) "
                         f"ON CONFLICT (name) DO UPDATE SET {updates}")
                 .bindparams(sa.bindparam("thresholds", type_=sa.Text), sa.bindparam("run_options", type_=sa.Text)),
                 values)


def set_run_options(conn: Connection, name: str, options: dict) -> None:
    conn.execute(sa.text("UPDATE targets SET run_options = CAST(:o AS jsonb) WHERE name = :n"),
                 {"o": json.dumps(options), "n": name})


def _public_target(row: Any) -> dict:
    out = {k: row[k] for k in TARGET_FIELDS}
    if out["snapshot_schedule"]:
        try:  # stored as canonical JSON; a bare string from before svc0004 is returned as it is
            out["snapshot_schedule"] = json.loads(out["snapshot_schedule"])
        except ValueError:
            pass
    out["has_source_url"] = row["source_url"] is not None
    return out


def get_target(conn: Connection, name: str, *, with_secret: bool = False) -> dict | None:
    row = conn.execute(sa.text("SELECT * FROM targets WHERE name = :n"), {"n": name}).mappings().first()
    if row is None:
        return None
    out = _public_target(row)
    if with_secret:
        out["source_url"] = row["source_url"]
    return out


def list_targets(conn: Connection) -> list[dict]:
    return [_public_target(r) for r in conn.execute(sa.text("SELECT * FROM targets ORDER BY name")).mappings()]


def scheduled_targets(conn: Connection) -> list[tuple[str, str]]:
    """(name, stored schedule) of every target a worker pulls snapshots for."""
    rows = conn.execute(sa.text("SELECT name, snapshot_schedule FROM targets WHERE snapshot_schedule IS NOT NULL "
                                "AND source_url IS NOT NULL ORDER BY name"))
    return [(r.name, r.snapshot_schedule) for r in rows]


# ---- rehearsals and their jobs ------------------------------------------------------------------

def enqueue(conn: Connection, *, target: str, ref: str | None, requested_by: str, pr_key: str | None = None,
            forge: dict | None = None) -> dict:
    """Insert a rehearsal and its procrastinate job in the caller's transaction.

    The job is deferred with procrastinate's own SQL function in the same transaction, so a
    rehearsal row never exists without its job (nor a job without its row). ``lock=target``
    makes procrastinate run one job per target at a time; a re-pushed pull request (same
    ``pr_key``) cancels the job still queued for it first, then takes its queueing lock.
    """
    replaced = []
    if pr_key:
        for old in conn.execute(sa.text("SELECT id, job_id FROM rehearsals WHERE pr_key = :k AND status = 'queued' "
                                        "FOR UPDATE"), {"k": pr_key}):
            conn.execute(sa.text("SELECT procrastinate_cancel_job_v1(:j, false, false)"), {"j": old.job_id})
            conn.execute(sa.text("UPDATE rehearsals SET status = 'cancelled', finished_at = now(), "
                                 "status_reason = 'replaced by a newer push' WHERE id = :i"), {"i": old.id})
            replaced.append(old.id)
    rid = conn.execute(sa.text("INSERT INTO rehearsals (target, ref, requested_by, pr_key, forge) "
                               "VALUES (:t, :r, :b, :k, CAST(:f AS jsonb)) RETURNING id"),
                       {"t": target, "r": ref, "b": requested_by, "k": pr_key,
                        "f": json.dumps(forge) if forge else None}).scalar_one()
    job_id = conn.execute(sa.text(
        "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:q, :task, 0, :lock, :qlock, CAST(:args AS jsonb), "
        "NULL)::procrastinate_job_to_defer_v1]))"),
        {"q": QUEUE, "task": TASK_NAME, "lock": f"target:{target}", "qlock": f"pr:{pr_key}" if pr_key else None,
         "args": json.dumps({"rehearsal_id": rid})}).scalar_one()
    conn.execute(sa.text("UPDATE rehearsals SET job_id = :j WHERE id = :i"), {"j": job_id, "i": rid})
    return {"id": rid, "job_id": job_id, "replaced": replaced}


def rehearsal_row(conn: Connection, rid: int) -> dict | None:
    row = conn.execute(sa.text("SELECT * FROM rehearsals WHERE id = :i"), {"i": rid}).mappings().first()
    return dict(row) if row else None


def public_rehearsal(row: dict) -> dict:
    out = {k: row[k] for k in REHEARSAL_FIELDS}
    for k in ("created_at", "started_at", "finished_at"):
        out[k] = out[k].isoformat() if out[k] else None
    out["has_report"] = row.get("report_json") is not None
    return out


def public_rehearsal_by_id(conn: Connection, rid: int) -> dict | None:
    """One rehearsal without reading its report (which can be large)."""
    rows = _public_rows(conn, "WHERE id = :i", {"i": rid})
    return rows[0] if rows else None


def _public_rows(conn: Connection, where: str, params: dict) -> list[dict]:
    sql = (f"SELECT {', '.join(REHEARSAL_FIELDS)}, report_json IS NOT NULL AS has_report_flag "
           f"FROM rehearsals {where}")
    out = []
    for r in conn.execute(sa.text(sql), params).mappings():
        row = dict(r)
        row["report_json"] = True if row.pop("has_report_flag") else None
        out.append(public_rehearsal(row))
    return out


def list_rehearsals(conn: Connection, *, target: str | None = None, status: str | None = None,
                    limit: int = 100) -> list[dict]:
    where, params = [], {"lim": limit}
    if target:
        where.append("target = :t")
        params["t"] = target
    if status:
        where.append("status = :s")
        params["s"] = status
    return _public_rows(conn, f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT :lim",
                        params)


def request_cancel(conn: Connection, rid: int) -> str:
    """Cancel a queued rehearsal at once; ask the worker to stop a running one. Returns the status."""
    row = conn.execute(sa.text("SELECT status, job_id FROM rehearsals WHERE id = :i FOR UPDATE"), {"i": rid}).first()
    if row.status == "queued":
        conn.execute(sa.text("SELECT procrastinate_cancel_job_v1(:j, false, false)"), {"j": row.job_id})
        conn.execute(sa.text("UPDATE rehearsals SET status = 'cancelled', cancel_requested = true, "
                             "finished_at = now(), status_reason = 'cancelled before it started' WHERE id = :i"),
                     {"i": rid})
        return "cancelled"
    if row.status == "running":
        # not procrastinate's abort: it cancels the job's coroutine, which would orphan the child;
        # the worker polls this flag and stops the child itself
        conn.execute(sa.text("UPDATE rehearsals SET cancel_requested = true WHERE id = :i"), {"i": rid})
    return row.status


def add_event(conn: Connection, rid: int, line: str) -> None:
    conn.execute(sa.text("INSERT INTO events (rehearsal_id, line) VALUES (:i, :l)"), {"i": rid, "l": redact(line)})


def events_after(conn: Connection, rid: int, after: int = 0) -> list[dict]:
    rows = conn.execute(sa.text("SELECT id, at, line FROM events WHERE rehearsal_id = :i AND id > :a ORDER BY id"),
                        {"i": rid, "a": after})
    return [{"id": r.id, "at": r.at.isoformat(), "line": r.line} for r in rows]


def history(conn: Connection, target: str) -> list[dict]:
    """Per-revision measurements of every finished rehearsal of a target, oldest first."""
    rows = conn.execute(sa.text("SELECT id, ref, created_at, status, risk, data_rows, report_json FROM rehearsals "
                                "WHERE target = :t AND report_json IS NOT NULL ORDER BY id"), {"t": target})
    out = []
    for r in rows:
        data = json.loads(r.report_json)
        out.append({"rehearsal": r.id, "ref": r.ref, "at": r.created_at.isoformat(), "status": r.status,
                    "risk": r.risk, "data_rows": r.data_rows, "revisions": revision_measures(data)})
    return out


# ---- snapshots of scheduled targets ------------------------------------------------------------

def _lock_snapshots(conn: Connection, target: str) -> None:
    """Serialise one target's snapshot bookkeeping (queueing, choosing the newest, pruning) across processes."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k, hashtext(:t))"), {"k": _SNAPSHOT_LOCK, "t": target})


def queue_pull(conn: Connection, target: str, *, requested_by: str, slot: Any = None) -> tuple[dict, bool] | None:
    """Queue a pull of ``target`` for ``slot`` (None: now) with its job, in the caller's transaction.

    Returns (the snapshot row, whether it is new), or None when ``slot`` already has its pull.
    A pull already queued for the target is reused (and takes the newer slot): procrastinate's
    queueing lock ``pull:<target>`` admits one queued pull per target, its lock ``pull:<target>``
    one running pull per target, across every worker.
    """
    _lock_snapshots(conn, target)
    if slot is not None and conn.execute(sa.text("SELECT 1 FROM snapshots WHERE target = :t AND slot = :s"),
                                         {"t": target, "s": slot}).first():
        return None
    queued = conn.execute(sa.text("SELECT * FROM snapshots WHERE target = :t AND status = 'queued' "
                                  "ORDER BY id LIMIT 1"), {"t": target}).mappings().first()
    if queued is not None:
        if slot is not None:
            conn.execute(sa.text("UPDATE snapshots SET slot = :s WHERE id = :i"), {"s": slot, "i": queued["id"]})
        return snapshot_row(conn, queued["id"]), False
    sid = conn.execute(sa.text("INSERT INTO snapshots (target, slot, requested_by) VALUES (:t, :s, :b) RETURNING id"),
                       {"t": target, "s": slot, "b": requested_by}).scalar_one()
    job_id = conn.execute(sa.text(
        "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:q, :task, 0, :lock, :lock, CAST(:args AS jsonb), "
        "NULL)::procrastinate_job_to_defer_v1]))"),
        {"q": PULL_QUEUE, "task": PULL_TASK_NAME, "lock": f"pull:{target}",
         "args": json.dumps({"snapshot_id": sid})}).scalar_one()
    conn.execute(sa.text("UPDATE snapshots SET job_id = :j WHERE id = :i"), {"j": job_id, "i": sid})
    return snapshot_row(conn, sid), True


def snapshot_row(conn: Connection, sid: int) -> dict | None:
    row = conn.execute(sa.text("SELECT * FROM snapshots WHERE id = :i"), {"i": sid}).mappings().first()
    return dict(row) if row else None


def public_snapshot(row: dict) -> dict:
    out = {k: row[k] for k in SNAPSHOT_FIELDS}
    for k in ("slot", "created_at", "started_at", "pulled_at", "deleted_at"):
        out[k] = out[k].isoformat() if out[k] else None
    return out


def list_snapshots(conn: Connection, target: str, limit: int = 100) -> list[dict]:
    rows = conn.execute(sa.text("SELECT * FROM snapshots WHERE target = :t ORDER BY id DESC LIMIT :l"),
                        {"t": target, "l": limit}).mappings()
    return [public_snapshot(dict(r)) for r in rows]


def newest_snapshot(conn: Connection, target: str) -> dict | None:
    """The newest complete snapshot of a target (under the target's snapshot lock: pruning waits)."""
    _lock_snapshots(conn, target)
    row = conn.execute(sa.text("SELECT * FROM snapshots WHERE target = :t AND status = 'complete' "
                               "ORDER BY pulled_at DESC, id DESC LIMIT 1"), {"t": target}).mappings().first()
    return dict(row) if row else None


def prune_snapshots(conn: Connection, target: str, keep: int) -> list[str]:
    """Mark all but the newest ``keep`` complete snapshots deleted; returns their paths to remove.

    A snapshot a running rehearsal restores from is spared until a later prune.
    """
    _lock_snapshots(conn, target)
    rows = conn.execute(sa.text(
        "SELECT s.id, s.path FROM snapshots s WHERE s.target = :t AND s.status = 'complete' "
        "AND NOT EXISTS (SELECT 1 FROM rehearsals r WHERE r.snapshot_id = s.id AND r.status = 'running') "
        "AND s.id NOT IN (SELECT id FROM snapshots WHERE target = :t AND status = 'complete' "
        "                 ORDER BY pulled_at DESC, id DESC LIMIT :k)"), {"t": target, "k": keep}).all()
    for r in rows:
        conn.execute(sa.text("UPDATE snapshots SET status = 'deleted', deleted_at = now() WHERE id = :i"), {"i": r.id})
        audit(conn, "service", "snapshot.delete", str(r.id), target=target, keep=keep)
    return [r.path for r in rows if r.path]


def request_pull_cancel(conn: Connection, sid: int) -> str:
    """Cancel a queued pull at once; ask the worker to stop a running one (it polls the flag). Returns the status."""
    row = conn.execute(sa.text("SELECT status, job_id FROM snapshots WHERE id = :i FOR UPDATE"), {"i": sid}).first()
    if row.status == "queued":
        conn.execute(sa.text("SELECT procrastinate_cancel_job_v1(:j, false, false)"), {"j": row.job_id})
        conn.execute(sa.text("UPDATE snapshots SET status = 'cancelled', cancel_requested = true, "
                             "status_reason = 'cancelled before it started' WHERE id = :i"), {"i": sid})
        return "cancelled"
    conn.execute(sa.text("UPDATE snapshots SET cancel_requested = true WHERE id = :i"), {"i": sid})
    return row.status


def add_snapshot_event(conn: Connection, sid: int, line: str) -> None:
    conn.execute(sa.text("INSERT INTO snapshot_events (snapshot_id, line) VALUES (:i, :l)"),
                 {"i": sid, "l": redact(line)})


def snapshot_events(conn: Connection, sid: int) -> list[dict]:
    rows = conn.execute(sa.text("SELECT id, at, line FROM snapshot_events WHERE snapshot_id = :i ORDER BY id"),
                        {"i": sid})
    return [{"id": r.id, "at": r.at.isoformat(), "line": r.line} for r in rows]


def revision_measures(data: dict) -> list[dict]:
    """Per revision of a report: upgrade duration, longest blocking lock, rewrites, the largest table it locked."""
    revisions = []
    for rev in data.get("revisions") or []:
        up = rev.get("upgrade") or {}
        stmts = up.get("statements") or []
        locks = [lk for s in stmts for lk in s.get("locks") or []]
        revisions.append({
            "revision": rev.get("id"),
            "risk": rev.get("risk"),
            "duration_s": up.get("duration_s"),
            "longest_lock_s": max((lk.get("held_s") or 0 for lk in locks
                                   if lk.get("blocks_reads") or lk.get("blocks_writes")), default=0),
            "rewrites": sum(len(s.get("rewrites") or []) for s in stmts),
            "table_rows": max((lk.get("rows") or 0 for lk in locks), default=None),
            "table_bytes": max((lk.get("bytes") or 0 for lk in locks), default=None),
        })
    return revisions


def report_data(conn: Connection, rid: int) -> dict | None:
    text = conn.execute(sa.text("SELECT report_json FROM rehearsals WHERE id = :i"), {"i": rid}).scalar()
    return json.loads(text) if text else None


def dashboard(conn: Connection, recent: int = 20) -> dict:
    """Queued and running rehearsals (oldest first), then the most recent finished ones."""
    active = _public_rows(conn, "WHERE status IN ('queued', 'running') ORDER BY id", {})
    done = _public_rows(conn, "WHERE status NOT IN ('queued', 'running') ORDER BY id DESC LIMIT :n", {"n": recent})
    for row in active:
        last = conn.execute(sa.text("SELECT line FROM events WHERE rehearsal_id = :i ORDER BY id DESC LIMIT 1"),
                            {"i": row["id"]}).scalar()
        row["last_event"] = last
    return {"queued": [r for r in active if r["status"] == "queued"],
            "running": [r for r in active if r["status"] == "running"], "recent": done}


def iter_rows(conn: Connection, sql: str, **params: Any) -> Iterator[dict]:
    yield from (dict(r) for r in conn.execute(sa.text(sql), params).mappings())


@dataclass(frozen=True)
class Outcome:
    """How a rehearsal ended, as the worker records it."""

    status: str
    exit_code: int | None
    reason: str | None
    report_json: str | None
    risk: str | None
    data_rows: int | None = None  # rows restored from the rehearsal's snapshot
