"""Pulling an anonymized, consistent snapshot out of a source database without writing to it.

One REPEATABLE READ READ ONLY transaction exports a snapshot; pg_dump (schema only) and every
data worker join that snapshot, so all tables come from the same instant. Workers stream each
table's COPY output: tables without personal columns go straight into zstd, the others are
worked a batch and a column at a time (sink.py) and re-encoded. Nothing is ever loaded
whole, nothing is created in the source (no temp tables, no functions), and the manifest is
written last into a temporary directory that is renamed into place only after the leak scan
passed: a failed pull never leaves a snapshot that looks complete. With ``--subset`` each table's
COPY (SELECT ...) also carries its row predicate, closed over foreign keys (see subset.py).
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import signal
import queue as _queue
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import psycopg2
import psycopg2.extensions

from .. import pgbin, urls
from ..secret import load_secret
from ..anonymize.detect import classify
from ..anonymize.dictionary import DICTIONARY_KINDS, ValueDictionary
from ..anonymize.leak import LeakRecorder, find_leaks
from ..anonymize.policy import Policy, load_policy
from ..anonymize.transform import FAKES_VERSION, Anonymizer, ColumnType, Rule, copy_decode
from ..errors import BadInput, InfrastructureError, LeakDetected, PolicyError, SnapshotError, SourceUnreachable
from ..model import Snapshot, SourceInfo, TableData
from .catalog import TableInfo, quote_ident, read_sequences, read_source_info, read_tables
from .format import FORMAT, FORMAT_VERSION, SCHEMA_FILE, read_snapshot, sha256_file, write_manifest
from .sink import Sink
from .subset import SubsetPlan, SubsetSpec, load_subset, plan_subset

SAMPLE_ROWS = 1000


# --- connecting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Conn:
    dsn: str  # without the password
    password: str | None
    redacted: str

    def connect(self, *, readonly_snapshot: str | None = None):
        try:
            conn = psycopg2.connect(self.dsn, password=self.password, application_name="rehearse-snapshot") \
                if self.password else psycopg2.connect(self.dsn, application_name="rehearse-snapshot")
        except psycopg2.OperationalError as exc:
            reason = " ".join(str(exc).strip().splitlines()[:1]) or "connection refused"
            raise SourceUnreachable(f"cannot connect to the source {self.redacted}: {reason}",
                                    hint="check host, port, database and credentials, and that the server "
                                         "accepts connections from here") from None
        conn.set_client_encoding("UTF8")
        conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        if readonly_snapshot:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION SNAPSHOT %s", (readonly_snapshot,))
                cur.execute("SET LOCAL statement_timeout = 0")
        return conn

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def _conn_for(source_url: str) -> _Conn:
    if "://" not in source_url:  # a libpq DSN
        return _Conn(source_url, None, urls.redact(source_url))
    parsed = urls.parse(source_url)
    password = parsed.password
    return _Conn(urls.libpq_dsn(parsed.set(password=None)), str(password) if password else None,
                 urls.redact(source_url))


def inspect_source(source_url: str) -> SourceInfo:
    """Server version, settings, extensions, roles and Alembic revision of the source (read only)."""
    c = _conn_for(source_url)
    conn = c.connect()
    try:
        with conn.cursor() as cur:
            return read_source_info(cur, c.redacted)
    finally:
        conn.rollback()
        conn.close()


# --- the plan: what happens to every column ----------------------------------------------------


@dataclass(frozen=True)
class ColumnPlan:
    name: str
    type: ColumnType
    rule: Rule | None  # None: copied as is
    column_id: int  # index into Plan.column_names (for the leak report)


@dataclass(frozen=True)
class TablePlan:
    table: TableInfo
    columns: tuple[ColumnPlan, ...]
    file: str
    skip_data: bool = False
    where: str | None = None  # the subset's predicate for this table (None: every row)

    @property
    def anonymized(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.rule is not None and c.rule.changes_values)


@dataclass
class Plan:
    tables: list[TablePlan] = field(default_factory=list)
    column_names: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)  # "schema.table.column" -> label (+ origin)
    server_major: int | None = None


_TYPE_FITS: dict[str, tuple[str, ...]] = {
    "date_of_birth": ("S", "D"), "ipv4": ("S", "I"), "ipv6": ("S", "I"), "uuid": ("S", "U"),
}


def _check_fit(rule: Rule, ctype: ColumnType, where: str, file: str | None) -> None:
    def refuse(msg: str, hint: str) -> PolicyError:
        return PolicyError(msg, file=file, line=rule.line, key=where, hint=hint)

    s = rule.strategy
    if s == "keep":
        return
    if s == "null":
        if ctype.not_null:
            raise refuse(f"null on a NOT NULL column ({ctype.name})", "use fake:..., hash or constant instead")
        return
    if s == "json":
        if not ctype.is_json:
            raise refuse(f"strategy json on a {ctype.name} column", "json applies to json/jsonb columns")
        return
    if ctype.is_json and s not in ("constant",):
        raise refuse(f"{rule.label} on a {ctype.name} column would not be valid JSON",
                     "use strategy json with paths, or constant/null")
    if s == "hash" and ctype.numeric_bits:
        return
    allowed = ("S",)
    if s == "fake":
        allowed = _TYPE_FITS.get(rule.kind or "", ("S",))
    elif s == "shift_date":
        allowed = ("D", "S")
    elif s == "constant":
        return
    if ctype.category not in allowed:
        raise refuse(f"{rule.label} cannot produce a value of type {ctype.name}",
                     "pick a strategy that fits the type (hash, constant, null, keep)")


def _check_unique(rule: Rule, ctype: ColumnType, where: str, file: str | None) -> None:
    if not ctype.unique or not rule.changes_values:
        return
    ok = rule.collision_free
    if rule.strategy == "hash" and ctype.numeric_bits and ctype.numeric_bits < 64:
        ok = False
    if rule.strategy == "hash" and ctype.max_length and ctype.max_length < 16:
        ok = False
    if not ok:
        raise PolicyError(
            f"{rule.label} can give two rows the same value, but the column is unique (primary key or "
            f"unique index), so the restore would fail", file=file, line=rule.line, key=where,
            hint="use a collision-free strategy: fake:email, fake:username, fake:uuid, fake:url or hash")


def _samples(cur, table: TableInfo, columns: list[str], rows: int) -> dict[str, list[str]]:
    if not columns or rows <= 0:
        return {c: [] for c in columns}
    cols = ", ".join(f"{quote_ident(c)}::text" for c in columns)
    cur.execute(f"SELECT {cols} FROM {table.ident} LIMIT %s", (rows,))
    out: dict[str, list[str]] = {c: [] for c in columns}
    for row in cur.fetchall():
        for c, v in zip(columns, row):
            if v is not None:
                out[c].append(v)
    return out


def build_plan(cur, tables: list[TableInfo], policy: Policy | None, *, strict: bool,
               anonymize: bool = True, sample_rows: int = SAMPLE_ROWS) -> Plan:
    """Decide every column's fate, and refuse unsafe rules, before any row is copied."""
    plan = Plan()
    file = policy.path if policy else None
    strict = strict or bool(policy and policy.strict)
    if strict and policy is None and anonymize:
        raise PolicyError("strict mode needs a policy that names every table and column",
                          hint="write one with `rehearse scan SOURCE -o rehearse.yaml` and pass --policy")
    effective: dict[tuple[str, str, str], Rule] = {}
    uncovered: list[str] = []
    unacknowledged: list[str] = []
    by_name = {t.qualified: t for t in tables}
    # pass 1: rules from the policy, or found by looking at the column
    for t in tables:
        tpol = policy.table(t.schema, t.name) if policy else None
        if not anonymize or (tpol and tpol.skip_data):
            continue
        missing = [c.name for c in t.columns if not (tpol and c.name in tpol.columns)]
        keep_check = [c for c, r in (tpol.columns.items() if tpol else ()) if r.strategy == "keep"
                      and not r.acknowledge and strict]
        if strict and t.name != "alembic_version":  # Alembic's bookkeeping holds no one's data
            uncovered.extend(f"{t.qualified}.{c}" for c in missing
                             if not _fk_rule_source(t, c, by_name, policy))
        to_sample = [c for c in (missing if not strict else []) + keep_check if t.column(c)]
        samples = _samples(cur, t, to_sample, sample_rows) if to_sample else {}
        for col in t.columns:
            rule = tpol.columns.get(col.name) if tpol else None
            if rule is not None and col.name in keep_check:
                v = classify(col.name, col.type.name, col.type.category, samples.get(col.name, []),
                             is_json=col.type.is_json, is_array=col.type.is_array)
                if v.personal:
                    unacknowledged.append(f"{t.qualified}.{col.name} ({v.why})")
            if rule is None and not strict:
                v = classify(col.name, col.type.name, col.type.category, samples.get(col.name, []),
                             is_json=col.type.is_json, is_array=col.type.is_array)
                if v.personal:
                    rule = v.rule
                    if col.type.unique and not rule.collision_free:
                        # a guess must never make the restore fail: a keyed hash cannot collide
                        rule = replace(rule, strategy="hash", kind=None, options={},
                                       why=f"{rule.why or rule.label}; unique column, so hashed")
            if rule is not None:
                effective[(t.schema, t.name, col.name)] = rule
        if policy is not None:
            for cname in (tpol.columns if tpol else {}):
                if not t.column(cname):
                    plan.warnings.append(f"policy names {t.qualified}.{cname}, which the source does not have")
    if policy is not None:
        known = {t.qualified for t in tables}
        for q, tp in policy.tables.items():
            if q not in known:
                plan.warnings.append(f"policy names table {q}, which the source does not have")
    # pass 2: foreign keys follow the column they reference, so joins survive anonymization
    for t in tables:
        for fk in t.foreign_keys:
            for col, rcol in zip(fk.columns, fk.ref_columns):
                ref = effective.get((fk.ref_schema, fk.ref_table, rcol))
                mine = effective.get((t.schema, t.name, col))
                if ref is None or not ref.changes_values:
                    continue
                if mine is None or (mine.origin == "auto" and mine.label != ref.label):
                    effective[(t.schema, t.name, col)] = replace(ref, origin="foreign-key", line=None)
                elif mine.label != ref.label or dict(mine.options) != dict(ref.options):
                    raise PolicyError(
                        f"{t.qualified}.{col} references {fk.ref_schema}.{fk.ref_table}.{rcol}, which is "
                        f"{ref.label}, but is itself {mine.label}: the foreign key would break",
                        file=file, line=mine.line, key=f"tables.{t.qualified}.columns.{col}",
                        hint=f"give both the same strategy ({ref.label}) or leave the referencing column out")
    if uncovered:
        more = f" and {len(uncovered) - 8} more" if len(uncovered) > 8 else ""
        raise PolicyError(f"strict mode: the policy does not cover {', '.join(uncovered[:8])}{more}",
                          file=file, hint="add them to the policy (keep with acknowledge: true if not personal), "
                                          "or run `rehearse scan` to draft the rules")
    if unacknowledged:
        raise PolicyError(f"strict mode: kept columns look personal: {'; '.join(unacknowledged[:8])}",
                          file=file, hint="anonymize them, or mark them `acknowledge: true` if that is intended")
    # pass 3: validate against types and unique keys, and lay out the plan
    for n, t in enumerate(tables, 1):
        tpol = policy.table(t.schema, t.name) if policy else None
        cols = []
        for col in t.columns:
            rule = effective.get((t.schema, t.name, col.name))
            where = f"tables.{t.qualified}.columns.{col.name}"
            if rule is not None:
                _check_fit(rule, col.type, where, file)
                _check_unique(rule, col.type, where, file)
                if rule.origin == "auto" and rule.changes_values:
                    plan.warnings.append(f"{t.qualified}.{col.name} is not in the policy and looks personal "
                                         f"({rule.why or rule.label}): anonymized with {rule.label}")
                plan.rules[f"{t.qualified}.{col.name}"] = rule.label + ("" if rule.origin == "policy"
                                                                         else f" ({rule.origin})")
            plan.column_names.append(f"{t.qualified}.{col.name}")
            cols.append(ColumnPlan(col.name, col.type, rule if rule and rule.changes_values else None,
                                   len(plan.column_names) - 1))
        plan.tables.append(TablePlan(t, tuple(cols), f"data/{n:04d}.copy.zst",
                                     bool(tpol and tpol.skip_data)))
    return plan


def _fk_rule_source(t: TableInfo, column: str, by_name: dict[str, TableInfo], policy: Policy | None) -> bool:
    """A column the policy omits is still covered when it references a column the policy anonymizes."""
    if policy is None:
        return False
    for fk in t.foreign_keys:
        if column in fk.columns:
            rcol = fk.ref_columns[fk.columns.index(column)]
            rule = policy.rule_for(fk.ref_schema, fk.ref_table, rcol)
            if rule is not None:
                return True
    return False


# --- the workers -----------------------------------------------------------------------------

_STATE: dict[str, Any] = {}  # set in the parent before the pool forks; read-only in workers


class _HashingFile:
    """A file that hashes and counts what is written through it."""

    def __init__(self, fh) -> None:
        self.fh, self.sha, self.bytes = fh, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.bytes += len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


def _copy_part(task: tuple[int, int, int | None, int | None]) -> dict[str, Any]:
    """Copy one table, or one block range of a big table, into its own compressed file."""
    index, part, lo, hi = task
    st = _STATE
    tp: TablePlan = st["plan"].tables[index]
    conn_info: _Conn = st["conn"]
    out_path = Path(st["dir"]) / (tp.file if lo is None else f"{tp.file}.part{part:03d}")
    recorder = LeakRecorder(Path(st["leak_dir"]), f"{os.getpid()}-{index}-{part}", st["leak_key"]) \
        if st["leak_key"] else None
    q = st.get("queue")
    started = time.monotonic()
    report = (lambda rows: q.put((index, part, rows))) if q is not None else (lambda rows: None)
    report(0)
    where = ""
    if lo is not None:  # a TID range scan reads only these heap blocks
        where = f" WHERE ctid >= '({lo},0)'::tid" + (f" AND ctid < '({hi},0)'::tid" if hi is not None else "")
    if tp.where is not None:
        where = (f"{where} AND ({tp.where})" if where else f" WHERE {tp.where}")
    conn = conn_info.connect(readonly_snapshot=st["snapshot_id"])
    try:
        with open(out_path, "wb") as raw:
            hashed = _HashingFile(raw)
            sink = Sink(hashed, tp, st.get("anonymizer"), recorder, report)
            sql = f"COPY (SELECT {', '.join(sink.select)} FROM ONLY {tp.table.ident}{where}) TO STDOUT"
            with conn.cursor() as cur:
                if sink.raw:  # no Python per row: the compressor's C write is COPY's target
                    cur.copy_expert(sql, sink.writer, size=1 << 20)
                    sink.rows = max(cur.rowcount, 0)
                else:
                    cur.copy_expert(sql, sink)
            sink.close()
    finally:
        conn.rollback()
        conn.close()
        if recorder is not None:
            recorder.close()
    report(sink.rows)
    return {"index": index, "part": part, "file": str(out_path), "rows": sink.rows,
            "sha256": hashed.sha.hexdigest(), "bytes": hashed.bytes, "seconds": time.monotonic() - started}


def _join_parts(parts: list[dict[str, Any]], target: Path) -> dict[str, Any]:
    """Concatenate a table's part files (zstd frames concatenate into one valid stream)."""
    if len(parts) == 1 and parts[0]["file"] == str(target):
        return parts[0]
    sha, size = hashlib.sha256(), 0
    with open(target, "wb") as out:
        for r in sorted(parts, key=lambda r: r["part"]):
            with open(r["file"], "rb") as f:
                while block := f.read(1 << 20):
                    sha.update(block)
                    size += len(block)
                    out.write(block)
            os.unlink(r["file"])
    return {"index": parts[0]["index"], "rows": sum(r["rows"] for r in parts), "sha256": sha.hexdigest(),
            "bytes": size, "seconds": max(r["seconds"] for r in parts)}


SPLIT_PAGES = 1024  # tables above 8 MB of heap are copied by all workers at once, in block ranges


def _tasks(plan: Plan, jobs: int) -> list[tuple[int, int, int | None, int | None]]:
    tasks = []
    order = sorted((i for i, tp in enumerate(plan.tables) if not tp.skip_data),
                   key=lambda i: -plan.tables[i].table.est_bytes)  # biggest first: shortest wall time
    for i in order:
        pages = plan.tables[i].table.heap_pages
        if jobs > 1 and pages > SPLIT_PAGES:
            # twice as many ranges as workers on big tables: a worker that gets less CPU (the
            # cores are shared with the server and whatever else runs) leaves less work to wait for
            parts = jobs * 2 if pages > 4 * SPLIT_PAGES else jobs
            step = -(-pages // parts)
            for part in range(parts):
                lo = part * step
                hi = None if part == parts - 1 else (part + 1) * step  # the last range is open-ended
                tasks.append((i, part, lo, hi))
        else:
            tasks.append((i, 0, None, None))
    return tasks


# --- the pull --------------------------------------------------------------------------------


def _say_stderr(line: str) -> None:
    print(f"rehearse: {line}", file=sys.stderr, flush=True)


def pull_snapshot(source_url: str, out_dir: Path, *, policy_path: Path | None = None, secret: bytes | None = None,
                  strict: bool = False, jobs: int = 2, progress: bool = False, subset: Path | None = None,
                  anonymize: bool = True, sample_rows: int = SAMPLE_ROWS, secret_file: Path | None = None,
                  say: Callable[[str], None] | None = _say_stderr) -> Snapshot:
    """Pull an anonymized snapshot of ``source_url`` into ``out_dir`` (which must not hold one yet).

    ``say`` hears, one line each, what the pull decided on its own (a random key, columns
    anonymized because they look personal, policy entries the source does not have).
    """
    say = say or (lambda _: None)
    spec = load_subset(subset) if subset is not None else None  # refuse a bad file before connecting
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise SnapshotError(f"{out_dir} already exists and is not empty",
                            hint="choose a new directory or delete the old snapshot")
    key = load_secret(secret, secret_file) if anonymize else None
    policy = load_policy(policy_path) if policy_path is not None and anonymize else None
    conn_info = _conn_for(source_url)
    conn = conn_info.connect()
    tmp = out_dir.parent / f"{out_dir.name}.tmp-{os.getpid()}"
    started = time.monotonic()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot_id = cur.fetchone()[0]
            source = read_source_info(cur, conn_info.redacted)
            tables = read_tables(cur)
            sequences = read_sequences(cur)
            plan = build_plan(cur, tables, policy, strict=strict, anonymize=anonymize, sample_rows=sample_rows)
            plan.server_major = source.major
            subset_plan = _apply_subset(cur, plan, tables, spec) if spec is not None else None
        if tmp.exists():
            shutil.rmtree(tmp)
        # 0700 before anything is written into it: kept columns carry raw production values
        tmp.mkdir(mode=0o700, parents=True)
        (tmp / "data").mkdir(mode=0o700)
        if key is not None and key.random:
            say("REHEARSE_SECRET is not set: fakes use a random key for this snapshot only "
                "(consistent inside it, different in the next one)")
        for line in plan.warnings:
            say(line)
        timings: dict[str, float] = {"plan_s": time.monotonic() - started}
        dump = _start_schema_dump(conn_info, snapshot_id, source, tmp / SCHEMA_FILE)  # runs beside the data
        try:
            mark = time.monotonic()
            anonymizer = None
            if anonymize:
                anonymizer = Anonymizer(key.key, policy.locale if policy else "en_US")
                rules = [c.rule for t in plan.tables for c in t.columns if c.rule is not None]
                anonymizer.prepare(rules)
                anonymizer.dictionary = _value_dictionary(conn, plan, anonymizer)
                if anonymizer.dictionary is not None:
                    d = anonymizer.dictionary
                    timings["dictionary_values"] = d.values
                    say(f"value dictionary: {d.values:,} original personal values will be removed from "
                        f"kept text, JSON and arrays" + (f" ({d.overflow:,} of them as hashes)" if d.overflow else ""))
            timings["pools_s"] = time.monotonic() - mark
            mark = time.monotonic()
            results = _run_workers(plan, conn_info, snapshot_id, tmp, anonymizer, jobs=jobs, progress=progress)
            timings["data_s"] = time.monotonic() - mark
        finally:
            _finish_schema_dump(dump)
        mark = time.monotonic()
        leak_scan: dict[str, Any] = {"performed": False}
        if anonymize:
            leaks, originals, written = find_leaks(tmp / ".leak", plan.column_names)
            leak_scan = {"performed": True, "originals_checked": originals, "values_scanned": written,
                         "leaks": len(leaks)}
            if leaks:
                first = leaks[0]
                raise LeakDetected(
                    f"leak scan: original values of {first.original_column} appear in {first.written_column}"
                    + (f" (and {len(leaks) - 1} more column pairs)" if len(leaks) > 1 else "")
                    + "; no snapshot was written",
                    hint=f"add a rule for {first.written_column} to the policy (e.g. scrub or fake:...)")
        shutil.rmtree(tmp / ".leak", ignore_errors=True)
        timings["leak_scan_s"] = time.monotonic() - mark
        table_data = []
        for tp in plan.tables:
            if tp.skip_data:
                continue
            r = results[tp.file]
            table_data.append(TableData(schema=tp.table.schema, name=tp.table.name, rows=r["rows"], file=tp.file,
                                        sha256=r["sha256"], bytes=r["bytes"],
                                        columns=tuple(c.name for c in tp.columns), anonymized_columns=tp.anonymized))
        manifest = {
            "format": FORMAT, "version": FORMAT_VERSION,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": source,
            "alembic_revision": source.alembic_revisions[0] if len(source.alembic_revisions) == 1 else
            list(source.alembic_revisions) or None,
            "policy_hash": policy.digest if policy else None,
            "anonymized": anonymize,
            # which keyed hash chose the fakes: snapshots pulled with the same secret and the same
            # fakes version give every value the same fake
            "fakes_version": FAKES_VERSION if anonymize else None,
            # a random key: the same value gets another fake in the next snapshot
            "fakes_stable_across_snapshots": (not key.random) if key is not None else None,
            "secret_origin": key.origin if key is not None else None,
            "strict": bool(strict or (policy and policy.strict)),
            "schema": {"file": SCHEMA_FILE, "sha256": sha256_file(tmp / SCHEMA_FILE),
                       "bytes": (tmp / SCHEMA_FILE).stat().st_size},
            "tables": table_data,
            "skipped_tables": [tp.table.qualified for tp in plan.tables if tp.skip_data],
            "sequences": sequences,
            "leak_scan": leak_scan,
            "subset": subset_plan.manifest(spec) if subset_plan is not None else None,
            "rules": plan.rules,
            "warnings": plan.warnings,
            "duration_s": round(time.monotonic() - started, 3),
            "timings": {k: round(v, 3) for k, v in timings.items()},
        }
        write_manifest(tmp, manifest)
        _private_files(tmp)
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        try:
            conn.rollback()
            conn.close()
        except psycopg2.Error:
            pass
    return read_snapshot(out_dir, verify=False)


class _Lines:
    """A COPY target that feeds each decoded line (one value) to ``add`` (no table held in memory)."""

    def __init__(self, add: Callable[[list[str]], None]) -> None:
        self.add, self.rest = add, b""

    def write(self, data: bytes) -> int:
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()
        self.add([copy_decode(v.decode("utf-8", "surrogateescape")) for v in lines if v != b"\\N"])
        return len(data)


def _value_dictionary(conn, plan: Plan, anonymizer: Anonymizer) -> ValueDictionary | None:
    """The original values of every personal text column, read in the pull's own snapshot.

    Built only when something can carry a copy of them: a kept text-like, JSON or array column,
    or free text that is scrubbed. Read column by column (distinct values), before any worker starts.
    """
    personal: list[tuple[TablePlan, ColumnPlan, str]] = []
    carriers = False
    for tp in plan.tables:
        for c in tp.columns:
            r = c.rule
            if r is None:
                carriers = carriers or c.type.category in ("S", "U", "I", "X") or c.type.is_json or c.type.is_array
            elif r.strategy == "scrub":
                carriers = True
            elif c.type.category == "S" and not c.type.is_array and not c.type.is_json:
                kind = r.kind if r.strategy == "fake" else "hash" if r.strategy in ("hash", "mask") \
                    else None
                if kind in DICTIONARY_KINDS:
                    personal.append((tp, c, kind))
    if not personal or not carriers:
        return None
    fakes: dict[str, Callable[[list[str]], list[str]]] = {}

    def replace(value: str, kind: str) -> str:
        fn = fakes.get(kind)
        if fn is None:
            fn = fakes[kind] = anonymizer.hashes(ColumnType(), 16) if kind == "hash" else anonymizer.fakes(kind)
        return fn([value])[0]

    d = ValueDictionary(replace)
    with conn.cursor() as cur:
        for tp, c, kind in personal:
            col = quote_ident(c.name)
            where = f" AND ({tp.where})" if tp.where else ""
            cur.copy_expert(f"COPY (SELECT DISTINCT {col}::text FROM ONLY {tp.table.ident} WHERE {col} IS NOT NULL"
                            f"{where}) TO STDOUT", _Lines(lambda vs, k=kind: d.add(vs, k)), size=1 << 20)
    d.build()
    return d if d else None


def _private_files(root: Path) -> None:
    """Every file of the snapshot 0600 and every directory 0700 (they hold kept raw values)."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o700)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o600)


def _apply_subset(cur, plan: Plan, tables: list[TableInfo], spec: SubsetSpec) -> SubsetPlan:
    """Give every table plan its subset predicate, and let the source check each one before any copy."""
    skip = frozenset(tp.table.qualified for tp in plan.tables if tp.skip_data)
    sp = plan_subset(tables, spec, skip=skip)
    plan.warnings.extend(sp.warnings)
    for n, tp in enumerate(plan.tables):
        where = sp.where.get(tp.table.qualified)
        if where is None or tp.skip_data:
            continue
        plan.tables[n] = replace(tp, where=where)
        try:
            cur.execute("SAVEPOINT rehearse_subset")
            cur.execute(f"EXPLAIN SELECT 1 FROM ONLY {tp.table.ident} WHERE {where}")
            cur.execute("RELEASE SAVEPOINT rehearse_subset")
        except psycopg2.Error as exc:
            cur.execute("ROLLBACK TO SAVEPOINT rehearse_subset")
            rule = spec.rules.get(tp.table.qualified)
            reason = (str(exc).strip().splitlines() or ["invalid"])[0]
            raise BadInput(f"subset {spec.path or ''}: the rows of {tp.table.qualified} cannot be selected: {reason}",
                           hint=f"check the rule {rule!r}" if rule else
                           "check the rules of the tables that reference it") from None
    return sp


def _start_schema_dump(conn_info: _Conn, snapshot_id: str, source: SourceInfo, path: Path) -> subprocess.Popen:
    pg_dump = pgbin.client_tool("pg_dump", source.major)
    # subscriptions would make staging connect to production's publishers: never copy them
    cmd = [pg_dump, "--schema-only", "--format=custom", f"--snapshot={snapshot_id}", "--no-subscriptions",
           "--no-publications", "--lock-wait-timeout=60000", f"--file={path}", f"--dbname={conn_info.dsn}"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=conn_info.env())


def _finish_schema_dump(proc: subprocess.Popen) -> None:
    _, stderr = proc.communicate()
    if proc.returncode != 0:
        reason = urls.redact((stderr.strip().splitlines() or ["no output"])[-1])
        raise InfrastructureError(f"pg_dump --schema-only failed: {reason}",
                                  hint="check the source's permissions and that pg_dump matches its version")


def _worker_signals() -> None:
    """Readers leave interrupts to the parent (which tears everything down) and die plainly on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _run_workers(plan: Plan, conn_info: _Conn, snapshot_id: str, tmp: Path, anonymizer: Anonymizer | None,
                 *, jobs: int, progress: bool) -> dict[str, dict[str, Any]]:
    tasks = _tasks(plan, jobs)
    ctx = mp.get_context("fork")
    q = ctx.Queue() if progress else None
    _STATE.clear()
    _STATE.update(plan=plan, conn=conn_info, dir=str(tmp), snapshot_id=snapshot_id, anonymizer=anonymizer,
                  leak_dir=str(tmp / ".leak"), leak_key=b"hash" if anonymizer else None,
                  queue=q)
    parts: dict[int, list[dict[str, Any]]] = {}
    bar = _Progress(plan, sorted({t[0] for t in tasks})) if progress else None
    try:
        if jobs <= 1 or len(tasks) <= 1:
            for task in tasks:
                r = _copy_part(task)
                parts.setdefault(r["index"], []).append(r)
                if bar:
                    bar.drain(q)
        else:
            pool = ctx.Pool(processes=min(jobs, len(tasks)), initializer=_worker_signals)
            try:
                pending = [pool.apply_async(_copy_part, (task,)) for task in tasks]
                while pending:
                    for p in list(pending):
                        if p.ready():
                            r = p.get()  # re-raises a worker's error here
                            parts.setdefault(r["index"], []).append(r)
                            pending.remove(p)
                    if bar:
                        bar.drain(q)
                    if pending:
                        pending[0].wait(0.1)
                # idle workers exit on close(); terminate() can deadlock on the task queue's lock
                pool.close()
                pool.join()
            except BaseException:
                pool.terminate()
                raise
        if bar:
            bar.drain(q)
    except psycopg2.Error as exc:
        raise InfrastructureError(f"reading the source failed: {str(exc).strip().splitlines()[0]}",
                                  hint="check the source is up and the snapshot transaction was not cancelled") from None
    finally:
        if bar:
            bar.stop()
        _STATE.clear()
    results: dict[str, dict[str, Any]] = {}
    for index, rs in parts.items():
        tp = plan.tables[index]
        results[tp.file] = _join_parts(rs, tmp / tp.file)
    return results


class _Progress:
    """rich progress bars, one per table, with rows/s."""

    def __init__(self, plan: Plan, todo: list[int]) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.p = Progress(TextColumn("{task.description}"), BarColumn(),
                          TextColumn("{task.completed:,.0f} rows"), TextColumn("{task.fields[rate]}"),
                          TimeElapsedColumn(), transient=False)
        self.tasks = {i: self.p.add_task(plan.tables[i].table.qualified,
                                         total=max(plan.tables[i].table.est_rows, 1), rate="") for i in todo}
        self.start: dict[int, float] = {}
        self.rows: dict[tuple[int, int], int] = {}
        self.p.start()

    def drain(self, q) -> None:
        while True:
            try:
                i, part, rows = q.get_nowait()
            except (_queue.Empty, OSError, ValueError):
                return
            now = time.monotonic()
            self.start.setdefault(i, now)
            self.rows[(i, part)] = rows
            done = sum(r for (j, _), r in self.rows.items() if j == i)
            rate = done / max(now - self.start[i], 1e-3)
            total = max(self.p.tasks[self.tasks[i]].total or 0, done)
            self.p.update(self.tasks[i], completed=done, total=total, rate=f"{rate:,.0f} rows/s" if done else "")

    def stop(self) -> None:
        self.p.stop()
