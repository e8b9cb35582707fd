"""Driving a project's own Alembic environment, one revision at a time, through the Python API.

The project's alembic.ini and env.py run unchanged: rehearse only sets ``sqlalchemy.url``
(and, with ``url_env``, an environment variable many env.py files read). Each step is
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
from ..urls import redact
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
                 version_table: str = "alembic_version") -> None:
        ini = Path(alembic_ini)
        if not ini.is_file():
            raise BadInput(f"alembic.ini not found at {ini}",
                           hint="pass the project's config with --alembic-ini PATH")
        self.ini = ini.resolve()
        self.url = url
        self.url_env = url_env
        self.version_table = version_table
        self.config = Config(str(self.ini))
        # configparser treats % as interpolation: escape it in passwords and socket paths
        self.config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        try:
            self.script = ScriptDirectory.from_config(self.config)
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
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                ctx = MigrationContext.configure(conn, opts={"version_table": self.version_table})
                return tuple(sorted(ctx.get_current_heads()))
        finally:
            engine.dispose()

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

    def _known(self, rev: str) -> bool:
        try:
            return self.script.get_revision(rev) is not None
        except Exception:
            return False

    # -- running one step --------------------------------------------------------------

    def step(self, rev_id: str, *, upgrade: bool,
             preflight: Callable[[str, Any], dict] | None = None,
             on_connect: Callable[[int], None] | None = None,
             on_statement: Callable[[str], None] | None = None) -> tuple[StepResult, StepTracer]:
        """Run exactly one revision up or down, traced; never raises for a migration's own failure."""
        script = self.script.get_revision(rev_id)
        tracer = StepTracer(revision_file=str(Path(script.path).resolve()) if script.path else None,
                            version_table=self.version_table, preflight=preflight, on_backend=on_connect,
                            on_statement=on_statement)

        def work(heads, context):
            tracer.recording = True
            if upgrade:
                return [RevisionStep(self.script.revision_map, script, True)]
            if not hasattr(script.module, "downgrade"):
                raise _MissingDowngrade(rev_id)
            return [RevisionStep(self.script.revision_map, script, False)]

        started = time.perf_counter()
        error = None
        with self._url_env(), tracing(tracer), _alembic_quiet():
            try:
                with EnvironmentContext(self.config, self.script, fn=work,
                                        destination_rev=rev_id if upgrade else None):
                    self.script.run_env()
            except _MissingDowngrade:
                error = f"revision {rev_id} has no downgrade() function"
            except Exception as exc:  # the migration's own failure is a finding, not a crash
                error = _one_line(exc)
            finally:
                tracer.recording = False
        duration = time.perf_counter() - started
        statements = tracer.finish()
        failed = next((s for s in statements if not s.ok), None)
        if error is None and failed is not None:
            error = failed.error
        return StepResult(ok=error is None, duration_s=round(duration, 6), statements=statements,
                          error=redact(error) if error else None,
                          failed_statement=failed.sql if failed is not None else None), tracer

    @contextmanager
    def _url_env(self) -> Iterator[None]:
        if not self.url_env:
            yield
            return
        old = os.environ.get(self.url_env)
        os.environ[self.url_env] = self.url
        try:
            yield
        finally:
            if old is None:
                os.environ.pop(self.url_env, None)
            else:
                os.environ[self.url_env] = old


@contextmanager
def _alembic_quiet() -> Iterator[None]:
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
    pass


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
