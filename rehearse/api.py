"""One plain function per user action; the CLI (and any future service) is a thin layer over these."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .config import RunConfig
from .errors import BadInput
from .model import Finding, Report, Snapshot, report_from_dict


def run(cfg: RunConfig, *, say: Callable[[str], None] = lambda _: None, progress: bool = False) -> Report:
    """Rehearse a project's migrations end to end; returns the assessed Report."""
    from .pipeline import run_rehearsal
    return run_rehearsal(cfg, say=say, progress=progress)


def snapshot(source_url: str, out_dir: Path, *, policy: Path | None = None, strict: bool = False,
             jobs: int = 2, progress: bool = False, subset: Path | None = None,
             secret_file: Path | None = None, say: Callable[[str], None] | None = None) -> Snapshot:
    """Pull a consistent, anonymized, read-only snapshot of ``source_url`` into ``out_dir``.

    The key comes from ``secret_file``, else REHEARSE_SECRET, else is random for this snapshot.
    """
    from .secret import load_secret
    from .snapshot.pull import pull_snapshot
    key = load_secret(secret_file=secret_file)  # a short or unreadable key fails before connecting
    kwargs = {} if say is None else {"say": say}
    return pull_snapshot(source_url, out_dir, policy_path=policy, secret=None if key.random else key.key,
                         strict=strict, jobs=jobs, progress=progress, subset=subset, **kwargs)


def scan(source_url: str, out: Path, *, sample_rows: int = 1000, force: bool = False) -> Path:
    """Discover personal data in the source and write a policy marking every column."""
    from .anonymize.scan import scan_source
    if out.exists() and not force:
        raise BadInput(f"{out} already exists", hint="choose another -o path or pass --force to overwrite it")
    text = scan_source(source_url, sample_rows=sample_rows)
    out.write_text(text)
    return out


def lint(alembic_ini: Path, *, revision_range: str | None = None) -> list[Finding]:
    """Static rules on the SQL each revision would run (Alembic offline mode, no database)."""
    import logging

    from .checks.lint import lint_project
    if not Path(alembic_ini).is_file():
        raise BadInput(f"alembic.ini not found at {alembic_ini}", hint="pass the project's config with --alembic-ini")
    logging.disable(logging.INFO)  # env.py's fileConfig would print Alembic's INFO lines
    try:
        return lint_project(alembic_ini, revision_range=revision_range)
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
