"""The user actions behind `rehearse fix` and `run --suggest-rewrites`: plan a rewrite of one
revision, render it, prove it on a snapshot, and decide whether it is suggested."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import BadInput
from ..model import Finding, RewriteResult, Snapshot
from .codegen import RevisionFile, render_files
from .plan import RewritePlan, plan_rewrite

# a rewrite must hold its worst blocking lock for less time than the original; for
# lock_timeout alone (which bounds the wait, not the hold) "no longer" with this slack
_RETRY_SLACK = (1.5, 0.05)


@dataclass(frozen=True)
class Rewrite:
    revision: str
    original_file: Path
    down_revision: str | tuple[str, ...] | None
    plan: RewritePlan
    files: tuple[RevisionFile, ...]
    diff: str


def _script(alembic_ini: Path, revision: str):
    """The revision's Alembic Script, read in this process (as `rehearse lint` reads it)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    try:
        script = ScriptDirectory.from_config(Config(str(alembic_ini))).get_revision(revision)
    except Exception:
        script = None
    if script is None:
        raise BadInput(f"revision {revision} is not in {alembic_ini}",
                       hint="give a revision id from `alembic history` (a unique prefix is fine)")
    return script


def _offline(alembic_ini: Path, script) -> tuple[list[str], list[Finding]]:
    """The statements the revision would run and the static findings on them (no database)."""
    from ..checks.lint import _is_alembic_bookkeeping, lint_offline_sql, render_offline_sql
    from ..checks.sqltools import parse
    down = script.down_revision
    if isinstance(down, (tuple, list)):
        raise BadInput(f"revision {script.revision} is a merge point", hint="rewrite the revisions it merges")
    sql = render_offline_sql(alembic_ini, f"{down or 'base'}:{script.revision}")
    statements = [s.sql for s in parse(sql) if s.kind != "TransactionStmt" and not _is_alembic_bookkeeping(s)]
    findings = [f for f in lint_offline_sql(sql) if f.revision in (None, script.revision)]
    return statements, [f for f in findings if f.revision == script.revision]


def _patch(original: Path, files: Sequence[RevisionFile], root: Path) -> str:
    try:
        name = original.resolve().relative_to(root.resolve())
    except ValueError:
        name = original
    old = original.read_text().splitlines(keepends=True)
    out: list[str] = []
    same = len(files) == 1 and files[0].filename == original.name
    if same:
        out += difflib.unified_diff(old, files[0].text.splitlines(keepends=True), f"a/{name}", f"b/{name}")
        return "".join(out)
    out += difflib.unified_diff(old, [], f"a/{name}", "/dev/null")
    for f in files:
        new_name = Path(name).parent / f.filename
        out += difflib.unified_diff([], f.text.splitlines(keepends=True), "/dev/null", f"b/{new_name}")
    return "".join(out)


def plan_fix(alembic_ini: Path, revision: str, *, statements: Sequence[str] | None = None,
             findings: Sequence[Finding] | None = None) -> Rewrite | None:
    """The rewrite of ``revision`` (from traced statements and findings when given, else from
    Alembic's offline SQL and the static rules), or None when nothing has a safe pattern."""
    script = _script(alembic_ini, revision)
    if statements is None or findings is None:
        statements, findings = _offline(alembic_ini, script)
    plan = plan_rewrite(script.revision, statements, findings)
    if plan is None:
        return None
    message = (script.doc or script.revision).strip().splitlines()[0]
    files = tuple(render_files(plan, revision=script.revision, down_revision=script.down_revision,
                               message=message, original_file=script.path))
    original = Path(script.path)
    return Rewrite(script.revision, original, script.down_revision, plan, files,
                   _patch(original, files, Path(alembic_ini).parent))


def write_fix(rewrite: Rewrite, *, keep_original: bool = False) -> list[Path]:
    """Write the rewritten file(s) next to the original, which is removed (kept as
    ``<name>.py.orig``, which Alembic does not load, with ``keep_original``). The last file
    keeps the original revision id, so later revisions still chain onto it."""
    folder = rewrite.original_file.parent
    text = rewrite.original_file.read_text()
    if keep_original:
        (folder / f"{rewrite.original_file.name}.orig").write_text(text)
    rewrite.original_file.unlink()
    written = []
    for f in rewrite.files:
        path = folder / f.filename
        path.write_text(f.text)
        written.append(path)
    return written


def unproven(rewrite: Rewrite, reason: str) -> RewriteResult:
    return RewriteResult(rewrite.revision, rewrite.plan.patterns, rewrite.plan.codes, suggested=False,
                         reason=reason, releases=len(rewrite.files), diff=rewrite.diff, notes=rewrite.plan.notes)


def prove(rewrite: Rewrite, alembic_ini: Path, snapshot: Snapshot, *, staging: str = "local",
          traffic: bool = False, traffic_rate: float = 20.0,
          say: Callable[[str], None] = lambda _: None) -> RewriteResult:
    """Rehearse original and rewrite on the same data; suggest the rewrite only when it ends in
    the same schema and data, its downgrade works, and it holds blocking locks for less time."""
    from .compare import differences, project_copy, rehearse_side

    common = dict(staging=staging, traffic=traffic, traffic_rate=traffic_rate, say=say)
    say(f"rehearsing revision {rewrite.revision} as it is")
    original = rehearse_side(snapshot, alembic_ini, rewrite.down_revision, [rewrite.revision], **common)
    with project_copy(alembic_ini, rewrite.original_file, [(f.filename, f.text) for f in rewrite.files]) as ini:
        say(f"rehearsing the rewrite of {rewrite.revision} ({', '.join(rewrite.plan.patterns)})")
        rewritten = rehearse_side(snapshot, ini, rewrite.down_revision, [f.revision for f in rewrite.files],
                                  downgrade=True, **common)
    result = dict(revision=rewrite.revision, patterns=rewrite.plan.patterns, codes=rewrite.plan.codes,
                  releases=len(rewrite.files), diff=rewrite.diff, original=original.side,
                  rewritten=rewritten.side, notes=rewrite.plan.notes)
    if not original.side.ok:
        return RewriteResult(suggested=False, reason=f"the original revision failed on the rehearsal "
                             f"({original.side.error}): nothing to compare with", **result)
    if not rewritten.side.ok:
        return RewriteResult(suggested=False, reason=f"the rewrite failed on the rehearsal: {rewritten.side.error}",
                             **result)
    schema_diff, data_diff = differences(original, rewritten)
    result.update(schema_equal=not schema_diff, data_equal=not data_diff,
                  differences=tuple(schema_diff + data_diff))
    if schema_diff or data_diff:
        return RewriteResult(suggested=False, reason=f"the rewrite does not end in the same "
                             f"{'schema' if schema_diff else 'data'}: {(schema_diff or data_diff)[0]}", **result)
    if rewritten.rollback_ok is False:
        return RewriteResult(suggested=False, reason=f"the rewrite's downgrade failed: {rewritten.rollback_error}",
                             **result)
    before, after = original.side.lock_held_s, rewritten.side.lock_held_s
    mode_before = f"{original.side.lock_mode} on {original.side.lock_relation}" if original.side.lock_mode else "none"
    mode_after = f"{rewritten.side.lock_mode} on {rewritten.side.lock_relation}" if rewritten.side.lock_mode else "none"
    if rewrite.plan.patterns == ("lock-timeout-retry",):
        factor, slack = _RETRY_SLACK
        better = after <= before * factor + slack
        why = (f"same schema and data; the exclusive lock now gives up after lock_timeout instead of queueing "
               f"traffic (held {before:.3f} s before, {after:.3f} s with the rewrite)")
    else:
        better = after < before
        why = (f"same schema and data; longest blocking lock {mode_before} held {before:.3f} s, "
               f"with the rewrite {mode_after} {after:.3f} s")
    if not better:
        return RewriteResult(suggested=False, reason=f"the rewrite is not faster to lock: {why}", **result)
    if len(rewrite.files) > 1:
        why += f"; this needs {len(rewrite.files)} revisions over more than one release"
    return RewriteResult(suggested=True, reason=why, **result)


def suggest_for_report(report, alembic_ini: Path, snapshot: Snapshot | None, *, min_severity: str = "high",
                       staging: str = "local", traffic: bool = False, traffic_rate: float = 20.0,
                       say: Callable[[str], None] = lambda _: None) -> tuple[RewriteResult, ...]:
    """A rewrite, proven when a snapshot is at hand, for each revision with a finding at
    ``min_severity`` or above that has a safe pattern (planned from its traced statements)."""
    from ..model import severity_rank
    results = []
    for rev in report.revisions:
        findings = [f for f in rev.findings if f.accepted is None and
                    severity_rank(f.severity) >= severity_rank(min_severity)]
        if not findings or not rev.upgrade.ok or rev.upgrade.skipped:
            continue
        rewrite = plan_fix(alembic_ini, rev.id, statements=[s.sql for s in rev.upgrade.statements],
                           findings=findings)
        if rewrite is None:
            continue
        if snapshot is None:
            results.append(unproven(rewrite, "not rehearsed: give --snapshot DIR to prove it on the same data"))
            continue
        results.append(prove(rewrite, alembic_ini, snapshot, staging=staging, traffic=traffic,
                             traffic_rate=traffic_rate, say=say))
    return tuple(results)
