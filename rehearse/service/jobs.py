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
import uuid
from pathlib import Path

import sqlalchemy as sa

from ..urls import redact
from . import store

log = logging.getLogger("rehearse.service")

HEARTBEAT_S = 3.0
LOST_AFTER_S = 20.0  # a worker silent this long is dead: its rehearsals fail with "worker lost"
CANCEL_POLL_S = 0.5
TERM_GRACE_S = 3.5  # SIGTERM, then SIGKILL: cancel must be over within 5 s
# the pipeline's own progress line; the service keeps the number as the snapshot's data size over time
RESTORING = re.compile(r"restoring ([\d,]+) rows into ")
STATUS_BY_EXIT = {0: "passed", 1: "failed", 2: "error", 3: "error", 130: "cancelled", 143: "cancelled"}


def status_for_exit(code: int | None, cancelled: bool) -> str:
    if cancelled:
        return "cancelled"
    return STATUS_BY_EXIT.get(code, "error")


def rehearse_command(target: dict, project: Path, report_dir: Path) -> list[str]:
    """The `rehearse run` command line for a target's settings."""
    cmd = [target.get("python") or sys.executable, "-m", "rehearse.cli", "run",
           "--alembic-ini", str(project / (target.get("alembic_ini") or "alembic.ini")),
           "--format", "json", "--report-dir", str(report_dir), "--staging", target.get("staging") or "local",
           "--no-strict"]
    if target.get("snapshot"):
        cmd += ["--snapshot", target["snapshot"]]
    elif target.get("source_url"):
        cmd += ["--source", target["source_url"]]
    if target.get("policy"):
        cmd += ["--policy", target["policy"]]
    if target.get("fail_on"):
        cmd += ["--fail-on", target["fail_on"]]
    return cmd


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

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.engine = store.engine(db_url)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

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
            except Exception as exc:  # the database may blink; the next beat retries
                log.warning("heartbeat failed: %s", redact(str(exc).splitlines()[0]))
            await asyncio.sleep(HEARTBEAT_S)

    # -- the job ----------------------------------------------------------------------------------
    def _claim(self, rid: int) -> tuple[dict, dict] | None:
        with self.engine.begin() as conn:
            row = conn.execute(sa.text("SELECT * FROM rehearsals WHERE id = :i FOR UPDATE"), {"i": rid}).mappings().first()
            if row is None or row["status"] != "queued":
                return None  # cancelled or replaced between defer and fetch
            conn.execute(sa.text("UPDATE rehearsals SET status = 'running', started_at = now(), worker_id = :w "
                                 "WHERE id = :i"), {"w": self.id, "i": rid})
            store.audit(conn, f"worker:{self.id}", "rehearsal.start", str(rid))
            target = store.get_target(conn, row["target"], with_secret=True)
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
            try:
                project, commit = await asyncio.to_thread(_checkout, target, row["ref"], workdir)
            except (subprocess.CalledProcessError, OSError) as exc:
                outcome = store.Outcome("error", None, f"could not check the project out: {exc}", None, None)
            else:
                outcome = await self._run_child(rid, rehearse_command(target, project, workdir / "reports"),
                                                workdir / "reports", project)
            await asyncio.to_thread(self._finish, rid, outcome, commit)
        if row.get("forge"):
            from .hooks import post_report_comment
            await asyncio.to_thread(post_report_comment, self.engine, rid)
        return outcome.status

    async def _run_child(self, rid: int, cmd: list[str], report_dir: Path, project: Path) -> store.Outcome:
        env = dict(os.environ, CI="", PYTHONUNBUFFERED="1")
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=str(project), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_die_with_parent)
        await asyncio.to_thread(self._set_child, rid, proc.pid)
        await asyncio.to_thread(self._event, rid, f"started: {redact(' '.join(cmd[3:]))}")

        data_rows: list[int] = []

        async def pump() -> None:
            assert proc.stderr is not None
            async for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                if (m := RESTORING.search(line)) and not data_rows:
                    data_rows.append(int(m.group(1).replace(",", "")))
                if line:
                    await asyncio.to_thread(self._event, rid, line)

        pumping = asyncio.create_task(pump())
        try:
            await self._watch(rid, proc)
        except asyncio.CancelledError:  # the worker is stopping: the child must not outlive the job
            await _terminate(proc)
            raise
        cancelled = self._cancelled
        await pumping
        code = proc.returncode
        report_path = report_dir / "report.json"
        report_json = report_path.read_text() if report_path.is_file() else None
        risk = json.loads(report_json).get("risk") if report_json else None
        status = status_for_exit(code, cancelled)
        reason = {"cancelled": "cancelled on request" if cancelled else "interrupted",
                  "error": f"rehearse exited with {code}"}.get(status)
        await asyncio.to_thread(self._event, rid, f"finished: {status} (exit {code})")
        return store.Outcome(status, code, reason, report_json, risk, data_rows[0] if data_rows else None)

    async def _watch(self, rid: int, proc: asyncio.subprocess.Process) -> None:
        self._cancelled = False
        while proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), timeout=CANCEL_POLL_S)
            except asyncio.TimeoutError:
                pass
            if proc.returncode is None and not self._cancelled and await asyncio.to_thread(self._cancel_requested, rid):
                self._cancelled = True
                await asyncio.to_thread(self._event, rid, "cancel requested: stopping the rehearsal")
                await _terminate(proc)

    def _set_child(self, rid: int, pid: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text("UPDATE rehearsals SET child_pid = :p WHERE id = :i"), {"p": pid, "i": rid})


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
        if lost:
            log.warning("workers lost: %s", ", ".join(lost))
    # The orphaned child got SIGTERM from the kernel, but a statement blocked in the server (a long
    # backfill) delays its handler until the statement ends. On the same machine, stop it now and
    # collect its staging, so nothing of a lost rehearsal outlives the reaping.
    here = socket.gethostname()
    if any(_kill_orphan(r.child_pid) for r in rows if r.child_pid and r.host == here):
        from ..api import gc
        gc(quiet=True)
    return [r.id for r in rows]


def _kill_orphan(pid: int) -> bool:
    """SIGKILL the process group of a lost rehearsal's child, if that pid is still a `rehearse run`."""
    try:
        args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return False
    if b"rehearse.cli" not in args or b"run" not in args:
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

    return app


async def _run_worker(db_url: str, stop: asyncio.Event) -> None:
    from ..api import gc
    store.migrate(db_url)
    await asyncio.to_thread(gc, quiet=True)  # staging left by this machine's dead runs
    worker = Worker(db_url)
    await asyncio.to_thread(worker.register)
    beats = asyncio.create_task(worker.heartbeat_loop())
    app = make_app(db_url, worker)
    try:
        async with app.open_async():
            work = asyncio.create_task(app.run_worker_async(queues=[store.QUEUE], concurrency=1,
                                                            install_signal_handlers=False, wait=True,
                                                            name=worker.id, listen_notify=True,
                                                            fetch_job_polling_interval=1.0))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
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


def run_worker(db_url: str) -> None:
    """Run one worker until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.WARNING, format="rehearse worker: %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await _run_worker(db_url, stop)

    asyncio.run(main())
