"""One plain function per user action; the CLI (and any future service) is a thin layer over these."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .config import RunConfig, load_run_config
from .errors import BadInput
from .model import Finding, Report, Snapshot, report_from_dict


def configure(*, alembic_ini: Path, settings_file: Path | None = None, **flags) -> RunConfig:
    """A validated RunConfig: ``flags`` (None = not given) over the settings file's ``run:`` section
    over defaults. The settings file is ``settings_file``, else rehearse.yaml or a pyproject.toml
    with [tool.rehearse] found from the alembic.ini's folder upwards. Raises BadInput (with file
    and line) before any database work."""
    return load_run_config(alembic_ini=alembic_ini, settings_file=settings_file, **flags)


def check(cfg: RunConfig) -> None:
    """Check every input of a rehearsal that needs no database (raises BadInput)."""
    from .pipeline import preflight
    preflight(cfg)


def run(cfg: RunConfig, *, say: Callable[[str], None] = lambda _: None, progress: bool = False) -> Report:
    """Rehearse a project's migrations end to end; returns the assessed Report. With
    ``cfg.suggest_rewrites``, revisions with high or critical findings that have a safe pattern get
    the rewrite, rehearsed side by side on the same snapshot (``Report.rewrites``)."""
    from .pipeline import run_rehearsal
    report = run_rehearsal(cfg, say=say, progress=progress)
    if cfg.suggest_rewrites:
        import dataclasses

        from .rewrite.suggest import suggest_for_report
        from .snapshot.format import read_snapshot
        snap = read_snapshot(cfg.snapshot) if cfg.snapshot is not None else None
        report = dataclasses.replace(report, rewrites=suggest_for_report(
            report, cfg.alembic_ini, snap, staging=cfg.staging, traffic=cfg.traffic,
            traffic_rate=cfg.traffic_rate, say=say))
    return report


def fix(alembic_ini: Path, revision: str, *, snapshot: Path | None = None, write: bool = True,
        keep_original: bool = False, staging: str = "local", traffic: bool = False,
        say: Callable[[str], None] = lambda _: None):
    """Rewrite ``revision`` with the safe patterns its findings have; with ``snapshot``, prove the
    rewrite on that data first and write it only when it is suggested. Returns
    (RewriteResult, written paths); the result is None when no finding has a safe pattern."""
    from .rewrite.suggest import plan_fix, prove, unproven, write_fix
    if not Path(alembic_ini).is_file():
        raise BadInput(f"alembic.ini not found at {alembic_ini}", hint="pass the project's config with --alembic-ini")
    if snapshot is not None and not Path(snapshot).is_dir():
        raise BadInput(f"snapshot {snapshot} does not exist", hint="pass a directory written by `rehearse snapshot`")
    rewrite = plan_fix(Path(alembic_ini), revision)
    if rewrite is None:
        return None, []
    if snapshot is None:
        result = unproven(rewrite, "not rehearsed: give --snapshot DIR to prove it on the same data")
    else:
        from .snapshot.format import read_snapshot
        result = prove(rewrite, Path(alembic_ini), read_snapshot(Path(snapshot), verify=True), staging=staging,
                       traffic=traffic, say=say)
    written = []
    if write and (snapshot is None or result.suggested):
        written = write_fix(rewrite, keep_original=keep_original)
    return result, written


def snapshot(source_url: str, out_dir: Path, *, policy: Path | None = None, strict: bool = False,
             jobs: int = 2, progress: bool = False, subset: Path | None = None,
             secret_file: Path | None = None, say: Callable[[str], None] | None = None,
             traffic_window_s: float | None = None) -> Snapshot:
    """Pull a consistent, anonymized, read-only snapshot of ``source_url`` into ``out_dir``.

    The key comes from ``secret_file``, else REHEARSE_SECRET, else is random for this snapshot.
    With ``traffic_window_s``, the source's pg_stat_statements is sampled twice that many seconds
    apart before the pull: the query shapes go into the snapshot (queries.json).
    """
    from .secret import load_secret
    from .snapshot.pull import pull_snapshot
    _check_source(source_url)
    check_writable(out_dir, "-o")
    key = load_secret(secret_file=secret_file)  # a short or unreadable key fails before connecting
    kwargs: dict = {} if say is None else {"say": say}
    if traffic_window_s is not None:
        # both samples before the pull: the pull's own reads must not count as production's traffic
        from .pipeline import capture_shapes
        captured = capture_shapes(source_url, traffic_window_s, say or _stderr)
        kwargs["extra_files"] = lambda: captured
    return pull_snapshot(source_url, out_dir, policy_path=policy, secret=None if key.random else key.key,
                         strict=strict, jobs=jobs, progress=progress, subset=subset, **kwargs)


def _stderr(line: str) -> None:
    import sys
    print(line, file=sys.stderr)


def snapshot_info(path: Path) -> Snapshot:
    """A snapshot directory's manifest (tables, row counts, source revision), without checking its files."""
    from .snapshot.format import read_snapshot
    return read_snapshot(Path(path), verify=False)


def scan(source_url: str, out: Path, *, sample_rows: int = 1000, force: bool = False) -> Path:
    """Discover personal data in the source and write a policy marking every column."""
    from .anonymize.scan import scan_source
    _check_source(source_url)
    if out.exists() and not force:
        raise BadInput(f"{out} already exists", hint="choose another -o path or pass --force to overwrite it")
    check_writable(out, "-o")
    text = scan_source(source_url, sample_rows=sample_rows)
    out.write_text(text)
    return out


def lint(alembic_ini: Path | None = None, *, revision_range: str | None = None,
         paths: list[Path] | None = None) -> list[Finding]:
    """Static rules, no database: on the SQL each revision would run (Alembic offline mode), and on .sql files."""
    import logging

    from .checks.lint import lint_paths, lint_project
    if alembic_ini is None and not paths:
        raise BadInput("nothing to lint", hint="pass .sql files or directories, or --alembic-ini for an Alembic project")
    findings = lint_paths(list(paths)) if paths else []
    if alembic_ini is None:
        return findings
    if not Path(alembic_ini).is_file():
        raise BadInput(f"alembic.ini not found at {alembic_ini}", hint="pass the project's config with --alembic-ini")
    logging.disable(logging.INFO)  # env.py's fileConfig would print Alembic's INFO lines
    try:
        return findings + lint_project(alembic_ini, revision_range=revision_range)
    finally:
        logging.disable(logging.NOTSET)


def load_report(path: Path) -> Report:
    """Read a report.json written by `rehearse run`."""
    if not path.is_file():
        raise BadInput(f"report {path} does not exist", hint="pass the report.json written by `rehearse run`")
    try:
        return report_from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError) as exc:
        raise BadInput(f"{path} is not a rehearse report: {str(exc).splitlines()[0] if str(exc) else exc}",
                       hint="pass the report.json written by `rehearse run`") from None


def render(report: Report, fmt: str) -> str:
    from .report import render as render_format
    return render_format(report, fmt)


def gc(*, quiet: bool = False, include_kept: bool = False) -> list[str]:
    """Remove staging resources left by runs whose process is gone (e.g. after SIGKILL)."""
    from .staging.gc import collect
    return collect(quiet=quiet, include_kept=include_kept)


def _check_source(source: str) -> None:
    """A URL (or a libpq ``key=value`` DSN) that can be read, before anything connects."""
    if "=" in source and "://" not in source:
        return  # libpq's own form: psycopg2 reports its errors
    from .urls import parse
    parse(source)


def check_writable(path: Path, flag: str) -> None:
    """BadInput unless ``path`` can be created (its nearest existing folder takes a new file)."""
    import tempfile

    path = Path(path)
    folder = path.parent if not path.is_dir() else path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise BadInput(f"cannot write {path}: {folder} is a file, not a directory",
                       hint=f"choose another {flag} path")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".rehearse-write-test-"):
            pass
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}", hint=f"choose another {flag} path") from None
