"""The frozen dataclasses that cross stage boundaries; stages meet here and nowhere else.

snapshot -> Snapshot; staging -> StagingDatabase; migrate -> StepResult/StatementTrace;
rollback -> RollbackResult; checks -> Finding; pipeline -> Report. Renderers read only
the Report. ``to_dict``/``report_from_dict`` give the JSON form (report.json) and back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

REPORT_FORMAT_VERSION = 1

SEVERITIES = ("info", "low", "medium", "high", "critical")
# PostgreSQL's table lock modes, weakest first.
LOCK_MODES = ("AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
              "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
RISK_LEVELS = ("low", "medium", "high", "critical")
# PostgreSQL's table-level lock conflict matrix (docs: "Table-Level Lock Modes"): held -> modes it makes wait.
LOCK_CONFLICTS: Mapping[str, frozenset[str]] = {
    "AccessShareLock": frozenset({"AccessExclusiveLock"}),
    "RowShareLock": frozenset({"ExclusiveLock", "AccessExclusiveLock"}),
    "RowExclusiveLock": frozenset({"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}),
    "ShareUpdateExclusiveLock": frozenset({"ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock",
                                           "ExclusiveLock", "AccessExclusiveLock"}),
    "ShareLock": frozenset({"RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareRowExclusiveLock",
                            "ExclusiveLock", "AccessExclusiveLock"}),
    "ShareRowExclusiveLock": frozenset({"RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
                                        "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}),
    "ExclusiveLock": frozenset(set(LOCK_MODES) - {"AccessShareLock"}),
    "AccessExclusiveLock": frozenset(LOCK_MODES),
}


def severity_rank(level: str) -> int:
    return SEVERITIES.index(level) if level in SEVERITIES else 0


# --- source and snapshot ---------------------------------------------------------------


@dataclass(frozen=True)
class SourceInfo:
    """What rehearse learned about the source database (never a password)."""

    url: str  # redacted
    database: str
    server_version: str  # e.g. "15.20"
    server_version_num: int  # e.g. 150020
    alembic_revisions: tuple[str, ...] = ()
    settings: Mapping[str, str] = field(default_factory=dict)
    extensions: tuple[str, ...] = ()  # extension names installed in the source database
    roles: tuple[str, ...] = ()  # roles that own objects or hold grants (no passwords)
    encoding: str = "UTF8"
    collation: str | None = None

    @property
    def major(self) -> int:
        return self.server_version_num // 10000


@dataclass(frozen=True)
class TableData:
    """One table's data file in a snapshot."""

    schema: str
    name: str
    rows: int
    file: str  # relative to the snapshot directory
    sha256: str
    bytes: int
    columns: tuple[str, ...] = ()
    anonymized_columns: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Snapshot:
    """A snapshot directory whose manifest has been read (and, on restore, verified)."""

    path: Path
    source: SourceInfo
    tables: tuple[TableData, ...]
    created_at: str
    checksum: str  # sha256 of the manifest's content: the key for reuse
    policy_hash: str | None = None
    anonymized: bool = False
    leak_scan: Mapping[str, Any] = field(default_factory=dict)
    sequences: Mapping[str, int] = field(default_factory=dict)
    extras: Mapping[str, str] = field(default_factory=dict)  # more files (e.g. queries.json) -> sha256

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)


# --- staging -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagingDatabase:
    """A throwaway database ready to be restored into and migrated.

    ``url`` is a SQLAlchemy URL routed to psycopg2 (it may hold a password: pass it
    through ``urls.redact`` before showing it); ``dsn`` is the libpq form of the same.
    """

    kind: str  # "local" | "docker" | "server"
    url: str
    dsn: str
    database: str
    server_version: str
    server_version_num: int
    run_id: str
    connect_hint: str = ""  # how a person connects to it (for --keep)
    warnings: tuple[str, ...] = ()
    from_template: bool = False  # cloned from a kept restore of the same snapshot (--reuse)

    @property
    def major(self) -> int:
        return self.server_version_num // 10000


# --- migration tracing ---------------------------------------------------------------------


@dataclass(frozen=True)
class GraphRevision:
    """One revision of the project's history, as its own Alembic (in the child process) read it."""

    id: str
    message: str
    down_revisions: tuple[str, ...]
    file: str | None
    has_downgrade: bool
    dependencies: tuple[str, ...] = ()
    branch_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectGraph:
    """Every revision of a project plus where its files live: what planning and graph rules need."""

    revisions: tuple[GraphRevision, ...]
    version_locations: tuple[str, ...] = ()
    recursive: bool = False

    def revision(self, rev_id: str) -> GraphRevision | None:
        return next((r for r in self.revisions if r.id == rev_id), None)


@dataclass(frozen=True)
class LockTaken:
    """A relation lock a statement took, as seen in pg_locks for its backend."""

    relation: str
    mode: str
    blocks_reads: bool
    blocks_writes: bool
    held_s: float | None = None  # from acquisition until commit
    rows: int | None = None
    bytes: int | None = None


@dataclass(frozen=True)
class BlockedTraffic:
    """Normal queries (from the --traffic workload) that waited behind a migration statement."""

    table: str
    kind: str  # "read" | "write"
    blocked_s: float  # longest single wait
    total_blocked_s: float = 0.0  # summed over all waiting queries
    queries: int = 0  # how many queries waited
    blocker_statement: str | None = None
    blocker_lock_mode: str | None = None


@dataclass(frozen=True)
class StatementTrace:
    """One SQL statement a migration executed, with what it cost."""

    sql: str
    duration_s: float
    ok: bool = True
    error: str | None = None
    in_transaction: bool = True
    locks: tuple[LockTaken, ...] = ()
    rewrites: tuple[str, ...] = ()  # relations whose relfilenode changed
    catalog_changes: tuple[str, ...] = ()
    location: str | None = None  # "path/to/revision.py:42" of the line that issued it
    rows_affected: int | None = None
    probes: Mapping[str, Any] = field(default_factory=dict)  # measured before it ran (violating rows...)
    lock_wait_s: float = 0.0  # time this statement itself waited for locks held by others


@dataclass(frozen=True)
class StepResult:
    """One Alembic step (upgrade, downgrade or re-upgrade of one revision)."""

    ok: bool
    duration_s: float
    statements: tuple[StatementTrace, ...] = ()
    error: str | None = None
    failed_statement: str | None = None
    skipped: bool = False  # not attempted (e.g. an earlier step failed)
    blocked_traffic: tuple[BlockedTraffic, ...] = ()
    would_fail_lock_timeout: tuple[str, ...] = ()  # statements that --lock-timeout would have failed


# --- rollback ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaDiff:
    object: str  # "index public.ix_orders_created_at"
    kind: str  # "added" | "removed" | "changed"
    before: str | None
    after: str | None
    message: str  # one sentence for a person


@dataclass(frozen=True)
class DataDiff:
    table: str
    rows_before: int
    rows_after: int | None
    columns_changed: tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class RollbackResult:
    ok: bool
    classification: str = "reversible"  # reversible | irreversible | broken | missing | data-loss | not-run
    schema_diff: tuple[SchemaDiff, ...] = ()
    data_diff: tuple[DataDiff, ...] = ()
    duration_s: float = 0.0
    error: str | None = None
    # values the upgrade wrote (a new column's default, a backfill) that the downgrade throws
    # away: information about the rollback, not a failure of it
    discarded: tuple[DataDiff, ...] = ()
    # existing values the upgrade changed (a data migration) that the downgrade leaves as they are
    one_way: tuple[DataDiff, ...] = ()


# --- checks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """A rule's verdict on something: plain data, never an exception."""

    code: str  # stable, e.g. "RH101"
    name: str  # verb-led, e.g. "require-concurrent-index"
    severity: str  # one of SEVERITIES
    message: str
    revision: str | None = None
    statement: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    help: str | None = None
    location: str | None = None  # "file.py:line"
    phase: str = "upgrade"  # upgrade | downgrade | graph | drift | invariant
    accepted: str | None = None  # reason from a baseline file, when accepted


# --- rewrites ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewriteSide:
    """What one side of a rewrite comparison cost, rehearsed on the same data."""

    ok: bool
    duration_s: float
    lock_mode: str | None = None  # the longest-held lock that blocks reads or writes (None: none)
    lock_relation: str | None = None
    lock_held_s: float = 0.0
    blocked_s: float | None = None  # longest wait of a --traffic query (None: no traffic)
    error: str | None = None


@dataclass(frozen=True)
class RewriteResult:
    """A safer rewrite of one revision and, once rehearsed, how it compares with the original."""

    revision: str
    patterns: tuple[str, ...]
    codes: tuple[str, ...]  # the findings it answers
    suggested: bool
    reason: str  # why it is (not) suggested, one sentence
    releases: int = 1  # more than one: the change needs several deploys
    diff: str = ""  # unified patch from the original revision file to the rewritten one(s)
    original: RewriteSide | None = None
    rewritten: RewriteSide | None = None
    schema_equal: bool | None = None  # None: not rehearsed
    data_equal: bool | None = None
    differences: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


# --- query shapes from production (rehearse.queries) -------------------------------------


@dataclass(frozen=True)
class QueryShape:
    """One normalized statement the application runs (``$n`` for every constant: no data)."""

    query: str
    fingerprint: str  # libpg_query's fingerprint: the same shape whatever its constants or spacing
    kind: str  # "read" | "write"
    lock_mode: str  # the table lock it takes: AccessShareLock, RowShareLock (FOR UPDATE), RowExclusiveLock
    tables: tuple[str, ...]
    calls: int = 0
    calls_per_s: float | None = None  # None: the origin gave no rate (a log, a CSV without a window)
    mean_ms: float | None = None


@dataclass(frozen=True)
class QueryShapes:
    """The shapes of one source: from pg_stat_statements, a CSV export or a log (``origin``)."""

    origin: str  # "pg_stat_statements" | "csv:FILE" | "log:FILE" | "none"
    shapes: tuple[QueryShape, ...] = ()
    window_s: float | None = None  # seconds between the two pg_stat_statements samples
    dropped: int = 0  # statements not kept: a literal left in, not DML on a table, or not parseable
    note: str | None = None  # why there are none (e.g. the extension is not installed)


@dataclass(frozen=True)
class ShapeRun:
    """One shape run on staging at one moment: prepared, explained, timed."""

    fingerprint: str
    ok: bool
    error: str | None = None
    params: tuple[str | None, ...] = ()  # the sampled parameter values (text; None is NULL)
    seq_scans: tuple[str, ...] = ()  # relations the plan reads with a sequential scan
    indexes: tuple[str, ...] = ()  # indexes the plan uses
    plan: str = ""  # the plan's node lines, indented
    latency_ms: float | None = None  # minimum of the timed runs (the least noisy under contention)
    runs: int = 0
    cost: float | None = None  # the planner's estimated total cost: moves with the schema and statistics, not load
    # how the plan was made: "generic" (EXPLAIN (GENERIC_PLAN), PostgreSQL 16+: no parameter values) or
    # "sampled" (EXPLAIN EXECUTE with the sampled values); two plans are compared only when made the same way
    plan_method: str = "sampled"


@dataclass(frozen=True)
class PlanComparison:
    """A busy shape's plan and latency on staging before and after the upgrade."""

    query: str
    fingerprint: str
    calls_per_s: float | None
    before: ShapeRun
    after: ShapeRun
    lost_indexes: tuple[str, ...] = ()
    new_seq_scans: tuple[str, ...] = ()
    # latency beyond the noise margin *and* corroborated by the planner: the plan's shape changed,
    # or its estimated cost rose beyond plans.COST_MARGIN (a slower run with the same plan is noise)
    slower: bool = False
    plan_changed: bool = False  # the plan's node lines differ


@dataclass(frozen=True)
class DowntimeEstimate:
    """Production's requests that one measured lock would block, at the captured rates."""

    revision: str
    statement: str
    table: str
    lock_mode: str
    held_s: float
    wait_s: float  # the migration's own wait for the lock: requests queue behind it meanwhile
    reads_blocked: float
    writes_blocked: float
    read_shapes: int
    write_shapes: int
    lock_timeout_s: float | None = None  # the application's lock_timeout (the source's setting)
    would_fail: float | None = None  # requests that would wait longer than lock_timeout
    step: str = "upgrade"  # "upgrade" | "downgrade": a rollback is a deploy too

    @property
    def window_s(self) -> float:
        return self.wait_s + self.held_s


@dataclass(frozen=True)
class QueryForecast:
    """What production's own traffic would see (Report.queries; None when no shapes were given)."""

    origin: str
    shapes: int
    window_s: float | None = None
    dropped: int = 0
    note: str | None = None
    checked: bool = True  # False: no shapes, so compatibility, plans and downtime were not checked
    downtime: tuple[DowntimeEstimate, ...] = ()
    plans: tuple[PlanComparison, ...] = ()
    # the busiest shapes measured before the upgrade (the plans' ``before``), kept even when the
    # upgrade fails and nothing is compared: --target-version compares them with another version
    baseline_runs: tuple[ShapeRun, ...] = ()


# --- the application's own checks ---------------------------------------------------------------


@dataclass(frozen=True)
class AppCheckRun:
    """One run of a ``--app-check`` command against staging."""

    command: str
    moment: str  # before-upgrade | after-upgrade | after-rollback
    ok: bool
    exit_code: int | None
    duration_s: float
    timed_out: bool = False
    output_tail: str = ""  # the last lines of stdout and stderr together


# --- configuration changes -----------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsStatement:
    """One upgrade statement rehearsed without and with a configuration change."""

    revision: str
    index: int
    sql: str
    baseline_s: float | None  # the main rehearsal (None: it did not run there)
    changed_s: float | None  # with the settings applied (None: it did not run there)
    baseline_ok: bool = True
    changed_ok: bool = True
    differs: bool = False  # fails on one side only, or a duration beyond the noise margin
    note: str = ""


@dataclass(frozen=True)
class SettingsComparison:
    """``--setting``/``--settings``: the upgrade rehearsed again with a configuration change."""

    settings: Mapping[str, str]
    statements: tuple[SettingsStatement, ...] = ()
    noise: float = 0.25  # a duration differs when beyond this fraction (and 50 ms)
    # the busiest query shapes on the upgraded copy without (``before``) and with (``after``) the settings
    plans: tuple[PlanComparison, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionStatement:
    """One upgrade statement on the source's PostgreSQL version and on ``--target-version``."""

    revision: str
    index: int
    sql: str
    baseline_s: float | None  # the main rehearsal (None: it did not run there)
    target_s: float | None  # on the target version (None: it did not run there)
    baseline_ok: bool = True
    target_ok: bool = True
    baseline_error: str | None = None
    target_error: str | None = None
    locks_baseline_only: tuple[str, ...] = ()  # "MODE on relation" taken only on the source's version
    locks_target_only: tuple[str, ...] = ()
    differs: bool = False  # fails on one side only, a duration beyond the noise margin, or other locks
    note: str = ""


@dataclass(frozen=True)
class VersionComparison:
    """``--target-version N``: the upgrade rehearsed again on a server of another major version."""

    baseline_version: str  # the main staging's server_version
    target_version: str
    bindir: str  # where the target's server came from
    statements: tuple[VersionStatement, ...] = ()
    noise: float = 0.25
    # the busiest query shapes on the source's version (``before``) and the target's (``after``),
    # on the schema before the migration and on the migrated one
    plans_before_upgrade: tuple[PlanComparison, ...] = ()
    plans_after_upgrade: tuple[PlanComparison, ...] = ()
    warnings: tuple[str, ...] = ()


# --- scale extrapolation -----------------------------------------------------------------------


@dataclass(frozen=True)
class ScalePoint:
    """What one statement cost on one subset (``--scale``)."""

    fraction: float  # the subset's sampling fraction (0.01 = 1%)
    rows: int  # rows of the relation the statement's cost follows, in that subset
    duration_s: float
    lock_held_s: float = 0.0  # longest-held lock that blocks reads or writes


@dataclass(frozen=True)
class ScalePrediction:
    """One upgrade statement's cost fitted over the subsets and predicted at the full size."""

    revision: str
    index: int  # position among the revision's upgrade statements
    sql: str
    operation: str  # rewrite | index build | validate | backfill | catalog
    model: str  # "a + b*n", "a + b*n*log2(n)", "constant"
    relation: str | None
    target_rows: int
    points: tuple[ScalePoint, ...] = ()
    duration_s: float = 0.0
    duration_low_s: float | None = None  # 95% prediction interval (None: too few points)
    duration_high_s: float | None = None
    lock_held_s: float = 0.0
    lock_low_s: float | None = None
    lock_high_s: float | None = None
    extrapolation: float | None = None  # target rows / largest measured rows
    low_confidence: bool = False
    reasons: tuple[str, ...] = ()  # why it is low confidence
    measured_s: float | None = None  # the full size's own duration, when this run rehearsed it
    measured_lock_s: float | None = None
    parallel_workers: int = 0  # workers the full size's server plans for this index build (0: alone)
    # how much faster those workers built it on the largest subset (the prediction is divided by it)
    parallel_speedup: float | None = None


@dataclass(frozen=True)
class ScaleResult:
    """``--scale``: the history rehearsed on growing subsets, and its predicted cost at full size."""

    fractions: tuple[float, ...]
    target: str  # where the full size comes from: "snapshot" (rehearsed too) or "source" (pg_class)
    predictions: tuple[ScalePrediction, ...] = ()
    rows: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # table -> {fraction|"full": rows}
    duration_s: float = 0.0
    warnings: tuple[str, ...] = ()


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevisionResult:
    id: str
    message: str
    down_revisions: tuple[str, ...]
    file: str | None
    upgrade: StepResult
    downgrade: StepResult | None = None
    reupgrade: StepResult | None = None
    rollback: RollbackResult | None = None
    findings: tuple[Finding, ...] = ()
    risk: str = "low"
    risk_reasons: tuple[str, ...] = ()
    not_rehearsed: str | None = None  # "not rehearsed: because ..." when another revision stopped it


@dataclass(frozen=True)
class Report:
    source: str  # redacted URL or snapshot path
    start_revision: str | None
    target_revision: str | None
    revisions: tuple[RevisionResult, ...]
    rollback: RollbackResult
    reupgrade: StepResult | None
    outcome: str  # "pass" | "fail"
    staging: str = "local"
    snapshot: str | None = None
    findings: tuple[Finding, ...] = ()  # not tied to one revision (graph, drift...)
    risk: str = "low"
    started_at: str = ""
    duration_s: float = 0.0
    stages: Mapping[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()  # one line per reason the outcome is "fail"
    scope: tuple[str, ...] = ()  # revisions rules and the gate apply to (--changed-since); empty = all
    tool_version: str = ""
    format_version: int = REPORT_FORMAT_VERSION
    rewrites: tuple[RewriteResult, ...] = ()  # with --suggest-rewrites
    queries: QueryForecast | None = None  # production's query shapes: compatibility, plans, downtime
    scale: ScaleResult | None = None  # with --scale
    app_checks: tuple[AppCheckRun, ...] = ()  # with --app-check
    settings_change: SettingsComparison | None = None  # with --setting / --settings
    version_change: VersionComparison | None = None  # with --target-version

    def all_findings(self) -> list[Finding]:
        found = list(self.findings)
        for rev in self.revisions:
            found.extend(rev.findings)
        return found


def to_dict(obj: Any) -> Any:
    """JSON-ready form of any model object (tuples become lists, Paths strings)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _build(cls: type, data: Mapping[str, Any] | None) -> Any:
    if data is None:
        return None
    kwargs: dict[str, Any] = {}
    nested = _NESTED.get(cls, {})
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in names:
            continue  # newer report fields are ignored by older readers
        kind = nested.get(key)
        if kind is None:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
        elif isinstance(kind, list):
            kwargs[key] = tuple(_build(kind[0], v) for v in (value or ()))
        else:
            kwargs[key] = _build(kind, value)
    return cls(**kwargs)


_NESTED: dict[type, dict[str, Any]] = {
    StatementTrace: {"locks": [LockTaken]},
    StepResult: {"statements": [StatementTrace], "blocked_traffic": [BlockedTraffic]},
    RollbackResult: {"schema_diff": [SchemaDiff], "data_diff": [DataDiff], "discarded": [DataDiff],
                     "one_way": [DataDiff]},
    RevisionResult: {"upgrade": StepResult, "downgrade": StepResult, "reupgrade": StepResult,
                     "rollback": RollbackResult, "findings": [Finding]},
    Report: {"revisions": [RevisionResult], "rollback": RollbackResult, "reupgrade": StepResult,
             "findings": [Finding], "rewrites": [RewriteResult], "queries": QueryForecast,
             "scale": ScaleResult, "app_checks": [AppCheckRun], "settings_change": SettingsComparison,
             "version_change": VersionComparison},
    QueryForecast: {"downtime": [DowntimeEstimate], "plans": [PlanComparison], "baseline_runs": [ShapeRun]},
    PlanComparison: {"before": ShapeRun, "after": ShapeRun},
    QueryShapes: {"shapes": [QueryShape]},
    SettingsComparison: {"statements": [SettingsStatement], "plans": [PlanComparison]},
    VersionComparison: {"statements": [VersionStatement], "plans_before_upgrade": [PlanComparison],
                        "plans_after_upgrade": [PlanComparison]},
    ScaleResult: {"predictions": [ScalePrediction]},
    ScalePrediction: {"points": [ScalePoint]},
    RewriteResult: {"original": RewriteSide, "rewritten": RewriteSide},
}


def report_from_dict(data: Mapping[str, Any]) -> Report:
    """Rebuild a Report from its report.json form (for `rehearse report`)."""
    return _build(Report, data)
