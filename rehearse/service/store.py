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
                 "python", "policy", "staging", "fail_on", "thresholds")
REHEARSAL_FIELDS = ("id", "target", "ref", "commit", "requested_by", "status", "status_reason", "exit_code",
                    "risk", "worker_id", "created_at", "started_at", "finished_at", "cancel_requested", "snapshot_id")


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


def token_identity(conn: Connection, token: str) -> tuple[str, str] | None:
    row = conn.execute(sa.text("SELECT name, role FROM tokens WHERE token_hash = :h"),
                       {"h": hash_token(token)}).first()
    return (row.name, row.role) if row else None


# ---- targets ------------------------------------------------------------------------------------

def put_target(conn: Connection, t: dict) -> None:
    cols = ("name", "source_url", *TARGET_FIELDS[1:])
    values = {c: t.get(c) for c in cols}
    values["thresholds"] = json.dumps(t.get("thresholds") or {})
    values["alembic_ini"] = values["alembic_ini"] or "alembic.ini"
    values["staging"] = values["staging"] or "local"
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols[1:])
    conn.execute(sa.text(f"INSERT INTO targets ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)}) "
                         f"ON CONFLICT (name) DO UPDATE SET {updates}")
                 .bindparams(sa.bindparam("thresholds", type_=sa.Text)), values)


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
    rows = conn.execute(sa.text("SELECT id, ref, created_at, status, risk, report_json FROM rehearsals "
                                "WHERE target = :t AND report_json IS NOT NULL ORDER BY id"), {"t": target})
    out = []
    for r in rows:
        data = json.loads(r.report_json)
        revisions = []
        for rev in data.get("revisions") or []:
            up = rev.get("upgrade") or {}
            stmts = up.get("statements") or []
            revisions.append({
                "revision": rev.get("id"),
                "risk": rev.get("risk"),
                "duration_s": up.get("duration_s"),
                "longest_lock_s": max((lk.get("held_s") or 0 for s in stmts for lk in s.get("locks") or []
                                       if lk.get("blocks_reads") or lk.get("blocks_writes")), default=0),
                "rewrites": sum(len(s.get("rewrites") or []) for s in stmts),
            })
        out.append({"rehearsal": r.id, "ref": r.ref, "at": r.created_at.isoformat(), "status": r.status,
                    "risk": r.risk, "revisions": revisions})
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
