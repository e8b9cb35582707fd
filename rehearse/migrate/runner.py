"""Driving a project's own Alembic environment, one revision at a time, in the project's own Python.

The revision files and env.py run in a child process started with the project's interpreter
(``--python``, else a ``.venv``/``venv`` next to alembic.ini or in a parent folder up to the
project root, else rehearse's own), so the project's pins (SQLAlchemy 1.4, an old Alembic, its
driver) never have to fit rehearse's dependencies. The child is ``child.py`` run as a script:
it imports nothing of rehearse. :class:`AlembicProject` talks to it over a pipe of JSON lines
and keeps what rehearse needs on this side: the revision graph as plain data (planned here with
Alembic's ``RevisionMap``), the probes (pglast), the lock watcher and the traffic hooks.

The project's alembic.ini and env.py run unchanged: rehearse only sets ``sqlalchemy.url``
(and, with ``url_env``, an environment variable many env.py files read), keeping the
PostgreSQL driver the project already names there. Each step is exactly one revision in one
direction (a single ``RevisionStep``), so branches and merges are walked precisely.

Stopping: :meth:`AlembicProject.close` (also on Ctrl-C or SIGTERM while a statement runs)
cancels the migration's backend, terminates it if it does not stop, and ends the child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import BadInput, InfrastructureError
from ..model import GraphRevision, ProjectGraph, StepResult
from ..urls import libpq_dsn, redact
from .trace import StepTrace, _LockSampler, statements_from_child

CHILD = Path(__file__).with_name("child.py")
Revision = GraphRevision  # the name the pipeline plans with

# folders that mark a project's root: the search for its virtualenv stops there
_ROOT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg")
_CANCEL_GRACE_S = 0.5  # after pg_cancel_backend, before pg_terminate_backend
_CHILD_GRACE_S = 1.0  # after SIGTERM to the child, before SIGKILL


@dataclass(frozen=True)
class Plan:
    start: tuple[str, ...]  # current heads of the staging database (empty = base)
    target: tuple[str, ...]
    revisions: tuple[Revision, ...]  # in upgrade order


def find_python(alembic_ini: Path, python: str | os.PathLike | None = None) -> str:
    """The interpreter that runs the project's migrations.

    ``python`` when given; else ``.venv/bin/python`` or ``venv/bin/python`` in the folder of
    alembic.ini or a parent of it, up to the project's root; else rehearse's own interpreter.
    """
    if python is not None:
        path = Path(python).expanduser()
        if path.is_dir():  # a virtualenv folder: its interpreter
            path = path / "bin" / "python"
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BadInput(f"--python {python} is not an executable Python interpreter",
                           hint="give the project's interpreter, e.g. --python /path/to/venv/bin/python")
        return str(path)
    folder = Path(alembic_ini).resolve().parent
    for candidate in (folder, *folder.parents):
        for name in (".venv", "venv"):
            exe = candidate / name / "bin" / "python"
            if exe.is_file() and os.access(exe, os.X_OK):
                return str(exe)
        if any((candidate / marker).exists() for marker in _ROOT_MARKERS):
            break
    return sys.executable


def check_project(alembic_ini: Path, python: str | os.PathLike | None = None) -> str:
    """Cheap checks before any database work: the config exists and names a script folder, the
    interpreter exists. Returns the interpreter. Nothing of the project is imported here."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    ini = Path(alembic_ini)
    if not ini.is_file():
        raise BadInput(f"alembic.ini not found at {ini}", hint="pass the project's config with --alembic-ini PATH")
    config = Config(str(ini))
    if not config.get_main_option("script_location") and (ini.parent / "env.py").is_file():
        # Flask-Migrate's alembic.ini names no script_location: `flask db` passes its folder
        config.set_main_option("script_location", str(ini.parent.resolve()))
    try:
        ScriptDirectory.from_config(config)
    except CommandError as exc:
        raise BadInput(f"the Alembic project at {ini} cannot be loaded: {_one_line(exc)}",
                       hint="check script_location in alembic.ini") from None
    return find_python(ini, python)


class AlembicProject:
    """A project's Alembic configuration pointed at one staging database, run in a child process.

    A context manager: the child always ends (and its running statement is cancelled) on exit.
    """

    def __init__(self, alembic_ini: Path, *, url: str, url_env: str | None = None,
                 python: str | os.PathLike | None = None, flask_app: str | None = None,
                 statement_timeout_s: float | None = None) -> None:
        self.ini = Path(alembic_ini).resolve()
        self.python = check_project(alembic_ini, python)
        self.url = url
        self.url_env = url_env
        self.statement_timeout_s = statement_timeout_s
        self.version_table = "alembic_version"
        self.version_table_schema: str | None = None
        self.backend_pid: int | None = None  # the migration's backend during a step
        self.current_statement: str | None = None
        self._probed = False
        self._samplers: dict[int, _LockSampler] = {}
        self._hooks: dict[str, Callable] = {}
        self._busy = False
        self._start_child()
        try:
            described = self._call("init", ini=str(self.ini), url=url, url_env=url_env, flask_app=flask_app,
                                   statement_timeout_ms=int(statement_timeout_s * 1000)
                                   if statement_timeout_s else None)
            if "error" in described:
                where = f" ({described['where']})" if described.get("where") else ""
                if described.get("kind") == "CommandError":
                    raise BadInput(f"the Alembic project at {self.ini} cannot be loaded: "
                                   f"{redact(described['error'])}", hint="check script_location in alembic.ini")
                raise BadInput(f"the project's Alembic environment failed to load in {self.python}: "
                               f"{redact(described['error'])}{where}",
                               hint="fix the revision file, or run it in the project's interpreter with "
                                    "--python /path/to/venv/bin/python")
            self.env_url = described["env_url"]
            self.graph = ProjectGraph(
                revisions=tuple(GraphRevision(
                    id=r["id"], message=r["message"], down_revisions=tuple(r["down_revisions"]), file=r["file"],
                    has_downgrade=r["has_downgrade"], dependencies=tuple(r["dependencies"]),
                    branch_labels=tuple(r["branch_labels"])) for r in described["revisions"]),
                version_locations=tuple(described["version_locations"]), recursive=described["recursive"])
            self._map = _revision_map(self.graph)
        except BaseException:
            self.close()
            raise

    # -- the child ------------------------------------------------------------------------

    def _start_child(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        self._log = tempfile.TemporaryFile(prefix="rehearse-child-")
        verbose = bool(os.environ.get("REHEARSE_VERBOSE"))
        try:
            # its own session: a Ctrl-C at the terminal reaches rehearse only, which then stops the
            # child in order (cancel the statement first) instead of both racing
            self._proc = subprocess.Popen(
                [self.python, str(CHILD), str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL,
                stdout=None if verbose else self._log, stderr=None if verbose else self._log,
                cwd=str(self.ini.parent), start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
        except OSError as exc:
            for fd in (to_child_r, to_child_w, from_child_r, from_child_w):
                os.close(fd)
            raise BadInput(f"cannot start {self.python}: {exc.strerror}",
                           hint="give the project's interpreter with --python /path/to/venv/bin/python") from None
        os.close(to_child_r)
        os.close(from_child_w)
        self._to = os.fdopen(to_child_w, "w", encoding="utf-8")
        self._from = os.fdopen(from_child_r, "r", encoding="utf-8")
        hello = self._read()
        if hello.get("fatal") == "import":
            self.close()
            raise BadInput(f"{self.python} cannot run the project's migrations: {hello['message']}",
                           hint="run rehearse with the project's interpreter: --python /path/to/venv/bin/python")
        self.child_versions = hello.get("versions", {})

    def _send(self, message: dict) -> None:
        try:
            self._to.write(json.dumps(message, default=str) + "\n")
            self._to.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise self._died() from None

    def _read(self) -> dict:
        line = self._from.readline()
        if not line:
            raise self._died()
        return json.loads(line)

    def _died(self) -> Exception:
        code = self._proc.poll()
        if code is None:
            try:
                code = self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = "still running"
        return InfrastructureError(f"the migration process ({self.python}) ended unexpectedly (exit {code}): "
                                   f"{self._log_tail()}",
                                   hint="set REHEARSE_VERBOSE=1 to see its output")

    def _log_tail(self) -> str:
        try:
            self._log.seek(0)
            lines = [ln for ln in self._log.read().decode("utf-8", "replace").splitlines() if ln.strip()]
            return redact(lines[-1].strip()) if lines else "no output"
        except Exception:
            return "no output"

    def _call(self, op: str, **payload: Any) -> dict:
        """One request; serves the child's own requests (probes, lock watching, traffic) until the reply."""
        self._busy = True  # stays set when interrupted: close() must then cancel, not wait for a goodbye
        self._send({"op": op, **payload})
        while True:
            message = self._read()
            if "reply" in message:
                self._busy = False
                return message["reply"]
            if "event" in message:
                self._on_event(message)
            elif "request" in message:
                self._send({"reply": self._serve(message)})

    def _on_event(self, message: dict) -> None:
        if message["event"] == "backend":
            self.backend_pid = int(message["pid"])
            hook = self._hooks.get("on_connect")
            if hook is not None:
                hook(self.backend_pid)
        elif message["event"] == "statement_start":
            self.current_statement = message["sql"]

    def _serve(self, message: dict) -> Any:
        kind = message["request"]
        if kind == "preflight":
            preflight = self._hooks.get("preflight")
            if preflight is None:
                return {}
            try:
                return dict(preflight(message["sql"], _ChildCursor(self)) or {})
            except Exception as exc:  # a probe must never break the migration
                return {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
        if kind == "sample_start":
            dsn = self._lock_watch_dsn()
            if dsn is None:
                return None
            sampler = _LockSampler(dsn, int(message["pid"]), set(message["preexisting"]),
                                   message["version_table"]).start()
            self._samplers[id(sampler)] = sampler
            return id(sampler)
        if kind == "sample_stop":
            sampler = self._samplers.pop(message["id"], None)
            return [list(item) for item in sampler.stop()] if sampler is not None else []
        if kind == "statement":
            hook = self._hooks.get("on_statement")
            if hook is not None:
                hook(message["sql"])
            return None
        return None

    def _exec(self, sql: str, fetch: bool = True) -> Any:
        """Run SQL on the migration's connection, in the child (only while it waits on a probe)."""
        self._send({"exec": sql, "fetch": fetch})
        while True:
            message = self._read()
            if "result" in message or "error" in message:
                if "error" in message:
                    raise _ChildSQLError(message["error"])
                return message["result"]
            if "event" in message:
                self._on_event(message)

    def close(self) -> None:
        """End the child; a statement still running is cancelled, then its backend terminated."""
        proc = getattr(self, "_proc", None)
        if proc is None:
            return
        self._proc = None
        if proc.poll() is None and not self._busy:
            try:  # a clean goodbye when idle
                self._to.write(json.dumps({"op": "shutdown"}) + "\n")
                self._to.flush()
                proc.wait(timeout=_CHILD_GRACE_S)
            except Exception:
                pass
        if proc.poll() is None:
            self._stop_backend()
            proc.terminate()
            try:
                proc.wait(timeout=_CHILD_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for sampler in self._samplers.values():
            sampler.stop()
        self._samplers.clear()
        for fh in (getattr(self, "_to", None), getattr(self, "_from", None), getattr(self, "_log", None)):
            try:
                if fh is not None:
                    fh.close()
            except Exception:
                pass

    def _stop_backend(self) -> None:
        """Cancel the migration's running statement, then terminate its backend if it lingers."""
        pid = self.backend_pid
        dsn = self._lock_watch_dsn()
        if pid is None or dsn is None:
            return
        import psycopg2
        try:
            conn = psycopg2.connect(dsn, application_name="rehearse stop", connect_timeout=2)
        except Exception:
            return  # staging is gone already: so is the backend
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT pg_cancel_backend(%s)", (pid,))
                deadline = time.monotonic() + _CANCEL_GRACE_S
                while time.monotonic() < deadline:
                    cur.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,))
                    row = cur.fetchone()
                    if row is None or row[0] != "active":
                        break
                    time.sleep(0.05)
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = %s", (pid,))
        except Exception:
            pass
        finally:
            conn.close()

    def __enter__(self) -> "AlembicProject":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading the graph -------------------------------------------------------------

    def revision(self, rev_id: str) -> Revision:
        rev = self.graph.revision(rev_id)
        if rev is None:
            raise BadInput(f"unknown revision '{rev_id}'", hint="list revisions with `alembic history`")
        return rev

    def current_heads(self) -> tuple[str, ...]:
        """The heads recorded in the database, read through the project's own env.py.

        env.py may name its own version table or schema, build its own engine, or need an
        event loop; running it with a work function that returns no step reads exactly
        what ``alembic current`` would, and tells rehearse which version table to follow.
        """
        answer = self._call("heads")
        if "error" in answer:
            raise BadInput(redact(answer["error"]),
                           hint="check how env.py finds its URL (--url-env NAME exports it)")
        self.version_table = answer["version_table"]
        self.version_table_schema = answer["version_table_schema"]
        self._check_same_database(tuple(answer["where"]) if answer.get("where") else None)
        self._probed = True
        return tuple(answer["heads"])

    def _check_same_database(self, env_side: tuple | None) -> None:
        """Refuse to go on when env.py connects somewhere else than the staging database.

        env.py may ignore sqlalchemy.url and read its own URL (an environment variable, a
        settings object that read one at import, a Flask app's config): then every "rehearsed"
        migration would run on that database, perhaps production. Compared before any revision runs.
        """
        if env_side is None:
            return
        import psycopg2
        try:
            conn = psycopg2.connect(libpq_dsn(self.url))
        except Exception:
            return
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT current_database(), pg_postmaster_start_time()::text")
                ours = tuple(cur.fetchone())
        finally:
            conn.close()
        if ours != env_side:
            where = (f"database '{env_side[0]}'" if env_side[0] != ours[0] else
                     f"a database '{env_side[0]}' on another server (started {env_side[1]})")
            raise BadInput(
                f"the project's env.py connects to {where}, not to the staging database rehearse "
                f"prepared; no migration was run",
                hint="env.py reads its URL from somewhere else: pass --url-env NAME with the environment "
                     "variable it reads (rehearse sets it to the staging URL)")

    def plan(self, target: str | None, start: Sequence[str] | None = None) -> Plan:
        """The revisions between the database's current heads and ``target``, in upgrade order."""
        current = tuple(start) if start is not None else self.current_heads()
        for rev in current:
            if not self.known(rev):
                raise BadInput(f"the staging database is at revision {rev}, which this Alembic "
                               f"project does not know",
                               hint="the snapshot belongs to another project or branch; check --alembic-ini")
        target = target or "heads"
        try:
            targets = self._map.get_revisions(target)
        except Exception as exc:
            raise BadInput(f"unknown revision '{target}': {_one_line(exc)}",
                           hint="list revisions with `alembic history`; use a revision id, 'head' or 'heads'"
                           ) from None
        target_ids = tuple(sorted(r.revision for r in targets if r is not None))
        try:
            upgrade_order = list(reversed(list(
                self._map.iterate_revisions(target_ids or "heads", current or (), implicit_base=True,
                                            inclusive=False))))
        except Exception as exc:
            raise BadInput(f"cannot plan an upgrade from {_fmt(current)} to {target}: {_one_line(exc)}",
                           hint="--to must be a descendant of the snapshot's revision") from None
        applied = set(current)
        for head in current:
            applied |= {r.revision for r in self._map.iterate_revisions(head, "base")}
        todo = tuple(self.revision(s.revision) for s in upgrade_order if s.revision not in applied)
        return Plan(start=current, target=target_ids, revisions=todo)

    def known(self, rev: str) -> bool:
        try:
            return self._map.get_revision(rev) is not None
        except Exception:
            return False

    _known = known

    # -- running one step --------------------------------------------------------------

    def step(self, rev_id: str, *, upgrade: bool,
             preflight: Callable[[str, Any], dict] | None = None,
             on_connect: Callable[[int], None] | None = None,
             on_statement: Callable[[str], None] | None = None) -> tuple[StepResult, StepTrace]:
        """Run exactly one revision up or down, traced; never raises for a migration's own failure."""
        if not self._probed:
            self.current_heads()  # learns the version table, and refuses a foreign database
        self._hooks = {"preflight": preflight, "on_connect": on_connect, "on_statement": on_statement}
        self.backend_pid = None
        try:
            answer = self._call("step", rev=rev_id, upgrade=upgrade, preflight=preflight is not None,
                                traffic=on_statement is not None)
        finally:
            self._hooks = {}
        if "statements" not in answer:  # rehearse's own side failed in the child
            raise InfrastructureError(f"the migration process failed to run revision {rev_id}: "
                                      f"{redact(answer.get('error') or 'no answer')}",
                                      hint="set REHEARSE_VERBOSE=1 and report it")
        statements = statements_from_child(answer["statements"])
        failed = next((s for s in statements if not s.ok), None)
        error = answer.get("error")
        if error is None and failed is not None:
            error = failed.error
        timed_out = next((s for s in answer["statements"] if s.get("timed_out")), None)
        if timed_out is not None and self.statement_timeout_s:
            error = (f"statement ran longer than --statement-timeout {_seconds(self.statement_timeout_s)} "
                     f"and was cancelled: {_shorten(timed_out['sql'])}")
        return StepResult(ok=error is None, duration_s=answer["duration_s"], statements=statements,
                          error=redact(error) if error else None,
                          failed_statement=failed.sql if failed is not None else None), StepTrace(statements)

    def stamp(self, heads: Sequence[str]) -> None:
        """Record ``heads`` in the project's version table without running any migration."""
        answer = self._call("stamp", heads=sorted(heads))
        if "error" in answer:
            raise InfrastructureError(f"could not stamp {_fmt(tuple(heads))}: {redact(answer['error'])}")

    def _lock_watch_dsn(self) -> str | None:
        try:
            return libpq_dsn(self.url)
        except Exception:  # an URL rehearse cannot turn into a DSN: no outside lock watching
            return None


class _ChildSQLError(Exception):
    pass


class _ChildCursor:
    """A DB-API-like cursor whose statements run in the child, on the migration's own connection.

    The probes are planned here (pglast) and only their plain SQL crosses the pipe. Parameters
    are rendered as literals here (psycopg2's quoting), so the child needs no paramstyle of its
    driver.
    """

    def __init__(self, project: AlembicProject) -> None:
        self._project = project
        self._rows: list[list] = []
        self.connection = self

    def get_transaction_status(self) -> int:
        return int(self._project._exec("status"))

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        if params is not None:
            from psycopg2.extensions import adapt
            sql = sql % tuple(adapt(p).getquoted().decode() for p in params)
        rows = self._project._exec(sql)
        self._rows = [list(r) for r in rows or ()]

    def fetchone(self):
        return tuple(self._rows.pop(0)) if self._rows else None

    def fetchall(self):
        rows, self._rows = self._rows, []
        return [tuple(r) for r in rows]

    def close(self) -> None:
        pass

    def __enter__(self) -> "_ChildCursor":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _revision_map(graph: ProjectGraph):
    """Alembic's own RevisionMap over the child's plain graph: planning here, no project code."""
    from alembic.script.revision import Revision as MapRevision
    from alembic.script.revision import RevisionMap

    def load():
        for r in graph.revisions:
            down = r.down_revisions[0] if len(r.down_revisions) == 1 else (r.down_revisions or None)
            yield MapRevision(r.id, down, dependencies=r.dependencies or None,
                              branch_labels=set(r.branch_labels) or None)

    return RevisionMap(load)


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _shorten(sql: str, limit: int = 120) -> str:
    one = " ".join(sql.split())
    return one if len(one) <= limit else one[: limit - 4].rstrip() + " ..."


def _fmt(revs: Sequence[str]) -> str:
    return ", ".join(revs) if revs else "base"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    orig = getattr(exc, "orig", None)
    if orig is not None and str(orig).strip():
        first = str(orig).strip().splitlines()[0]
    return redact(first)
