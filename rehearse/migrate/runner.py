"""Driving a project's own Alembic environment, one revision at a time, through the Python API.

The project's alembic.ini and env.py run unchanged: rehearse only sets ``sqlalchemy.url``
(and, with ``url_env``, an environment variable many env.py files read), keeping the
PostgreSQL driver the project already names there (``+asyncpg`` for an async env.py).
Whatever env.py configures itself (version table name and schema, version locations
set in code) is learnt by running env.py once with a work function that migrates
nothing. Each step is
exactly one revision in one direction: rehearse hands Alembic's ``EnvironmentContext`` a
work function returning a single ``RevisionStep``, so branches and merges are walked
precisely instead of relying on relative targets like ``-1``.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, RevisionStep
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine

from ..errors import BadInput
from ..model import StepResult
from ..urls import libpq_dsn, redact
from .trace import StepTracer, tracing


@dataclass(frozen=True)
class Revision:
    id: str
    message: str
    down_revisions: tuple[str, ...]
    file: str | None
    has_downgrade: bool


@dataclass(frozen=True)
class Plan:
    start: tuple[str, ...]  # current heads of the staging database (empty = base)
    target: tuple[str, ...]
    revisions: tuple[Revision, ...]  # in upgrade order


class AlembicProject:
    """A project's Alembic configuration pointed at one staging database."""

    def __init__(self, alembic_ini: Path, *, url: str, url_env: str | None = None,
                 version_table: str = "alembic_version", load_revisions: bool = True) -> None:
        """``load_revisions=False`` only checks the config: importing revision files runs project
        code, which may read ``url_env`` once at import (prefect's settings do), so that must
        happen only once the variable holds the staging URL."""
        ini = Path(alembic_ini)
        if not ini.is_file():
            raise BadInput(f"alembic.ini not found at {ini}",
                           hint="pass the project's config with --alembic-ini PATH")
        self.ini = ini.resolve()
        self.url = url
        self.url_env = url_env
        self.version_table = version_table
        self.version_table_schema: str | None = None
        self.config = Config(str(self.ini))
        self.env_url = _with_project_driver(url, self.config.get_main_option("sqlalchemy.url"),
                                            os.environ.get(url_env) if url_env else None)
        # configparser treats % as interpolation: escape it in passwords and socket paths
        self.config.set_main_option("sqlalchemy.url", self.env_url.replace("%", "%%"))
        self._worker_thread = False  # env.py must run in an AnyIO worker thread (prefect's does)
        self._probed = False
        try:
            self.script = ScriptDirectory.from_config(self.config)
            if load_revisions:
                with self._url_env():
                    self.script.revision_map.heads  # loads every revision file now, so errors surface here
        except CommandError as exc:
            raise BadInput(f"the Alembic project at {ini} cannot be loaded: {_one_line(exc)}",
                           hint="check script_location in alembic.ini") from None
        except Exception as exc:
            raise BadInput(f"a revision file of {ini} failed to import: {_one_line(exc)}",
                           hint="fix the revision file, then run again") from None

    # -- reading the graph -------------------------------------------------------------

    def revision(self, rev_id: str) -> Revision:
        script = self.script.get_revision(rev_id)
        return _describe(script)

    def current_heads(self) -> tuple[str, ...]:
        """The heads recorded in the database, read through the project's own env.py.

        env.py may name its own version table or schema, build its own engine, or need an
        event loop; running it with a work function that returns no step reads exactly
        what ``alembic current`` would, and tells rehearse which version table to follow.
        """
        seen: dict[str, Any] = {}

        def probe(heads, context):
            seen["heads"] = tuple(sorted(heads))
            seen["where"] = _identity(context.connection)
            self.version_table = context.version_table
            self.version_table_schema = context.version_table_schema
            return []

        with alembic_quiet():
            error = self._run_env(probe, destination_rev=None)
        if "heads" not in seen:
            # env.py did not reach run_migrations: fall back to the default version table
            engine = create_engine(self.url)
            try:
                with engine.connect() as conn:
                    ctx = MigrationContext.configure(conn, opts={"version_table": self.version_table})
                    return tuple(sorted(ctx.get_current_heads()))
            except Exception:
                raise BadInput(f"the project's env.py cannot run against the staging database: {error}",
                               hint="check how env.py finds its URL (--url-env NAME exports it)") from None
            finally:
                engine.dispose()
        self._check_same_database(seen.get("where"))
        self._probed = True
        return seen["heads"]

    def _check_same_database(self, env_side: tuple | None) -> None:
        """Refuse to go on when env.py connects somewhere else than the staging database.

        env.py may ignore sqlalchemy.url and read its own URL (an environment variable, a
        settings object that read one at import): then every "rehearsed" migration would run
        on that database, perhaps production. Compared before any revision runs.
        """
        if env_side is None:
            return
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                ours = _identity(conn)
        finally:
            engine.dispose()
        if ours is not None and ours != env_side:
            where = (f"database '{env_side[0]}'" if env_side[0] != ours[0] else
                     f"a database '{env_side[0]}' on another server (started {env_side[1]})")
            raise BadInput(
                f"the project's env.py connects to {where}, not to the staging database rehearse "
                f"prepared; no migration was run",
                hint="env.py reads its URL from somewhere else: pass --url-env NAME with the environment "
                     "variable it reads (rehearse sets it to the staging URL)")

    def _run_env(self, fn, *, destination_rev: str | None) -> str | None:
        """Run env.py once with ``fn`` as its work function; the error as one line, or None."""
        def run() -> None:
            with EnvironmentContext(self.config, self.script, fn=fn, destination_rev=destination_rev):
                self.script.run_env()

        with self._url_env():
            try:
                _in_anyio_worker(run) if self._worker_thread else run()
            except Exception as exc:
                if not self._worker_thread and _needs_anyio_worker(exc):
                    # env.py calls anyio.from_thread (prefect's run_async_from_worker_thread):
                    # its own command runs it from an event loop's worker thread; do the same
                    self._worker_thread = True
                    return self._run_env(fn, destination_rev=destination_rev)
                return _one_line(exc)
        return None

    def plan(self, target: str | None, start: Sequence[str] | None = None) -> Plan:
        """The revisions between the database's current heads and ``target``, in upgrade order."""
        current = tuple(start) if start is not None else self.current_heads()
        for rev in current:
            if not self._known(rev):
                raise BadInput(f"the staging database is at revision {rev}, which this Alembic "
                               f"project does not know",
                               hint="the snapshot belongs to another project or branch; check --alembic-ini")
        target = target or "heads"
        try:
            targets = self.script.revision_map.get_revisions(target)
        except Exception as exc:
            raise BadInput(f"unknown revision '{target}': {_one_line(exc)}",
                           hint="list revisions with `alembic history`; use a revision id, 'head' or 'heads'"
                           ) from None
        target_ids = tuple(sorted(r.revision for r in targets if r is not None))
        try:
            upgrade_order = list(reversed(list(
                self.script.revision_map.iterate_revisions(target_ids or "heads", current or (),
                                                           implicit_base=True, inclusive=False))))
        except Exception as exc:
            raise BadInput(f"cannot plan an upgrade from {_fmt(current)} to {target}: {_one_line(exc)}",
                           hint="--to must be a descendant of the snapshot's revision") from None
        applied = set(current)
        for head in current:
            applied |= {r.revision for r in self.script.revision_map.iterate_revisions(head, "base")}
        todo = tuple(_describe(s) for s in upgrade_order if s.revision not in applied)
        return Plan(start=current, target=target_ids, revisions=todo)

    def known(self, rev: str) -> bool:
        """Whether ``rev`` names a revision of this project."""
        try:
            return self.script.get_revision(rev) is not None
        except Exception:
            return False

    _known = known

    def stamp(self, heads: Sequence[str]) -> None:
        """Record ``heads`` in the version table without running any migration."""
        engine = create_engine(self.url)
        try:
            with alembic_quiet(), engine.begin() as conn:
                ctx = MigrationContext.configure(conn, opts={
                    "version_table": self.version_table, "version_table_schema": self.version_table_schema})
                ctx.stamp(self.script, tuple(sorted(heads)) or "base")
        finally:
            engine.dispose()

    # -- running one step --------------------------------------------------------------

    def step(self, rev_id: str, *, upgrade: bool,
             preflight: Callable[[str, Any], dict] | None = None,
             on_connect: Callable[[int], None] | None = None,
             on_statement: Callable[[str], None] | None = None) -> tuple[StepResult, StepTracer]:
        """Run exactly one revision up or down, traced; never raises for a migration's own failure."""
        script = self.script.get_revision(rev_id)
        if not self._probed:
            self.current_heads()  # learns the version table and how env.py must be run
        tracer = StepTracer(revision_file=str(Path(script.path).resolve()) if script.path else None,
                            version_table=self.version_table, preflight=preflight, on_backend=on_connect,
                            on_statement=on_statement, dsn=self._lock_watch_dsn())

        def work(heads, context):
            tracer.start()  # in the thread env.py runs migrations in (a worker thread for some)
            if upgrade:
                return [RevisionStep(self.script.revision_map, script, True)]
            if not hasattr(script.module, "downgrade"):
                raise _MissingDowngrade(rev_id)
            return [RevisionStep(self.script.revision_map, script, False)]

        started = time.perf_counter()
        error = None
        with tracing(tracer), alembic_quiet():
            try:
                # the migration's own failure is a finding, not a crash
                error = self._run_env(work, destination_rev=rev_id if upgrade else None)
            finally:
                tracer.recording = False
            if error is not None and error.startswith(_MissingDowngrade.__name__):
                error = f"revision {rev_id} has no downgrade() function"
        duration = time.perf_counter() - started
        statements = tracer.finish()
        failed = next((s for s in statements if not s.ok), None)
        if error is None and failed is not None:
            error = failed.error
        return StepResult(ok=error is None, duration_s=round(duration, 6), statements=statements,
                          error=redact(error) if error else None,
                          failed_statement=failed.sql if failed is not None else None), tracer

    def _lock_watch_dsn(self) -> str | None:
        try:
            return libpq_dsn(self.url)
        except Exception:  # an URL rehearse cannot turn into a DSN: no outside lock watching
            return None

    @contextmanager
    def _url_env(self) -> Iterator[None]:
        if not self.url_env:
            yield
            return
        old = os.environ.get(self.url_env)
        os.environ[self.url_env] = self.env_url
        try:
            yield
        finally:
            if old is None:
                os.environ.pop(self.url_env, None)
            else:
                os.environ[self.url_env] = old


@contextmanager
def alembic_quiet() -> Iterator[None]:
    """env.py re-applies the ini's logging config on every step; keep its INFO lines off the terminal."""
    import logging
    previous = logging.root.manager.disable
    if os.environ.get("REHEARSE_VERBOSE"):
        yield
        return
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)


class _MissingDowngrade(Exception):
    def __str__(self) -> str:
        return f"{type(self).__name__}: {self.args[0]}"


def _with_project_driver(url: str, *candidates: str | None) -> str:
    """``url`` with the PostgreSQL driver the project names in its own URL (ini or env var).

    rehearse's URLs say ``postgresql+psycopg2``; an async env.py needs ``+asyncpg``, and a
    project on psycopg 3 may rely on its behaviour. Non-PostgreSQL URLs (the sqlite
    placeholder some projects ship) are ignored.
    """
    from sqlalchemy.engine import make_url
    for candidate in candidates:
        if not candidate or "%(" in candidate:
            continue
        try:
            driver = make_url(candidate.strip()).drivername
        except Exception:
            continue
        if driver.split("+", 1)[0] in ("postgresql", "postgres") and "+" in driver:
            return make_url(url).set(drivername="postgresql+" + driver.split("+", 1)[1]).render_as_string(
                hide_password=False)
    return url


def _identity(connection) -> tuple | None:
    """Which database a connection is on: its name and its server's start time (unique enough to
    tell a throwaway cluster or a scratch database from the source)."""
    from sqlalchemy import text
    try:
        return tuple(connection.execute(text(
            "SELECT current_database(), pg_postmaster_start_time()::text")).one())
    except Exception:
        return None


def _needs_anyio_worker(exc: BaseException) -> bool:
    return type(exc).__name__ == "NoEventLoopError" or "AnyIO worker thread" in str(exc)


def _in_anyio_worker(fn: Callable[[], None]) -> None:
    """Run ``fn`` in a worker thread of an AnyIO event loop, as prefect's own commands do."""
    import anyio
    import anyio.to_thread

    async def main() -> None:
        await anyio.to_thread.run_sync(fn)

    anyio.run(main)


def _describe(script: Script) -> Revision:
    return Revision(
        id=script.revision,
        message=(script.doc or "").strip().splitlines()[0] if script.doc else "",
        down_revisions=tuple(script._normalized_down_revisions),
        file=str(script.path) if script.path else None,
        has_downgrade=hasattr(script.module, "downgrade"),
    )


def _fmt(revs: Sequence[str]) -> str:
    return ", ".join(revs) if revs else "base"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    orig = getattr(exc, "orig", None)
    if orig is not None and str(orig).strip():
        first = str(orig).strip().splitlines()[0]
    return redact(first)
