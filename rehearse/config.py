"""Run settings: one model, built from flags over rehearse.yaml / [tool.rehearse] over defaults.

Everything a rehearsal is told (paths, mode, thresholds, invariants, report formats) is
validated here, once, before any database is touched: a typo in rehearse.yaml fails with
its file and line at the start of a run, not after the restore. The CLI, the API and the
service all build their :class:`RunConfig` through :func:`load_run_config` (or construct one
directly, which validates the same way).

The anonymization policy lives in the same file and is read by ``rehearse.anonymize``;
this module only checks the sections a rehearsal owns (``run``, ``thresholds``,
``invariants``) and leaves the policy's keys to the policy's own reader.
"""

from __future__ import annotations

import dataclasses
import operator
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional

import yaml
from pydantic import (AfterValidator, AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter,
                      ValidationError, ValidationInfo, field_validator, model_validator)

from .errors import BadInput
from .model import RISK_LEVELS

REPORT_FORMATS = ("json", "markdown", "terminal", "junit", "sarif", "html")
FORMAT_ALIASES = {"md": "markdown", "xml": "junit", "junit.xml": "junit", "htm": "html", "text": "terminal",
                  "txt": "terminal"}
MODES = ("release", "stairway")
INVARIANT_PHASES = ("before-upgrade", "after-upgrade", "after-rollback")
APP_CHECK_MOMENTS = ("before-upgrade", "after-upgrade", "after-rollback")

_STRICT = ConfigDict(extra="forbid", frozen=True)


def normalize_format(fmt: str) -> str:
    """The canonical report format name, or BadInput listing the ones that exist."""
    name = FORMAT_ALIASES.get(fmt.strip().lower(), fmt.strip().lower())
    if name not in REPORT_FORMATS:
        raise BadInput(f"unknown report format {fmt!r}", hint=f"use one of: {', '.join(REPORT_FORMATS)}")
    return name


# --- thresholds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """When a measured cost becomes a finding (``thresholds.checks`` in rehearse.yaml)."""

    __pydantic_config__ = _STRICT

    lock_held_s: Annotated[float, Field(ge=0)] = 1.0  # a blocking lock held at least this long...
    table_rows: Annotated[int, Field(ge=0)] = 10_000  # ...on a table with at least this many rows
    table_bytes: Annotated[int, Field(ge=0)] = 10 * 1024 * 1024  # ...or at least this many bytes
    statement_s: Annotated[float, Field(ge=0)] = 5.0  # a statement slower than this
    row_drop_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0  # rows may fall by this fraction before it is a finding
    # a measured duration counts only when beyond its threshold by this fraction (see RiskThresholds)
    duration_noise: Annotated[float, Field(ge=0, le=1)] = 0.25

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> "Thresholds":
        return _validated(cls, data, "thresholds.checks")

    def exceeds(self, seconds: float, limit: float) -> bool:
        return beyond_noise(seconds, limit, self.duration_noise)

    def is_big(self, rows: int | None, size: int | None) -> bool:
        return (rows or 0) >= self.table_rows or (size or 0) >= self.table_bytes


@dataclass(frozen=True)
class RiskThresholds:
    """The numbers the risk model compares measurements against (``thresholds.risk``)."""

    __pydantic_config__ = _STRICT

    large_table_rows: Annotated[int, Field(ge=0)] = 100_000
    large_table_bytes: Annotated[int, Field(ge=0)] = 100 * 1024 * 1024
    medium_lock_s: Annotated[float, Field(ge=0)] = 1.0
    high_lock_s: Annotated[float, Field(ge=0)] = 5.0
    critical_lock_s: Annotated[float, Field(ge=0)] = 60.0
    slow_statement_s: Annotated[float, Field(ge=0)] = 60.0
    # a measured duration counts against a threshold only when it is above it by this fraction:
    # timings on a copy vary by tens of percent from run to run, levels must not
    duration_noise: Annotated[float, Field(ge=0, le=1)] = 0.25

    def __post_init__(self) -> None:
        if not self.medium_lock_s <= self.high_lock_s <= self.critical_lock_s:
            raise ValueError("must satisfy medium_lock_s <= high_lock_s <= critical_lock_s")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "RiskThresholds":
        return _validated(cls, values, "thresholds.risk")

    def exceeds(self, seconds: float, limit: float) -> bool:
        return beyond_noise(seconds, limit, self.duration_noise)


def beyond_noise(seconds: float, limit: float, noise: float) -> bool:
    """``seconds`` is beyond ``limit`` by more than the noise margin (a fraction of the limit)."""
    return seconds >= limit * (1.0 + noise)


_CHECK_FIELDS = {f.name for f in dataclasses.fields(Thresholds)}
_RISK_FIELDS = {f.name for f in dataclasses.fields(RiskThresholds)}


def _validated(cls: type, data: Mapping[str, Any] | None, where: str) -> Any:
    values = {str(k).replace("-", "_"): v for k, v in (data or {}).items()}
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise BadInput(f"{where}: unknown threshold {unknown[0]!r}",
                       hint=f"use one of: {', '.join(f.name for f in dataclasses.fields(cls))}")
    try:
        return TypeAdapter(cls).validate_python(values)
    except ValidationError as exc:
        raise BadInput(f"{where}: {_pydantic_message(exc)}",
                       hint="fix the value in your rehearse configuration") from None


# --- invariants -----------------------------------------------------------------------------

_OPS = {"==": operator.eq, "=": operator.eq, "!=": operator.ne, "<>": operator.ne, ">=": operator.ge,
        "<=": operator.le, ">": operator.gt, "<": operator.lt}
_EXPECT = re.compile(r"^\s*(==|=|!=|<>|>=|<=|>|<)?\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Invariant:
    """User SQL returning one number, and what that number must be, per phase."""

    name: str
    sql: str
    op: str
    value: float
    phases: tuple[str, ...] = ()  # empty: every phase

    @property
    def expect(self) -> str:
        return f"{self.op} {self.value:g}"

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.value)


class _InvariantEntry(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    sql: str = Field(min_length=1)
    expect: str | int | float = "== 0"
    phases: tuple[Literal["before-upgrade", "after-upgrade", "after-rollback"], ...] | Literal[
        "before-upgrade", "after-upgrade", "after-rollback"] = ()

    @field_validator("phases", mode="before")
    @classmethod
    def _phases(cls, value: Any) -> Any:
        # after_upgrade and after-upgrade both mean the moment the rehearsal calls after-upgrade
        if isinstance(value, str):
            return value.replace("_", "-")
        return tuple(str(v).replace("_", "-") for v in value or ())

    @field_validator("expect")
    @classmethod
    def _expect(cls, value: Any) -> Any:
        if not _EXPECT.match(str(value)):
            raise ValueError("write a number or a comparison such as '== 0', '> 0', '>= 100'")
        return value

    def invariant(self) -> Invariant:
        match = _EXPECT.match(str(self.expect))
        assert match is not None
        phases = (self.phases,) if isinstance(self.phases, str) else tuple(self.phases)
        return Invariant(self.name.strip(), self.sql.strip(), match.group(1) or "==", float(match.group(2)),
                         phases)


def parse_invariant(entry: Mapping[str, Any]) -> Invariant:
    """One ``invariants:`` entry {name, sql, expect[, phases]}, validated."""
    try:
        return _InvariantEntry.model_validate(dict(entry)).invariant()
    except ValidationError as exc:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        raise BadInput(f"invariant {name!r}: {_pydantic_message(exc)}" if name else
                       f"invariant: {_pydantic_message(exc)}",
                       hint="write {name: ..., sql: SELECT ..., expect: '== 0'}") from None


# --- app checks -------------------------------------------------------------------------------


def _command(value: str) -> str:
    if not str(value).strip():
        raise ValueError("an app check needs a command (e.g. --app-check 'pytest tests/smoke')")
    return str(value)


def _env_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError(f"{value!r} is not an environment variable name (e.g. DATABASE_URL)")
    return value


def _moments(value: Any) -> tuple[str, ...]:
    """'after-upgrade', ['before-upgrade', 'after-upgrade'] or 'before-upgrade,after-upgrade' -> in rehearsal order."""
    items = [value] if isinstance(value, str) else list(value)
    names = [m.strip().replace("_", "-") for item in items for m in str(item).split(",") if m.strip()]
    for name in names:
        if name not in APP_CHECK_MOMENTS:
            raise ValueError(f"{name!r} is not a moment; use {', '.join(APP_CHECK_MOMENTS)}")
    if not names:
        raise ValueError(f"name at least one moment: {', '.join(APP_CHECK_MOMENTS)}")
    return tuple(m for m in APP_CHECK_MOMENTS if m in names)


@dataclass(frozen=True)
class AppCheck:
    """One team command run against staging (``--app-check``, ``run.app_checks``) and how it runs."""

    __pydantic_config__ = _STRICT

    command: Annotated[str, AfterValidator(_command)]
    timeout_s: Annotated[float, Field(gt=0)] = 300.0  # its whole process group is killed after this
    env: Annotated[str, AfterValidator(_env_name)] = "DATABASE_URL"  # the variable carrying the staging URL
    at: Annotated[tuple[str, ...], BeforeValidator(_moments)] = APP_CHECK_MOMENTS


class _AppCheckEntry(BaseModel):
    """An ``app_checks:`` entry of rehearse.yaml's ``run:``: {cmd, timeout, env, at}, all but cmd optional."""

    model_config = _STRICT
    cmd: Annotated[str, AfterValidator(_command)]
    # a duration (30s, 5m, or seconds); timeout_s is the service's name for it
    timeout: Optional[str | float] = Field(None, validation_alias=AliasChoices("timeout", "timeout_s"))
    env: Optional[Annotated[str, AfterValidator(_env_name)]] = None
    at: Optional[Annotated[tuple[str, ...], BeforeValidator(_moments)]] = None

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        try:
            seconds = parse_duration(value)
        except BadInput as exc:
            raise ValueError(exc.one_line()) from None
        if seconds is not None and seconds <= 0:
            raise ValueError("an app check's time limit must be more than 0; write it like 30s or 5m")
        return value


def _app_check(item: Any, defaults: Mapping[str, Any]) -> Any:
    """A command, an ``app_checks:`` entry or an AppCheck -> AppCheck fields, the run's defaults filling the gaps."""
    if isinstance(item, AppCheck):
        return item
    if not isinstance(item, Mapping):
        return {**defaults, "command": str(item)}
    entry = dict(item)
    if "cmd" in entry:
        entry["command"] = entry.pop("cmd")
    if "timeout" in entry:
        try:
            entry["timeout_s"] = parse_duration(entry.pop("timeout"))
        except BadInput as exc:
            raise ValueError(exc.one_line()) from None
    return {**defaults, **{k: v for k, v in entry.items() if v is not None}}


# --- the settings file ------------------------------------------------------------------------


class _RunSection(BaseModel):
    """Defaults for `rehearse run` flags (a flag given on the command line wins)."""

    model_config = _STRICT
    formats: Optional[tuple[str, ...]] = None
    mode: Optional[Literal["release", "stairway"]] = None
    staging: Optional[str] = None
    fail_on: Optional[Literal["low", "medium", "high", "critical", "none"]] = None
    traffic: Optional[bool] = None
    traffic_rate: Optional[float] = Field(None, gt=0)
    # durations: text such as 2s, 500ms, 1m, or a number of seconds
    lock_timeout: Optional[str | float] = None
    statement_timeout: Optional[str | float] = None
    timeout: Optional[str | float] = None
    python: Optional[str] = None
    flask_app: Optional[str] = None
    report_dir: Optional[Path] = None
    data_checks: Optional[bool] = None
    url_env: Optional[str] = None
    models: Optional[str] = None
    baseline: Optional[Path] = None
    # production's query shapes (docs/queries.md): --queries, --traffic-window, --plan-top, --plan-budget
    queries: Optional[Path] = None
    traffic_window: Optional[str | float] = Field(None, validation_alias=AliasChoices("traffic_window",
                                                                                      "traffic_window_s"))
    plan_top: Optional[int] = Field(None, ge=0)
    plan_budget: Optional[str | float] = None
    scale_repeat: Optional[int] = Field(None, ge=1, le=20)  # --scale-repeat
    # a PostgreSQL major version to compare with (docs/risk.md): --target-version, --pg-bindir
    target_version: Optional[int] = Field(None, ge=9)
    pg_bindir: Optional[Path] = None
    # the team's commands against staging (RH406): a command, or {cmd, timeout, env, at}; --app-check
    app_checks: Optional[tuple[_AppCheckEntry, ...]] = None
    scale: Optional[tuple[float, ...]] = None  # --scale: "1%,3%,10%" or a list; kept as fractions
    settings: Optional[dict[str, str | bool | int | float]] = None  # --setting name=value, as {name: value}
    suggest_rewrites: Optional[bool] = None  # --suggest-rewrites

    @field_validator("app_checks", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        items = [value] if isinstance(value, (str, Mapping)) else value
        return [{"cmd": item} if isinstance(item, str) else item for item in items or ()]

    @field_validator("scale", mode="before")
    @classmethod
    def _scale(cls, value: Any) -> Any:
        try:
            return None if value in (None, "", ()) else parse_scale(value)
        except BadInput as exc:
            raise ValueError(exc.one_line()) from None

    @field_validator("settings")
    @classmethod
    def _setting_names(cls, value: Any) -> Any:
        try:
            setting_pairs(value or {})
        except BadInput as exc:
            raise ValueError(exc.one_line()) from None
        return value

    @field_validator("formats", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        for fmt in value or ():
            if FORMAT_ALIASES.get(str(fmt).lower(), str(fmt).lower()) not in REPORT_FORMATS:
                raise ValueError(f"unknown report format {fmt!r}; use one of: {', '.join(REPORT_FORMATS)}")
        return value

    @field_validator("lock_timeout", "statement_timeout", "timeout", "traffic_window", "plan_budget")
    @classmethod
    def _duration(cls, value: Any, info: ValidationInfo) -> Any:
        try:
            seconds = parse_duration(value)
        except BadInput as exc:  # a ValueError, so that the error names the file and line
            raise ValueError(exc.one_line()) from None
        if info.field_name == "plan_budget" and seconds is not None and seconds <= 0:
            raise ValueError("a shape's time budget must be more than 0; write it like 2s or 500ms")
        return value

    @field_validator("queries")
    @classmethod
    def _queries_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # context {"paths_from": DIR}: relative paths start there (the child run's folder); None: not
        # checked here (they name a file of a checkout only the worker will have)
        context = info.context or {}
        base = context.get("paths_from", Path.cwd())
        if value is None or (base is None and not value.is_absolute()):
            return value
        if not (value if value.is_absolute() else Path(base) / value).is_file():
            where = "the working directory" if "paths_from" not in context else f"the project folder {base}"
            raise ValueError(f"no such file (a relative path starts from {where}); give a "
                             "pg_stat_statements CSV export, a log of statements or a queries.json")
        return value


class _ThresholdsSection(BaseModel):
    """``thresholds:`` as ``{checks: {...}, risk: {...}}``, or flat (each name belongs to one group)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    checks: Thresholds = Thresholds()
    risk: RiskThresholds = RiskThresholds()

    @model_validator(mode="before")
    @classmethod
    def _route_flat_names(cls, data: Any) -> Any:
        return nest_thresholds(data) if isinstance(data, Mapping) else data


def nest_thresholds(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``thresholds:`` written flat or nested -> ``{checks: {...}, risk: {...}}`` with only the names given."""
    checks = dict(data.get("checks") or {})
    risk = dict(data.get("risk") or {})
    for key, value in data.items():
        if key in ("checks", "risk"):
            continue
        name = str(key).replace("-", "_")
        if name in _CHECK_FIELDS:
            checks[name] = value
        else:  # a risk threshold, or a name no group has: refused there, with its line
            risk[name] = value
    return {"checks": {str(k).replace("-", "_"): v for k, v in checks.items()},
            "risk": {str(k).replace("-", "_"): v for k, v in risk.items()}}


def validate_thresholds(data: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A ``thresholds`` mapping checked exactly as rehearse.yaml's is; returned nested, only the names given.

    The service validates a target's thresholds with this when the target is saved, so a child
    `rehearse run` never refuses the settings file the worker writes from them.
    """
    if data is not None and not isinstance(data, Mapping):
        raise BadInput("thresholds must be a mapping of names to numbers", hint="e.g. {\"medium_lock_s\": 0.5}")
    nested = nest_thresholds(data or {})
    try:
        _ThresholdsSection.model_validate(nested)
    except ValidationError as exc:
        error = exc.errors()[0]
        hint = (f"use one of: {', '.join(sorted(_CHECK_FIELDS | _RISK_FIELDS))}"
                if error.get("type") in ("extra_forbidden", "unexpected_keyword_argument")
                else "fix the value (see docs/risk.md)")
        raise BadInput(f"thresholds.{_loc_text(tuple(error['loc']))}: {_error_text(error)}", hint=hint) from None
    return nested


def validate_run_section(data: Mapping[str, Any] | None, *, paths_from: Path | None) -> dict[str, Any]:
    """A ``run:`` mapping checked as rehearse.yaml's is, and as `rehearse run` checks those values before any work.

    The settings are asked of the server (``postgres --describe-config``), a target version's binaries
    looked for. Relative paths start from ``paths_from`` (the folder the run starts in); with None
    they are not looked for (they name files of a checkout not made yet). Returns the names given,
    as validated (``scale`` as fractions, app checks' moments in rehearsal order). The service checks
    a target's run options with this when the target is saved, so a child `rehearse run` does not
    refuse the settings file the worker writes from them.
    """
    if data is not None and not isinstance(data, Mapping):
        raise BadInput("run options must be a mapping of names to values", hint="e.g. {\"scale\": \"1%,3%\"}")
    try:
        section = _RunSection.model_validate(dict(data or {}), context={"paths_from": paths_from})
    except ValidationError as exc:
        error = exc.errors()[0]
        hint = "fix the value (see `rehearse run --help` for what each one does)"
        if error.get("type") in ("extra_forbidden", "unexpected_keyword_argument"):
            model = _AppCheckEntry if error["loc"][0] == "app_checks" else _RunSection
            hint = f"use one of: {', '.join(model.model_fields)}"
        raise BadInput(f"{_loc_text(tuple(error['loc']))}: {_error_text(error)}", hint=hint) from None
    settings = checked_settings(setting_pairs(section.settings or {}))
    out = section.model_dump(mode="json", exclude_none=True)
    if settings:
        out["settings"] = dict(settings)  # as the server names them, values as text
    bindir = section.pg_bindir
    if bindir is not None and not bindir.is_absolute():
        if paths_from is None:
            return out  # binaries inside a checkout not made yet: the run itself looks for them
        bindir = Path(paths_from) / bindir
    if section.target_version is not None or bindir is not None:
        from .pgbin import target_server
        target_server(section.target_version, bindir)
    return out


def settings_for_child(project: Path, alembic_ini: Path, *, thresholds: Mapping[str, Any] | None = None,
                       run: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The project's own settings (as `rehearse run` would find them) with ``thresholds`` and ``run`` laid over.

    Names given win over the project's, in ``thresholds`` and in the ``run:`` section; every other
    setting (the other run defaults, invariants, the anonymization policy) is kept verbatim, so the
    result is a whole settings file for a run started in ``project``.
    """
    path = find_settings_file(Path(alembic_ini).parent)
    raw: dict[str, Any] = {}
    if path is not None:
        read_settings(path, paths_from=project)  # the project's own file must be valid before anything is laid on
        text = path.read_text()
        raw = (tomllib.loads(text).get("tool", {}).get("rehearse", {}) if path.suffix == ".toml"
               else yaml.safe_load(text) or {})
    if thresholds:
        own = nest_thresholds(raw.get("thresholds") or {})
        given = validate_thresholds(thresholds)
        raw["thresholds"] = {group: {**own[group], **given[group]} for group in ("checks", "risk")}
    if run:
        given_run = validate_run_section(run, paths_from=project)
        own_run = dict(raw.get("run") or {})
        if "traffic_window" in given_run:
            own_run.pop("traffic_window_s", None)  # the project's other spelling of the same name
        raw["run"] = {**own_run, **given_run}
    return raw


class SettingsFile(BaseModel):
    """The sections of rehearse.yaml / [tool.rehearse] that a rehearsal reads (policy keys pass)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    run: _RunSection = _RunSection()
    thresholds: _ThresholdsSection = _ThresholdsSection()
    invariants: tuple[_InvariantEntry, ...] = ()

    @property
    def has_policy(self) -> bool:
        extra = self.model_extra or {}
        return bool(extra.get("tables") or extra.get("anonymize"))


@dataclass(frozen=True)
class Settings:
    """A settings file, read and validated: where it was and what it says."""

    path: Path | None
    data: SettingsFile

    @property
    def policy(self) -> Path | None:
        return self.path if self.path is not None and self.data.has_policy else None


def read_settings(path: Path | None, *, paths_from: Path | None = None) -> Settings:
    """Read and validate a settings file; errors name the file and line.

    Relative paths in it start from ``paths_from`` (default: the working directory)."""
    if path is None:
        return Settings(None, SettingsFile())
    if not path.is_file():
        raise BadInput(f"settings file {path} does not exist", hint="check the path given with --config")
    text = path.read_text()
    lines: dict[tuple, int] = {}
    try:
        if path.suffix == ".toml":
            raw = tomllib.loads(text).get("tool", {}).get("rehearse", {})
        else:
            raw = yaml.safe_load(text) or {}
            lines = _yaml_lines(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"{path} is not valid: {' '.join(str(exc).split())}",
                       hint="fix the syntax and run again") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{path} must hold a mapping at the top level", hint="see docs/policy.md")
    try:
        context = {"paths_from": paths_from} if paths_from is not None else None
        return Settings(path, SettingsFile.model_validate(raw, context=context))
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        line = _line_of(loc, lines) or (_toml_line(text, loc) if path.suffix == ".toml" else None)
        where = f"{path}:{line}" if line else str(path)
        hint = "fix the setting and run again (see docs/risk.md and docs/policy.md)"
        if loc[:1] == ("thresholds",) and error.get("type") in ("extra_forbidden", "unexpected_keyword_argument"):
            if len(loc) >= 3 and ("thresholds", "risk") not in lines and ("thresholds", loc[2]) in lines:
                loc = ("thresholds",) + loc[2:]  # the user wrote it flat
            hint = f"use one of: {', '.join(sorted(_CHECK_FIELDS | _RISK_FIELDS))}"
        raise BadInput(f"{where}: {_loc_text(loc)}: {_error_text(error)}", hint=hint) from None


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


# --- the run configuration ----------------------------------------------------------------------


class RunConfig(BaseModel):
    """Everything one rehearsal needs, validated; frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    alembic_ini: Path
    snapshot: Optional[Path] = None
    source: Optional[str] = None
    policy: Optional[Path] = None
    target: Optional[str] = None
    staging: str = "local"
    image: Optional[str] = None
    report_dir: Path = Path("reports")
    formats: tuple[str, ...] = ("json", "markdown")
    keep: bool = False
    reuse: bool = False
    url_env: Optional[str] = None
    mode: Literal["release", "stairway"] = "release"
    traffic: bool = False
    traffic_rate: float = Field(20.0, gt=0)
    lock_timeout_s: Optional[float] = Field(None, ge=0)
    fail_on: Optional[Literal["low", "medium", "high", "critical"]] = None
    baseline: Optional[Path] = None
    changed_since: Optional[str] = None
    models: Optional[str] = None
    invariants: tuple[Invariant, ...] = ()
    check_thresholds: Thresholds = Thresholds()
    risk_thresholds: RiskThresholds = RiskThresholds()
    strict: bool = False
    data_checks: bool = True
    compare_generated_names: bool = False
    snapshot_out: Optional[Path] = None  # where a --source pull is kept (default: a temp dir)
    secret_file: Optional[Path] = None  # the anonymization key for a --source pull (else REHEARSE_SECRET)
    python: Optional[str] = None  # the project's interpreter (default: found next to alembic.ini)
    flask_app: Optional[str] = None  # module:create_app of a Flask-Migrate project
    statement_timeout_s: Optional[float] = Field(None, gt=0)  # each migration statement is cancelled after this
    timeout_s: Optional[float] = Field(None, gt=0)  # the whole run is stopped after this
    settings_file: Optional[Path] = None  # where the settings came from, for messages
    # production's query shapes (rehearse.queries): --queries FILE, the pg_stat_statements window,
    # how many of the busiest shapes get their plans compared, and each one's time budget
    queries: Optional[Path] = None
    traffic_window_s: float = Field(5.0, ge=0)
    plan_top: int = Field(10, ge=0)
    plan_budget_s: float = Field(2.0, gt=0)
    scale: tuple[float, ...] = ()  # --scale: subset fractions rehearsed to predict the full size
    scale_repeat: int = Field(3, ge=1, le=20)  # upgrades per subset, on copies of one restore (fastest kept)
    pg_settings: tuple[tuple[str, str], ...] = ()  # --setting name=value / --settings FILE: compared on staging
    # --target-version N: the upgrade rehearsed again on PostgreSQL N (its binaries: --pg-bindir, else found)
    target_version: Optional[int] = Field(None, ge=9)
    pg_bindir: Optional[Path] = Field(None, validate_default=True)

    @field_validator("pg_bindir")
    @classmethod
    def _target_server(cls, value: Optional[Path], info: ValidationInfo) -> Optional[Path]:
        """PostgreSQL N not on this machine: one line naming where it looked, before any work."""
        major = info.data.get("target_version")
        if major is not None or value is not None:
            from .pgbin import target_server
            target_server(major, value)
        return value

    @field_validator("pg_settings", mode="before")
    @classmethod
    def _pg_settings(cls, value: Any) -> Any:
        return checked_settings(setting_pairs(value or ()))
    # --app-check: the team's commands, run against staging; --app-check-timeout/-env/-at are the
    # defaults of those that do not say (declared first: app_checks reads them)
    app_check_timeout_s: float = Field(300.0, gt=0)
    app_check_env: str = "DATABASE_URL"  # the variable the staging URL is passed in
    app_check_at: tuple[str, ...] = APP_CHECK_MOMENTS
    app_checks: tuple[AppCheck, ...] = ()
    suggest_rewrites: bool = False  # rehearse the safe rewrite of high/critical findings beside the original

    @field_validator("app_check_env")
    @classmethod
    def _app_check_env(cls, value: str) -> str:
        try:
            return _env_name(value)
        except ValueError as exc:
            raise ValueError(f"--app-check-env {exc}") from None

    @field_validator("app_check_at", mode="before")
    @classmethod
    def _app_check_at(cls, value: Any) -> Any:
        try:
            return _moments(value)
        except ValueError as exc:
            raise ValueError(f"--app-check-at {exc}") from None

    @field_validator("app_checks", mode="before")
    @classmethod
    def _app_checks(cls, value: Any, info: ValidationInfo) -> Any:
        items = [value] if isinstance(value, (str, Mapping)) else list(value or ())
        defaults = {"timeout_s": info.data.get("app_check_timeout_s", 300.0),
                    "env": info.data.get("app_check_env", "DATABASE_URL"),
                    "at": info.data.get("app_check_at", APP_CHECK_MOMENTS)}
        return tuple(_app_check(item, defaults) for item in items)

    @field_validator("scale", mode="before")
    @classmethod
    def _scale(cls, value: Any) -> Any:
        return () if value in (None, "", ()) else parse_scale(value)

    @field_validator("formats", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> Any:
        names = [normalize_format(str(f)) for f in ([value] if isinstance(value, str) else value)]
        return tuple(dict.fromkeys(n for n in names if n != "terminal"))

    @field_validator("fail_on", mode="before")
    @classmethod
    def _fail_on(cls, value: Any) -> Any:
        if value is None or str(value).lower() in ("none", "never", "off"):
            return None
        if str(value).lower() not in RISK_LEVELS:
            raise ValueError(f"unknown --fail-on level {value!r}; use one of: {', '.join(RISK_LEVELS)}")
        return str(value).lower()

    @field_validator("models")
    @classmethod
    def _models(cls, value: Any) -> Any:
        if value is not None and not re.fullmatch(r"[\w.]+:[\w.]+", value):
            raise ValueError(f"--models {value!r} is not module:attribute (e.g. myapp.models:Base.metadata)")
        return value

    @field_validator("source")
    @classmethod
    def _source_url(cls, value: Any) -> Any:
        if value is not None:
            from .urls import parse
            parse(value)  # BadInput for a malformed URL, before anything connects
        return value

    @field_validator("staging")
    @classmethod
    def _staging(cls, value: str) -> str:
        if "://" in value:
            from .urls import parse
            parse(value)
        elif value not in ("local", "docker"):
            raise ValueError(f"unknown staging {value!r}; use local, docker or a server URL "
                             f"(postgresql://USER@HOST/postgres)")
        return value

    @model_validator(mode="after")
    def _one_start(self) -> "RunConfig":
        if (self.snapshot is None) == (self.source is None):
            raise ValueError("give exactly one of --snapshot DIR or --source URL: a rehearsal starts from "
                             "a stored snapshot or pulls one from the source")
        if self.source is not None:  # a short or unreadable key fails before any database work
            from .secret import load_secret
            load_secret(secret_file=self.secret_file)
        return self

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            error = exc.errors()[0]
            loc = _loc_text(tuple(error["loc"]))
            what = f"{loc}: " if loc else ""
            raise BadInput(f"{what}{_error_text(error)}", hint="see `rehearse run --help`") from None

    def replace(self, **changes: Any) -> "RunConfig":
        return RunConfig(**{**self.__dict__, **changes})


def load_run_config(*, alembic_ini: Path, settings_file: Path | None = None, discover: bool = True,
                    ci: bool | None = None, **flags: Any) -> RunConfig:
    """Flags over the settings file's ``run:`` section over defaults, validated in one go.

    ``flags`` are RunConfig's fields plus ``lock_timeout``, ``statement_timeout``, ``timeout``,
    ``traffic_window`` and ``plan_budget`` (text such as "2s", or seconds); a flag that is None is
    "not given". ``strict`` defaults to on in CI (``CI=true``).
    """
    path = settings_file or (find_settings_file(Path(alembic_ini).parent) if discover else None)
    settings = read_settings(path)
    run = settings.data.run
    given = {k: v for k, v in flags.items() if v is not None}
    defaults = {k: v for k, v in run.model_dump().items() if v is not None}
    merged: dict[str, Any] = {**defaults, **given}
    lock_timeout = merged.pop("lock_timeout", None)
    if lock_timeout is not None and "lock_timeout_s" not in given:
        merged["lock_timeout_s"] = parse_duration(lock_timeout)
    for text, seconds in (("statement_timeout", "statement_timeout_s"), ("timeout", "timeout_s"),
                          ("traffic_window", "traffic_window_s"), ("plan_budget", "plan_budget_s"),
                          ("app_check_timeout", "app_check_timeout_s")):
        value = merged.pop(text, None)
        if value is not None and seconds not in given:
            merged[seconds] = parse_duration(value)
    if merged.get("lock_timeout_s") is not None:
        merged["traffic"] = True  # a lock timeout is judged against traffic
    if merged.get("fail_on") == "none":
        merged["fail_on"] = None
    settings_from = merged.pop("settings_from", None)
    file_settings = merged.pop("settings", None)  # run.settings: what --setting / --settings would give
    if settings_from is not None:
        merged["pg_settings"] = tuple(read_pg_settings_file(Path(settings_from))) + tuple(merged.get("pg_settings") or ())
    elif file_settings and "pg_settings" not in given:
        merged["pg_settings"] = setting_pairs(file_settings)
    if "strict" not in given:
        merged["strict"] = is_ci() if ci is None else ci
    if "policy" not in given and settings.policy is not None:
        merged["policy"] = settings.policy
    return RunConfig(alembic_ini=alembic_ini, settings_file=path,
                     invariants=tuple(i.invariant() for i in settings.data.invariants),
                     check_thresholds=settings.data.thresholds.checks,
                     risk_thresholds=settings.data.thresholds.risk, **merged)


def setting_pairs(value: Mapping[str, Any] | Any) -> tuple[tuple[str, str], ...]:
    """``--setting`` values ("name=value", (name, value)) or a ``settings:`` mapping -> (name, text) pairs.

    Only the form is checked here; :func:`checked_settings` asks the server whether it has them.
    """
    items = list(value.items()) if isinstance(value, Mapping) else list(value)
    pairs = []
    for item in items:
        if isinstance(item, str):
            name, sep, val = item.partition("=")
            if not sep:
                raise BadInput(f"--setting {item!r} is not name=value (e.g. work_mem=64MB)",
                               hint="write each setting as name=value")
            item = (name, val.strip().strip("'\""))
        name, val = str(item[0]).strip(), item[1]
        if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
            raise BadInput(f"--setting {name!r} is not a setting name (e.g. work_mem)",
                           hint="write each setting as name=value")
        if isinstance(val, bool):
            val = "on" if val else "off"  # YAML's on/off are booleans: PostgreSQL's spelling back
        pairs.append((name, str(val)))
    return tuple(pairs)


def checked_settings(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The pairs, named as the server names them; BadInput for one this server lacks or cannot set on a copy."""
    if not pairs:
        return ()
    from .pgbin import server_bindir
    from .pgsettings import check_settings
    return check_settings(pairs, str(server_bindir()[0]))


def parse_scale(text: str | list | tuple) -> tuple[float, ...]:
    """'1%,3%,10%' or '0.01,0.03' -> (0.01, 0.03, 0.1): distinct, growing, each in (0, 1)."""
    parts = text if isinstance(text, (list, tuple)) else str(text).split(",")
    hint = "write the subset sizes as percentages, e.g. --scale 1%,3%,10%,30%"
    values = []
    for raw in parts:
        item = str(raw).strip()
        if not item:
            continue
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(%?)", item)
        if match is None:
            raise BadInput(f"--scale: {item!r} is not a percentage", hint=hint)
        value = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
        if not match.group(2) and value >= 1:
            value /= 100.0  # a bare "10" means 10%
        if not 0 < value < 1:
            raise BadInput(f"--scale: {item} is not between 0% and 100% (exclusive)",
                           hint="the full size is rehearsed or read from the source; give only the smaller subsets")
        values.append(round(value, 6))
    values = sorted(set(values))
    if len(values) < 2:
        raise BadInput("--scale needs at least two subset sizes to fit a cost model", hint=hint)
    return tuple(values)


def read_pg_settings_file(path: Path) -> list[str]:
    """``--settings FILE``: ``name = value`` lines as in postgresql.conf (# comments), as name=value."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadInput(f"cannot read --settings file {path}: {exc.strerror}", hint="give an existing file") from None
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise BadInput(f"{path}:{number}: expected name = value, got {line!r}", hint="write e.g. work_mem = 64MB")
        name, _, value = line.partition("=")
        out.append(f"{name.strip()}={value.strip()}")
    return out


def parse_duration(text: str | None) -> float | None:
    """'2s', '500ms', '1.5', '1m' -> seconds."""
    if text is None or text == "":
        return None
    raw = str(text).strip().lower()
    units = (("ms", 0.001), ("s", 1.0), ("min", 60.0), ("m", 60.0), ("h", 3600.0))
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


def is_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- error text -------------------------------------------------------------------------------


def _loc_text(loc: tuple) -> str:
    return ".".join(str(part) for part in loc if not (isinstance(part, str) and part.startswith("function-")))


def _error_text(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    message = re.sub(r"^(Value|Assertion) error, ", "", message)
    if error.get("type") in ("extra_forbidden", "unexpected_keyword_argument"):
        message = "unknown setting"
    value = error.get("input")
    if error.get("type") not in ("extra_forbidden", "unexpected_keyword_argument", "missing") and not isinstance(value, (dict, list)):
        message += f" (got {value!r})"
    return message


def _pydantic_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = _loc_text(tuple(error["loc"]))
    return f"{loc}: {_error_text(error)}" if loc else _error_text(error)


def _yaml_lines(text: str) -> dict[tuple, int]:
    """Line (1-based) of every key and list item of a YAML document, by its path."""
    out: dict[tuple, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return out

    def walk(node: Any, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = path + (key.value,)
                out[here] = key.start_mark.line + 1
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                out[path + (index,)] = item.start_mark.line + 1
                walk(item, path + (index,))

    if root is not None:
        walk(root, ())
    return out


def _line_of(loc: tuple, lines: Mapping[tuple, int]) -> int | None:
    path = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
    # flat thresholds are routed into checks/risk: look for the key where the user wrote it
    candidates = [path]
    if len(path) >= 3 and path[0] == "thresholds" and path[1] in ("checks", "risk"):
        candidates.append(("thresholds",) + path[2:])
    for cut in range(len(path), 0, -1):
        for candidate in candidates:
            if candidate[:cut] in lines:
                return lines[candidate[:cut]]
    return None


def _toml_line(text: str, loc: tuple) -> int | None:
    keys = [str(p) for p in loc if isinstance(p, str) and not p.startswith("function-")]
    if not keys:
        return None
    pattern = re.compile(rf"^\s*{re.escape(keys[-1])}\s*=")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None
