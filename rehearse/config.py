"""Run settings: flags over rehearse.yaml / [tool.rehearse] over defaults, validated once.

The policy (which columns are anonymized) lives in the same file and is read by
``rehearse.anonymize.policy``; this module only owns what a rehearsal needs to run:
thresholds, invariants, report formats and defaults for the command-line flags.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import BadInput
from .model import RISK_LEVELS

REPORT_FORMATS = ("json", "markdown", "terminal", "junit", "sarif", "html")  # md is an alias
MODES = ("release", "stairway")


@dataclass(frozen=True)
class RunConfig:
    alembic_ini: Path
    snapshot: Path | None = None
    source: str | None = None
    policy: Path | None = None
    target: str | None = None
    staging: str = "local"
    image: str | None = None
    report_dir: Path = Path("reports")
    formats: tuple[str, ...] = ("json", "md")
    keep: bool = False
    reuse: bool = False
    url_env: str | None = None
    mode: str = "release"
    traffic: bool = False
    traffic_rate: float = 20.0
    lock_timeout_s: float | None = None
    fail_on: str | None = None
    baseline: Path | None = None
    changed_since: str | None = None
    models: str | None = None
    invariants: tuple[Any, ...] = ()  # rehearse.checks.invariants.Invariant
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    strict: bool = False
    data_checks: bool = True
    compare_generated_names: bool = False
    snapshot_out: Path | None = None  # where a --source pull is kept (default: a temp dir)
    python: str | None = None  # the project's interpreter (default: found next to alembic.ini)
    flask_app: str | None = None  # module:create_app of a Flask-Migrate project
    statement_timeout_s: float | None = None  # each migration statement is cancelled after this
    timeout_s: float | None = None  # the whole run is stopped after this

    def __post_init__(self) -> None:
        if (self.snapshot is None) == (self.source is None):
            raise BadInput("give exactly one of --snapshot DIR or --source URL",
                           hint="a rehearsal starts from a stored snapshot or pulls one from the source")
        if self.mode not in MODES:
            raise BadInput(f"unknown --mode '{self.mode}'", hint=f"use one of: {', '.join(MODES)}")
        if self.fail_on is not None and self.fail_on not in RISK_LEVELS:
            raise BadInput(f"unknown --fail-on level '{self.fail_on}'",
                           hint=f"use one of: {', '.join(RISK_LEVELS)}")
        from .report import normalize_format
        for fmt in self.formats:
            normalize_format(fmt)


def parse_duration(text: str | None) -> float | None:
    """'2s', '500ms', '1.5', '1m' -> seconds."""
    if text is None or text == "":
        return None
    raw = text.strip().lower()
    units = (("ms", 0.001), ("s", 1.0), ("min", 60.0), ("m", 60.0))
    for suffix, factor in units:
        if raw.endswith(suffix):
            number = raw[: -len(suffix)]
            break
    else:
        number, factor = raw, 1.0
    try:
        value = float(number) * factor
    except ValueError:
        raise BadInput(f"'{text}' is not a duration", hint="write it like 2s, 500ms or 1m") from None
    if value < 0:
        raise BadInput(f"'{text}' is a negative duration", hint="write it like 2s, 500ms or 1m")
    return value


def find_settings_file(start: Path | None = None) -> Path | None:
    """rehearse.yaml, else a pyproject.toml with [tool.rehearse], in ``start`` or its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "rehearse.yaml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _has_tool_section(pyproject):
            return pyproject
    return None


def _has_tool_section(pyproject: Path) -> bool:
    try:
        return "rehearse" in tomllib.loads(pyproject.read_text()).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False


def load_settings(path: Path | None) -> dict[str, Any]:
    """The settings mapping of a rehearse.yaml or pyproject.toml ([tool.rehearse])."""
    if path is None:
        return {}
    if not path.is_file():
        raise BadInput(f"settings file {path} does not exist", hint="check the path given with --config")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(path.read_text()).get("tool", {}).get("rehearse", {})
        else:
            data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"{path} is not valid: {str(exc).splitlines()[0]}",
                       hint="fix the syntax and run again") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path} must hold a mapping at the top level", hint="see docs/policy.md")
    return data


def invariants_from(settings: Mapping[str, Any], source: str = "settings") -> tuple[Any, ...]:
    """The `invariants:` of a settings file, validated now so a typo fails before any work."""
    from .checks.invariants import parse_invariant
    entries = settings.get("invariants") or []
    if not isinstance(entries, list):
        raise BadInput(f"{source}: invariants must be a list",
                       hint="write - {name: no_negative_totals, sql: 'SELECT count(*) ...', expect: 0}")
    return tuple(parse_invariant(entry) for entry in entries)


def secret_from_env() -> bytes | None:
    value = os.environ.get("REHEARSE_SECRET")
    return value.encode() if value else None
