"""Report renderers: one Report in, one format out (terminal, markdown, json, junit, sarif, html).

Each format lives in its own module with a ``render(report, options) -> str``; this module
is the registry the CLI talks to. Renderers read only the Report (never a database), so
``rehearse report report.json --format X`` gives the same output as the run that wrote it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rehearse import model
from rehearse.config import normalize_format
from rehearse.errors import BadInput
from rehearse.report._common import RenderOptions

FORMATS: tuple[str, ...] = ("terminal", "markdown", "json", "junit", "sarif", "html")

FILE_NAMES: dict[str, str] = {
    "json": "report.json",
    "markdown": "report.md",
    "junit": "report.junit.xml",
    "sarif": "report.sarif",
    "html": "report.html",
}

def _renderer(fmt: str) -> Callable[[model.Report, RenderOptions], str]:
    if fmt == "terminal":
        from rehearse.report.terminal import render as fn
    elif fmt == "markdown":
        from rehearse.report.markdown import render as fn
    elif fmt == "json":
        from rehearse.report.jsonfmt import render as fn
    elif fmt == "junit":
        from rehearse.report.junit import render as fn
    elif fmt == "sarif":
        from rehearse.report.sarif import render as fn
    else:
        from rehearse.report.html import render as fn
    return fn


def render(report: model.Report, fmt: str, *, rules_base_url: str | None = None,
           fail_on: str | None = None, max_chars: int | None = None) -> str:
    """The report in one format, as text. ``fmt`` is one of FORMATS (or md/xml aliases)."""
    name = normalize_format(fmt)
    options = RenderOptions(rules_base_url=rules_base_url, fail_on=fail_on,
                            **({"max_chars": max_chars} if max_chars else {}))
    return _renderer(name)(report, options)


def write_reports(report: model.Report, report_dir: Path, formats: list[str], *,
                  rules_base_url: str | None = None, fail_on: str | None = None) -> list[Path]:
    """Write each file format into ``report_dir`` (created if needed); returns the paths.

    File names are fixed (report.json, report.md, report.junit.xml, report.sarif,
    report.html) so CI steps can find them. ``terminal`` has no file and is skipped.
    """
    names = [normalize_format(f) for f in formats]
    report_dir = writable_report_dir(report_dir)
    written: list[Path] = []
    for name in dict.fromkeys(names):  # keep order, drop repeats
        if name not in FILE_NAMES:
            continue
        path = report_dir / FILE_NAMES[name]
        text = render(report, name, rules_base_url=rules_base_url, fail_on=fail_on)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"cannot write {path}: {exc.strerror}", hint="choose a writable --report-dir") from None
        written.append(path)
    return written


def writable_report_dir(report_dir: Path | str) -> Path:
    """``report_dir``, created if needed, after proving a file can be written in it."""
    import tempfile

    report_dir = Path(report_dir)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=report_dir, prefix=".rehearse-write-test-"):
            pass
    except OSError as exc:
        raise BadInput(f"cannot write reports into {report_dir}: {exc.strerror or exc}",
                       hint="choose a writable --report-dir") from None
    return report_dir


def print_summary(report: model.Report, console=None) -> None:
    """Print the rich summary table (colours only when the console is a terminal)."""
    from rehearse.report.terminal import print_summary as _print

    _print(report, console)


__all__ = ["FORMATS", "FILE_NAMES", "RenderOptions", "normalize_format", "render", "write_reports",
           "writable_report_dir",
           "print_summary"]
