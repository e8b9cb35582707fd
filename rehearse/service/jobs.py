"""The queue side of the service: the procrastinate task that runs one rehearsal, worker heartbeats, the reaper.

A rehearsal runs as a child process (`python -m rehearse.cli run ... --format json`) in its own
process group, so a cancel can signal it and everything it started, and so the worker's own event
loop never runs migrations. The child asks the kernel for SIGTERM when the worker dies
(PR_SET_PDEATHSIG): after a kill -9 of the worker, rehearse still tears its staging down, and the
`rehearse.api.gc` that runs at the worker's next start removes whatever was left.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from ..errors import RehearseError
from ..urls import redact
from . import store
from .schedule import SnapshotSchedule, load_schedule

log = logging.getLogger("rehearse.service")

HEARTBEAT_S = 3.0
LOST_AFTER_S = 20.0  # a worker silent this long is dead: its rehearsals fail with "worker lost"
CANCEL_POLL_S = 0.5
TERM_GRACE_S = 3.5  # SIGTERM, then SIGKILL: cancel must be over within 5 s
SCHEDULE_EVERY_S = HEARTBEAT_S  # how often a worker looks for due pulls (the heartbeat loop)
# the pipeline's own progress line; the service keeps the number as the snapshot's data size over time
RESTORING = re.compile(r"restoring ([\d,]+) rows into ")
STATUS_BY_EXIT = {0: "passed", 1: "failed", 2: "error", 3: "error", 130: "cancelled", 143: "cancelled"}


def status_for_exit(code: int | None, cancelled: bool) -> str:
    if cancelled:
        return "cancelled"
    return STATUS_BY_EXIT.get(code, "error")


def rehearse_command(target: dict, project: Path, report_dir: Path, settings_file: Path | None = None) -> list[str]:
    """The `rehearse run` command line for a target's settings."""
    cmd = [target.get("python") or sys.executable, "-m", "rehearse.cli", "run",
           "--alembic-ini", str(project / (target.get("alembic_ini") or "alembic.ini")),
           "--format", "json", "--report-dir", str(report_dir), "--staging", target.get("staging") or "local",
           "--no-strict"]
    if settings_file is not None:
        cmd += ["--config", str(settings_file)]
    if target.get("snapshot"):
        cmd += ["--snapshot", target["snapshot"]]
    elif target.get("source_url"):
        cmd += ["--source", target["source_url"]]
    if target.get("policy"):
        cmd += ["--policy", target["policy"]]
    if target.get("fail_on"):
        cmd += ["--fail-on", target["fail_on"]]
    return cmd


def snapshot_command(target: dict, out_dir: Path, schedule: SnapshotSchedule) -> list[str]:
    """The `rehearse snapshot` command line of a scheduled pull (the worker's own rehearse runs it)."""
    cmd = [sys.executable, "-m", "rehearse.cli", "snapshot", target["source_url"], "-o", str(out_dir),
           "--strict" if schedule.strict else "--no-strict"]
    if target.get("policy"):
        cmd += ["--policy", target["policy"]]
    return cmd


def write_child_settings(target: dict, project: Path, workdir: Path) -> Path | None:
    """The target's thresholds and run options over the project's own settings, as a file for the child's --config.

    The run options go into its ``run:`` section, where rehearse.yaml keeps the same names, so the
    child reads them as it reads a project's own. None when the target sets neither: the child
    then finds the project's file itself.
    """
    if not (target.get("thresholds") or target.get("run_options")):
        return None
    import yaml

    from ..config import settings_for_child
    data = settings_for_child(project, project / (target.get("alembic_ini") or "alembic.ini"),
                              thresholds=target.get("thresholds"), run=target.get("run_options"))
    path = workdir / "settings" / "rehearse.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the worker goes away, so staging is still torn down."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _checkout(target: dict, ref: str | None, workdir: Path) -> tuple[Path, str | None]:
    """The project directory to rehearse and its commit (a clone for git targets)."""
    if target.get("git_url"):
        dest = workdir / "project"
        subprocess.run(["git", "clone", "-q", target["git_url"], str(dest)], check=True, capture_output=True)
        subprocess.run(["git", "-C", str(dest), "checkout", "-q", ref or target.get("git_ref") or "HEAD"],
                       check=True, capture_output=True)
        project = dest
    else:
        project = Path(target["project_path"])
    out = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True, text=True)
    return project, (out.stdout.strip() or None) if out.returncode == 0 else None


class Worker:
    """One `rehearse worker`: heartbeats, reaps lost peers, and runs rehearsal jobs one at a time."""

    def __init__(self, db_url: str, data_dir: Path | None = None) -> None:
        self.db_url = db_url
        self.engine = store.engine(db_url)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        if data_dir is None:
            from .embedded import default_data_dir
            data_dir = default_data_dir()
        self.snapshots_dir = Path(data_dir).resolve() / "snapshots"

    # -- bookkeeping ------------------------------------------------------------------------------
    def register(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO workers (id, host, pid) VALUES (:i, :h, :p)"),
                         {"i": self.id, "h": socket.gethostname(), "p": os.getpid()})

    def unregister(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text("UPDATE workers SET stopped_at = now() WHERE id = :i"), {"i": self.id})
        reap_lost(self.engine)  # a rehearsal cut short by this stop fails now, not after the timeout

    def beat(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text("UPDATE workers SET heartbeat_at = now() WHERE id = :i"), {"i": self.id})

    def reap(self) -> list[int]:
        return reap_lost(self.engine)

    async def heartbeat_loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.beat)
                await asyncio.to_thread(self.reap)
                await asyncio.to_thread(queue_due_pulls, self.engine)
            except Exception as exc:  # the database may blink; the next beat retries
                log.warning("heartbeat failed: %s", redact(str(exc).splitlines()[0] if str(exc) else repr(exc)))
            await asyncio.sleep(HEARTBEAT_S)

    # -- the job ----------------------------------------------------------------------------------
    def _claim(self, rid: int) -> tuple[dict, dict] | None:
        with self.engine.begin() as conn:
            row = conn.execute(sa.text("SELECT * FROM rehearsals WHERE id = :i FOR UPDATE"), {"i": rid}).mappings().first()
            if row is None or row["status"] != "queued":
                return None  # cancelled or replaced between defer and fetch
            target = store.get_target(conn, row["target"], with_secret=True)
            # the options it runs with, kept with it: the target's may change before anyone reads the report
            conn.execute(sa.text("UPDATE rehearsals SET status = 'running', started_at = now(), worker_id = :w, "
                                 "run_options = CAST(:o AS jsonb) WHERE id = :i"),
                         {"w": self.id, "i": rid, "o": json.dumps(target["run_options"] or {})})
            store.audit(conn, f"worker:{self.id}", "rehearsal.start", str(rid))
            if target["snapshot_schedule"] and not target["snapshot"]:
                # a scheduled target rehearses on its newest complete pull, recorded with the rehearsal
                # (pruning spares a snapshot while a running rehearsal uses it)
                newest = store.newest_snapshot(conn, row["target"])
                if newest is None:
                    target["no_snapshot"] = (f"target {row['target']} has no complete snapshot yet: its scheduled "
                                             f"pull has not finished (or failed); see GET /api/targets/"
                                             f"{row['target']}/snapshots, or pull now with POST on it")
                else:
                    target["snapshot"] = newest["path"]
                    conn.execute(sa.text("UPDATE rehearsals SET snapshot_id = :s WHERE id = :i"),
                                 {"s": newest["id"], "i": rid})
        return dict(row), target

    def _event(self, rid: int, line: str) -> None:
        with self.engine.begin() as conn:
            store.add_event(conn, rid, line)

    def _cancel_requested(self, rid: int) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(sa.text("SELECT cancel_requested FROM rehearsals WHERE id = :i"),
                                     {"i": rid}).scalar())

    def _finish(self, rid: int, outcome: store.Outcome, commit: str | None) -> None:
        with self.engine.begin() as conn:
            # only a rehearsal still "running" is ours to finish: the reaper may have failed it already
            conn.execute(sa.text(
                "UPDATE rehearsals SET status = :s, exit_code = :c, status_reason = :why, report_json = :r, "
                "risk = :risk, finished_at = now(), commit = coalesce(:commit, commit), child_pid = NULL, "
                "data_rows = :rows WHERE id = :i AND status = 'running' AND worker_id = :w"),
                {"s": outcome.status, "c": outcome.exit_code, "why": outcome.reason, "r": outcome.report_json,
                 "risk": outcome.risk, "commit": commit, "i": rid, "w": self.id, "rows": outcome.data_rows})
            store.audit(conn, f"worker:{self.id}", f"rehearsal.{outcome.status}", str(rid), exit_code=outcome.exit_code,
                        reason=outcome.reason, risk=outcome.risk)

    async def run(self, rid: int) -> str:
        claimed = await asyncio.to_thread(self._claim, rid)
        if claimed is None:
            return "skipped"
        row, target = claimed
        with tempfile.TemporaryDirectory(prefix=f"rehearse-svc-{rid}-") as tmp:
            workdir = Path(tmp)
            commit = None
            settings = None
            if target.get("no_snapshot"):
                outcome = store.Outcome("error", None, target["no_snapshot"], None, None)
            else:
                try:
                    project, commit = await asyncio.to_thread(_checkout, target, row["ref"], workdir)
                except (subprocess.CalledProcessError, OSError) as exc:
                    outcome = store.Outcome("error", None, f"could not check the project out: {exc}", None, None)
                else:
                    try:
                        settings = await asyncio.to_thread(write_child_settings, target, project, workdir)
                    except RehearseError as exc:
                        outcome = store.Outcome("error", None, f"the target's thresholds or run options could not "
                                                f"be applied: {exc.one_line()}", None, None)
                    else:
                        outcome = await self._run_child(
                            rid, rehearse_command(target, project, workdir / "reports", settings),
                            workdir / "reports", project)
            await asyncio.to_thread(self._finish, rid, outcome, commit)
        if row.get("forge"):
            from .hooks import post_report_comment
            await asyncio.to_thread(post_report_comment, self.engine, rid)
        return outcome.status

    async def _run_child(self, rid: int, cmd: list[str], report_dir: Path, project: Path) -> store.Outcome:
        data_rows: list[int] = []

        def on_line(line: str) -> None:
            if not data_rows and (m := RESTORING.search(line)):
                data_rows.append(int(m.group(1).replace(",", "")))
            self._event(rid, line)

        code, cancelled, tail = await run_child(
            cmd, project, on_start=lambda pid: self._set_child(rid, pid), on_line=on_line,
            cancel_requested=lambda: self._cancel_requested(rid))
        report_path = report_dir / "report.json"
        report_json = report_path.read_text() if report_path.is_file() else None
        risk = json.loads(report_json).get("risk") if report_json else None
        status = status_for_exit(code, cancelled)
        reason = {"cancelled": "cancelled on request" if cancelled else "interrupted",
                  "error": f"rehearse exited with {code}" + (f": {why}" if (why := _child_error(tail)) else "")
                  }.get(status)
        await asyncio.to_thread(self._event, rid, f"finished: {status} (exit {code})")
        return store.Outcome(status, code, reason, report_json, risk, data_rows[0] if data_rows else None)

    def _set_child(self, rid: int, pid: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text("UPDATE rehearsals SET child_pid = :p WHERE id = :i"), {"p": pid, "i": rid})

    # -- a scheduled (or requested) snapshot pull ---------------------------------------------------
    def _claim_pull(self, sid: int) -> tuple[dict, dict, SnapshotSchedule] | tuple[None, str, None] | None:
        with self.engine.begin() as conn:
            row = conn.execute(sa.text("SELECT * FROM snapshots WHERE id = :i FOR UPDATE"), {"i": sid}).mappings().first()
            if row is None or row["status"] != "queued":
                return None
            target = store.get_target(conn, row["target"], with_secret=True)
            try:
                schedule = load_schedule(conn.execute(sa.text("SELECT snapshot_schedule FROM targets WHERE name = :n"),
                                                      {"n": row["target"]}).scalar())
            except RehearseError as exc:
                return None, f"the target's snapshot_schedule is not valid: {exc.one_line()}", None
            if not target["source_url"]:
                return None, "the target has no source_url to pull from", None
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            path = self.snapshots_dir / row["target"] / f"{sid}-{stamp}"
            conn.execute(sa.text("UPDATE snapshots SET status = 'running', started_at = now(), worker_id = :w, "
                                 "path = :p WHERE id = :i"), {"w": self.id, "p": str(path), "i": sid})
            store.audit(conn, f"worker:{self.id}", "snapshot.start", str(sid), target=row["target"])
            row = store.snapshot_row(conn, sid)
        return row, target, schedule or SnapshotSchedule(every="24h")

    def _pull_event(self, sid: int, line: str) -> None:
        with self.engine.begin() as conn:
            store.add_snapshot_event(conn, sid, line)

    def _pull_cancel_requested(self, sid: int) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(sa.text("SELECT cancel_requested FROM snapshots WHERE id = :i"),
                                     {"i": sid}).scalar())

    def _set_pull_child(self, sid: int, pid: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text("UPDATE snapshots SET child_pid = :p WHERE id = :i"), {"p": pid, "i": sid})

    def _finish_pull(self, sid: int, target: str, status: str, reason: str | None, keep: int,
                     info: dict | None = None) -> list[str]:
        """Record how the pull ended; after a complete one, prune to ``keep``. Returns the paths to delete."""
        info = info or {}
        with self.engine.begin() as conn:
            done = conn.execute(sa.text(
                "UPDATE snapshots SET status = :s, status_reason = :why, pulled_at = CASE WHEN :s = 'complete' "
                "THEN now() END, size_bytes = :size, revision = :rev, row_counts = CAST(:rows AS jsonb), "
                "child_pid = NULL WHERE id = :i AND status = 'running' AND worker_id = :w RETURNING id"),
                {"s": status, "why": reason, "size": info.get("size_bytes"), "rev": info.get("revision"),
                 "rows": json.dumps(info["row_counts"]) if "row_counts" in info else None, "i": sid,
                 "w": self.id}).first()
            if done is None:  # the reaper failed it first ("worker lost"): not ours any more
                return []
            store.audit(conn, f"worker:{self.id}", f"snapshot.{status}", str(sid), target=target, reason=reason,
                        **{k: v for k, v in info.items() if k != "row_counts"})
            return store.prune_snapshots(conn, target, keep) if status == "complete" else []

    async def pull(self, sid: int) -> str:
        claimed = await asyncio.to_thread(self._claim_pull, sid)
        if claimed is None:
            return "skipped"
        row, target, schedule = claimed
        if row is None:  # a target that cannot be pulled: say why on the row
            with self.engine.begin() as conn:
                conn.execute(sa.text("UPDATE snapshots SET status = 'failed', status_reason = :r, started_at = now(), "
                                     "worker_id = :w WHERE id = :i AND status = 'queued'"),
                             {"r": target, "w": self.id, "i": sid})
            return "failed"
        out = Path(row["path"])
        out.parent.mkdir(parents=True, exist_ok=True)
        code, cancelled, tail = await run_child(
            snapshot_command(target, out, schedule), out.parent, on_start=lambda pid: self._set_pull_child(sid, pid),
            on_line=lambda line: self._pull_event(sid, line), cancel_requested=lambda: self._pull_cancel_requested(sid),
            what="the pull")
        info = None
        if code == 0 and not cancelled:
            try:
                info = await asyncio.to_thread(_snapshot_facts, out)
            except RehearseError as exc:
                status, reason = "failed", f"the pull wrote no readable snapshot: {exc.one_line()}"
            else:
                status, reason = "complete", None
        elif cancelled:
            status, reason = "cancelled", "cancelled on request"
        else:
            status, reason = "failed", _child_error(tail) or f"rehearse snapshot exited with {code}"
        if status != "complete":
            shutil.rmtree(out, ignore_errors=True)  # a partial pull is no snapshot; older ones stay
        await asyncio.to_thread(self._pull_event, sid, f"finished: {status} (exit {code})")
        for path in await asyncio.to_thread(self._finish_pull, sid, row["target"], status, reason, schedule.keep,
                                            info):
            shutil.rmtree(path, ignore_errors=True)
        return status


async def run_child(cmd: list[str], cwd: Path, *, on_start, on_line, cancel_requested,
                    what: str = "the rehearsal") -> tuple[int | None, bool, list[str]]:
    """Run a `rehearse` child in its own process group until it ends; returns (exit code, cancelled, last lines).

    Its stderr lines go to ``on_line`` (the caller stores them as events, redacted); ``cancel_requested``
    is polled every CANCEL_POLL_S and stops the child (SIGTERM, SIGKILL after TERM_GRACE_S). When the
    worker itself is stopping (CancelledError), the child is stopped the same way before it unwinds.
    The callbacks are blocking (database writes) and run in threads.
    """
    env = dict(os.environ, CI="", PYTHONUNBUFFERED="1")
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_die_with_parent)
    await asyncio.to_thread(on_start, proc.pid)
    await asyncio.to_thread(on_line, f"started: {redact(' '.join(cmd[3:]))}")
    tail: list[str] = []

    async def pump() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                tail.append(line)
                del tail[:-20]
                await asyncio.to_thread(on_line, line)

    pumping = asyncio.create_task(pump())
    cancelled = False
    try:
        while proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), timeout=CANCEL_POLL_S)
            except asyncio.TimeoutError:
                pass
            if proc.returncode is None and not cancelled and await asyncio.to_thread(cancel_requested):
                cancelled = True
                await asyncio.to_thread(on_line, f"cancel requested: stopping {what}")
                await _terminate(proc)
    except asyncio.CancelledError:  # the worker is stopping: the child must not outlive the job
        await _terminate(proc)
        raise
    await pumping
    return proc.returncode, cancelled, tail


def _child_error(tail: list[str]) -> str | None:
    """The one-line error a `rehearse` child printed last ("rehearse: ..."), redacted."""
    for i in range(len(tail) - 1, -1, -1):
        if tail[i].startswith("rehearse: "):
            return redact(" ".join(tail[i:])[len("rehearse: "):])
    return None


def _snapshot_facts(path: Path) -> dict:
    """What the service records of a finished pull: size on disk, source revision, rows per table."""
    from ..api import snapshot_info
    snap = snapshot_info(path)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {"size_bytes": size, "revision": ",".join(snap.source.alembic_revisions) or None,
            "row_counts": {t.qualified: t.rows for t in snap.tables}}


def queue_due_pulls(engine: sa.Engine, now: datetime | None = None) -> list[int]:
    """Queue the pull of every scheduled target whose current slot has none yet; returns the new snapshot ids.

    Every worker calls this on its heartbeat. Two workers finding the same slot due queue one
    pull: the (target, slot) key is unique, and the target's snapshot lock orders them.
    """
    now = now or datetime.now(timezone.utc)
    queued = []
    with engine.connect() as conn:
        targets = store.scheduled_targets(conn)
    for name, stored in targets:
        try:
            schedule = load_schedule(stored)
        except RehearseError:
            continue  # validated when saved; a hand-edited row is skipped, not fatal
        if schedule is None:
            continue
        with engine.begin() as conn:
            result = store.queue_pull(conn, name, requested_by="schedule", slot=schedule.slot(now))
            if result is not None and result[1]:
                store.audit(conn, "schedule", "snapshot.queue", str(result[0]["id"]), target=name,
                            slot=result[0]["slot"])
                queued.append(result[0]["id"])
    return queued


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the rehearsal's process group (rehearse tears staging down), SIGKILL after a grace."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        await asyncio.wait_for(proc.wait(), timeout=TERM_GRACE_S)
    except asyncio.TimeoutError:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()


def reap_lost(engine: sa.Engine, lost_after_s: float = LOST_AFTER_S) -> list[int]:
    """Fail the running rehearsals of workers whose heartbeat stopped; free their targets.

    procrastinate leaves such a job "doing" forever (and with it the target's lock). The job is
    marked failed, not retried: a half-done rehearsal is never re-run behind anyone's back.
    """
    with engine.begin() as conn:
        lost = conn.execute(sa.text(
            "UPDATE workers SET stopped_at = now() WHERE stopped_at IS NULL "
            "AND heartbeat_at < now() - make_interval(secs => :s) RETURNING id"), {"s": lost_after_s}).scalars().all()
        rows = conn.execute(sa.text(
            "SELECT r.id, r.job_id, r.child_pid, w.host FROM rehearsals r JOIN workers w ON w.id = r.worker_id "
            "WHERE r.status = 'running' AND w.stopped_at IS NOT NULL FOR UPDATE OF r")).all()
        for r in rows:
            conn.execute(sa.text("UPDATE rehearsals SET status = 'failed', status_reason = 'worker lost', "
                                 "finished_at = now() WHERE id = :i"), {"i": r.id})
            conn.execute(sa.text("INSERT INTO events (rehearsal_id, line) VALUES (:i, 'worker lost: marked failed')"),
                         {"i": r.id})
            conn.execute(sa.text("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = :j AND status = 'doing'"),
                         {"j": r.job_id})
            store.audit(conn, "service", "rehearsal.failed", str(r.id), reason="worker lost")
        pulls = conn.execute(sa.text(
            "SELECT s.id, s.job_id, s.child_pid, s.path, s.target, w.host FROM snapshots s "
            "JOIN workers w ON w.id = s.worker_id WHERE s.status = 'running' AND w.stopped_at IS NOT NULL "
            "FOR UPDATE OF s")).all()
        for p in pulls:  # a half-done pull is no snapshot: failed, never resumed; older snapshots stay
            conn.execute(sa.text("UPDATE snapshots SET status = 'failed', status_reason = 'worker lost' "
                                 "WHERE id = :i"), {"i": p.id})
            conn.execute(sa.text("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = :j AND status = 'doing'"),
                         {"j": p.job_id})
            store.audit(conn, "service", "snapshot.failed", str(p.id), target=p.target, reason="worker lost")
        if lost:
            log.warning("workers lost: %s", ", ".join(lost))
    # The orphaned child got SIGTERM from the kernel, but a statement blocked in the server (a long
    # backfill) delays its handler until the statement ends. On the same machine, stop it now and
    # collect its staging, so nothing of a lost rehearsal outlives the reaping.
    here = socket.gethostname()
    if any(_kill_orphan(r.child_pid) for r in rows if r.child_pid and r.host == here):
        from ..api import gc
        gc(quiet=True)
    for p in pulls:
        if p.host == here:
            if p.child_pid:
                _kill_orphan(p.child_pid, b"snapshot")
            if p.path:
                shutil.rmtree(p.path, ignore_errors=True)
    return [r.id for r in rows]


def remove_partial_pulls(engine: sa.Engine, snapshots_dir: Path) -> list[Path]:
    """At a worker's start: delete the directories of this service's pulls that are no snapshot.

    A pull cut short by a kill -9 leaves a directory without its manifest; the reaper marks its row
    failed, and this removes what it wrote. Only paths the service database records as failed,
    cancelled, deleted or lost (running on a stopped worker) under ``snapshots_dir`` are touched.
    """
    with engine.connect() as conn:
        dead = conn.execute(sa.text(
            "SELECT s.path FROM snapshots s LEFT JOIN workers w ON w.id = s.worker_id "
            "WHERE s.path IS NOT NULL AND (s.status IN ('failed', 'cancelled', 'deleted') "
            "OR (s.status = 'running' AND w.stopped_at IS NOT NULL))")).scalars().all()
    removed = []
    for path in map(Path, dead):
        if path.is_dir() and snapshots_dir in path.parents:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _kill_orphan(pid: int, command: bytes = b"run") -> bool:
    """SIGKILL the process group of a lost job's child, if that pid is still a `rehearse <command>`."""
    try:
        args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return False
    if b"rehearse.cli" not in args or command not in args:
        return False  # the pid was reused by something else
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + 5  # gc skips staging whose owner still shows as alive
    while time.monotonic() < deadline:
        try:
            if open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z":
                break
        except OSError:
            break
        time.sleep(0.05)
    return True


def make_app(db_url: str, worker: Worker | None = None):
    """The procrastinate App over the service database, with the rehearsal task registered."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=store.psycopg_dsn(db_url)))

    @app.task(name=store.TASK_NAME, queue=store.QUEUE)
    async def rehearse_task(rehearsal_id: int) -> str:
        if worker is None:
            raise RuntimeError("this App only defers jobs; run `rehearse worker` to execute them")
        return await worker.run(rehearsal_id)

    @app.task(name=store.PULL_TASK_NAME, queue=store.PULL_QUEUE)
    async def pull_task(snapshot_id: int) -> str:
        if worker is None:
            raise RuntimeError("this App only defers jobs; run `rehearse worker` to execute them")
        return await worker.pull(snapshot_id)

    return app


async def _run_worker(db_url: str, stop: asyncio.Event, data_dir: Path | None = None) -> None:
    from ..api import gc
    store.migrate(db_url)
    await asyncio.to_thread(gc, quiet=True)  # staging left by this machine's dead runs
    worker = Worker(db_url, data_dir)
    await asyncio.to_thread(worker.register)
    await asyncio.to_thread(remove_partial_pulls, worker.engine, worker.snapshots_dir)
    beats = asyncio.create_task(worker.heartbeat_loop())
    app = make_app(db_url, worker)
    try:
        async with app.open_async():
            # two procrastinate workers, one job each: a rehearsal at a time, and beside it a pull at a time
            works = {asyncio.create_task(app.run_worker_async(queues=[queue], concurrency=1,
                                                              install_signal_handlers=False, wait=True,
                                                              name=f"{worker.id}/{queue}", listen_notify=True,
                                                              fetch_job_polling_interval=1.0))
                     for queue in (store.QUEUE, store.PULL_QUEUE)}
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({*works, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for work in works:
                if not work.done():
                    work.cancel()  # procrastinate's shutdown: the running job's child gets CancelledError
                try:
                    await work
                except (asyncio.CancelledError, Exception):
                    pass
            stopper.cancel()
    finally:
        beats.cancel()
        await asyncio.to_thread(worker.unregister)
        worker.engine.dispose()


def run_worker(db_url: str, data_dir: Path | None = None) -> None:
    """Run one worker until SIGTERM or SIGINT; scheduled snapshots go under ``data_dir``/snapshots."""
    logging.basicConfig(level=logging.WARNING, format="rehearse worker: %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await _run_worker(db_url, stop, data_dir)

    asyncio.run(main())
