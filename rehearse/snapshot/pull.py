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
import queue as _queue
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import psycopg2

from .. import pgbin, urls
from ..anonymize.compile import Anonymizer
from ..anonymize.dictionary import DICTIONARY_KINDS, ValueDictionary, automaton_cap
from ..anonymize.keyed import FAKES_VERSION, _fast
from ..anonymize.leak import LeakRecorder, find_leaks
from ..anonymize.policy import load_policy
from ..catalog import TableInfo, quote_ident, read_sequences, read_source_info, read_tables
from ..copytext import copy_decode
from ..errors import BadInput, InfrastructureError, LeakDetected, SnapshotError
from ..model import Snapshot, SourceInfo, TableData
from ..pgconn import SourceConnection, source_connection
from ..policytypes import ColumnType, Rule
from ..secret import load_secret
from .format import FORMAT, FORMAT_VERSION, SCHEMA_FILE, read_snapshot, sha256_file, write_manifest
from .plan import SAMPLE_ROWS, ColumnPlan, Plan, TablePlan, build_plan
from .sink import Sink
from .subset import SubsetPlan, SubsetSpec, load_subset, plan_subset


def inspect_source(source_url: str) -> SourceInfo:
    """Server version, settings, extensions, roles and Alembic revision of the source (read only)."""
    c = source_connection(source_url)
    conn = c.connect()
    try:
        with conn.cursor() as cur:
            return read_source_info(cur, c.redacted)
    finally:
        conn.rollback()
        conn.close()


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
    conn_info: SourceConnection = st["conn"]
    out_path = Path(st["dir"]) / (tp.file if lo is None else f"{tp.file}.part{part:03d}")
    recorder = LeakRecorder(Path(st["leak_dir"]), f"{os.getpid()}-{index}-{part}", st["leak_key"]) \
        if st["leak_key"] else None
    q = st.get("queue")
    started, cpu = time.monotonic(), time.process_time()
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
    return {"index": index, "part": part, "file": str(out_path), "rows": sink.rows, "name_pairs": sink.name_pairs,
            "sha256": hashed.sha.hexdigest(), "bytes": hashed.bytes, "seconds": time.monotonic() - started,
            "cpu_s": time.process_time() - cpu}


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
            "bytes": size, "seconds": max(r["seconds"] for r in parts), "cpu_s": sum(r["cpu_s"] for r in parts)}


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
                  say: Callable[[str], None] | None = _say_stderr,
                  extra_files: Callable[[], Mapping[str, bytes]] | None = None) -> Snapshot:
    """Pull an anonymized snapshot of ``source_url`` into ``out_dir`` (which must not hold one yet).

    ``extra_files`` is called once the data is copied; the files it returns (name -> content,
    e.g. queries.json from rehearse.queries) are written beside the data and listed, with their
    checksums, under the manifest's ``extras``. ``say`` hears, one line each, what the pull decided on its own (a random key, columns
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
    conn_info = source_connection(source_url)
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
            personal: list[tuple[TablePlan, ColumnPlan, str]] = []
            if anonymize:
                anonymizer = Anonymizer(key.key, policy.locale if policy else "en_US")
                rules = [c.rule for t in plan.tables for c in t.columns if c.rule is not None]
                anonymizer.prepare(rules)
                personal = _dictionary_columns(plan)
            timings["pools_s"] = time.monotonic() - mark
            # the dictionary is read and built in this process while the workers already copy the
            # tables that cannot hold a copy of a personal value; the others wait for it
            waiting = {i for i, tp in enumerate(plan.tables) if _needs_dictionary(tp)} if personal else set()

            def build_dictionary() -> None:
                built, cpu = time.monotonic(), time.process_time()
                anonymizer.dictionary = _value_dictionary(conn, personal, anonymizer)
                timings["dictionary_s"] = time.monotonic() - built
                timings["dictionary_cpu_s"] = time.process_time() - cpu
                if anonymizer.dictionary is not None:
                    d = anonymizer.dictionary
                    timings["dictionary_values"] = d.values
                    say(f"value dictionary: {d.values:,} original personal values will be removed from "
                        f"kept text, JSON and arrays" + (f" ({d.overflow:,} of them as hashes)" if d.overflow else ""))

            mark = time.monotonic()
            results, names = _run_workers(plan, conn_info, snapshot_id, tmp, anonymizer, jobs=jobs,
                                          progress=progress, waiting=waiting,
                                          before_waiting=build_dictionary if personal else None)
            timings["data_s"] = time.monotonic() - mark
            # the workers' own CPU time per table (not the server's): where a slow pull spends it
            timings["workers_cpu_s"] = {plan.tables[r["index"]].table.qualified: round(r["cpu_s"], 3)
                                        for r in results.values()}
        finally:
            _finish_schema_dump(dump)
        mark = time.monotonic()
        leak_scan: dict[str, Any] = {"performed": False}
        if anonymize and names:
            acknowledged = {f"{q}.{c}" for q, tpol in (policy.tables.items() if policy else ())
                            for c, r in tpol.columns.items() if r.acknowledge}
            names = {cid: n for cid, n in names.items() if plan.column_names[cid] not in acknowledged}
            if names:
                _name_pairs_found(names, plan, strict=strict or bool(policy and policy.strict), say=say)
        if anonymize:
            leaks, originals, written = find_leaks(tmp / ".leak", plan.column_names)
            leak_scan = {"performed": True, "originals_checked": originals, "values_scanned": written,
                         "leaks": len(leaks)}
            if leaks:
                first = leaks[0]
                raise LeakDetected(
                    f"leak scan: {first.count} original value{'s' if first.count != 1 else ''} of "
                    f"{first.original_column} appear in {first.written_column}"
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
        extras: dict[str, Any] = {}
        for name, content in (extra_files() if extra_files is not None else {}).items():
            (tmp / name).write_bytes(content)
            extras[name] = {"sha256": sha256_file(tmp / name), "bytes": len(content)}
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
            # the source's own sizes (pg_class estimates): what --scale predicts for when the
            # snapshot holds only a subset of it
            "source_sizes": {t.qualified: {"rows": t.est_rows, "bytes": t.est_bytes} for t in tables},
            "rules": plan.rules,
            "warnings": plan.warnings,
            "duration_s": round(time.monotonic() - started, 3),
            "timings": {k: round(v, 3) if isinstance(v, float) else v for k, v in timings.items()},
        }
        if extras:
            manifest["extras"] = extras
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


class _Rows:
    """A COPY target that feeds the decoded columns of a few thousand rows at a time to ``add``
    (psycopg2 writes one row per call; no table is held in memory). Call ``close`` at the end."""

    BATCH_BYTES = 1 << 18

    def __init__(self, ncols: int, add: Callable[[list[list[str]]], None]) -> None:
        self.ncols, self.add = ncols, add
        self.buf: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.buf.append(data)
        self.size += len(data)
        if self.size >= self.BATCH_BYTES:
            self._flush()
        return len(data)

    def _flush(self) -> None:
        data = b"".join(self.buf)
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        self.buf, self.size = ([rest], len(rest)) if rest else ([], 0)
        if not cut:
            return
        n = self.ncols
        split = _fast.split_rows(data[:cut], n) if _fast is not None else None  # None: not ASCII
        if split is not None:
            split, escaped = split  # escaped: a backslash that is not a NULL marker
        else:
            escaped = data.count(b"\\", 0, cut) != data.count(b"\\N", 0, cut)
            fields = data[:cut].decode("utf-8", "surrogateescape").replace("\n", "\t").split("\t")
            fields.pop()  # COPY text never holds a raw tab or newline
            split = [fields[i::n] for i in range(n)]
        columns = []
        for values in split:
            if "\\N" in values:
                values = [v for v in values if v != "\\N"]
            columns.append([copy_decode(v) for v in values] if escaped else values)
        self.add(columns)

    def close(self) -> None:
        if self.buf:
            self._flush()


def _dictionary_columns(plan: Plan) -> list[tuple[TablePlan, ColumnPlan, str]]:
    """The personal text columns whose original values the value dictionary removes from kept text.

    Only when something can carry a copy of them: a kept text-like, JSON or array column, or
    free text that is scrubbed. Empty: no dictionary.
    """
    personal: list[tuple[TablePlan, ColumnPlan, str]] = []
    carriers = False
    for tp in plan.tables:  # a table whose rows are skipped still has values copied elsewhere
        for c in tp.columns:
            r = c.rule
            if r is None:
                carriers = carriers or _carrier(c)
            elif _uses_scrub(r):
                carriers = True
            elif c.type.category == "S" and not c.type.is_array and not c.type.is_json:
                kind = r.kind if r.strategy == "fake" else "hash" if r.strategy in ("hash", "mask") \
                    else None
                if kind in DICTIONARY_KINDS:
                    personal.append((tp, c, kind))
    return personal if carriers else []


def _carrier(c: ColumnPlan) -> bool:
    return c.type.category in ("S", "U", "I", "X") or c.type.is_json or c.type.is_array


def _uses_scrub(rule: Rule) -> bool:
    default = rule.options.get("default")
    return rule.strategy == "scrub" or any(_uses_scrub(r) for r in rule.paths.values()) or \
        (isinstance(default, Rule) and _uses_scrub(default))


def _needs_dictionary(tp: TablePlan) -> bool:
    """Whether a table's copy uses the value dictionary (kept text to clean, or scrubbed text)."""
    return any((c.rule is None and _carrier(c)) or (c.rule is not None and _uses_scrub(c.rule))
               for c in tp.columns)


def _value_dictionary(conn, personal: list[tuple[TablePlan, ColumnPlan, str]],
                      anonymizer: Anonymizer) -> ValueDictionary | None:
    """The original values of every personal text column, read in the pull's own snapshot.

    Read in one scan per table, while the workers copy the tables that do not need it. (The
    leak scan's originals are still recorded by the workers, off this path: the waiting tables
    wait for this function alone.)
    """
    fakes: dict[str, Callable[[list[str]], list[str]]] = {}

    def replace(values: list[str], kind: str) -> list[str]:
        fn = fakes.get(kind)
        if fn is None:
            fn = fakes[kind] = anonymizer.hashes(ColumnType(), 16) if kind == "hash" else anonymizer.fakes(kind)
        return fn(values)

    # the values to expect, from the row estimates: past a few million the automaton gets less room
    expected = sum(max(tp.table.est_rows, 0) for tp, _, _ in personal)
    d = ValueDictionary(replace, cap=automaton_cap(expected))
    by_table: dict[int, tuple[TablePlan, list[tuple[ColumnPlan, str]]]] = {}
    for tp, c, kind in personal:
        by_table.setdefault(id(tp), (tp, []))[1].append((c, kind))
    with conn.cursor() as cur:
        # one scan per table for all its personal columns, no DISTINCT: the server does what a
        # COPY does (no sort or hash of millions of values), and repeats cost little here (the
        # automaton keeps one entry per value, the hashes drop repeats as they grow)
        for tp, cols in by_table.values():
            names = [quote_ident(c.name) for c, _ in cols]
            where = " OR ".join(f"{n} IS NOT NULL" for n in names)
            if tp.where:
                where = f"({where}) AND ({tp.where})"
            kinds = [k for _, k in cols]

            def add(columns: list[list[str]], kinds=kinds) -> None:
                for values, kind in zip(columns, kinds):
                    d.add(values, kind)

            rows = _Rows(len(cols), add)
            cur.copy_expert(f"COPY (SELECT {', '.join(f'{n}::text' for n in names)} FROM ONLY {tp.table.ident} "
                            f"WHERE {where}) TO STDOUT", rows, size=1 << 20)
            rows.close()
    d.build()
    return d if d else None


def _name_pairs_found(names: dict[int, int], plan: Plan, *, strict: bool, say: Callable[[str], None]) -> None:
    """Kept columns still holding "First Last" pairs of the name dictionaries: a strict pull fails
    (naming the column and the count, never a value); another says so and carries on."""
    found = sorted(((plan.column_names[cid], n) for cid, n in names.items()), key=lambda x: -x[1])
    text = "; ".join(f"{col}: {n} name pair{'s' if n != 1 else ''}" for col, n in found[:8])
    if strict:
        raise LeakDetected(f"leak scan: kept columns hold person names (first and last name in the name "
                           f"dictionaries): {text}; no snapshot was written",
                           hint=f"give {found[0][0]} a rule (scrub, or fake:name), or mark it "
                                f"`acknowledge: true` if these are not people")
    say(f"kept columns hold what look like person names (first and last name in the name dictionaries): {text}")


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


def _start_schema_dump(conn_info: SourceConnection, snapshot_id: str, source: SourceInfo, path: Path) -> subprocess.Popen:
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


def _run_workers(plan: Plan, conn_info: SourceConnection, snapshot_id: str, tmp: Path, anonymizer: Anonymizer | None,
                 *, jobs: int, progress: bool, waiting: set[int] = frozenset(),
                 before_waiting: Callable[[], None] | None = None
                 ) -> tuple[dict[str, dict[str, Any]], dict[int, int]]:
    """Copy every table; (per data file: rows, checksum, size), and per kept column id the name
    pairs its written text still holds.

    The tables in ``waiting`` (by index) need what ``before_waiting`` makes (the value
    dictionary): it runs here, in the parent, while the workers copy the other tables, and the
    workers for the waiting tables are forked once it is done, so they share what it built.
    """
    tasks = _tasks(plan, jobs)
    first = [t for t in tasks if t[0] not in waiting]
    later = [t for t in tasks if t[0] in waiting]
    ctx = mp.get_context("fork")
    q = ctx.Queue() if progress else None
    _STATE.clear()
    _STATE.update(plan=plan, conn=conn_info, dir=str(tmp), snapshot_id=snapshot_id, anonymizer=anonymizer,
                  leak_dir=str(tmp / ".leak"), leak_key=b"hash" if anonymizer else None,
                  queue=q)
    parts: dict[int, list[dict[str, Any]]] = {}
    bar = _Progress(plan, sorted({t[0] for t in tasks})) if progress else None
    pools: list = []

    def start(batch: list, workers: int) -> list:
        if not batch:
            return []
        pool = ctx.Pool(processes=min(workers, len(batch)), initializer=_worker_signals)
        pools.append(pool)
        return [pool.apply_async(_copy_part, (task,)) for task in batch]

    def collect(pending: list, block: bool) -> None:
        while pending:
            for p in list(pending):
                if p.ready():
                    r = p.get()  # re-raises a worker's error here
                    parts.setdefault(r["index"], []).append(r)
                    pending.remove(p)
            if bar:
                bar.drain(q)
            if not block:
                return
            if pending:
                pending[0].wait(0.1)

    try:
        if jobs <= 1 or len(tasks) <= 1:
            if before_waiting is not None:
                before_waiting()
            for task in first + later:
                r = _copy_part(task)
                parts.setdefault(r["index"], []).append(r)
                if bar:
                    bar.drain(q)
        else:
            try:
                if before_waiting is not None and later:
                    # the parent building the dictionary is one of the ``jobs`` busy processes:
                    # jobs - 1 workers copy beside it, given about half of what needs no
                    # dictionary; the rest joins the waiting tables, biggest first, once it is built
                    now = first[:max(1, len(first) // 2)]
                    pending = start(now, jobs - 1)
                    before_waiting()
                    taken = set(now)
                    later = [t for t in tasks if t not in taken]
                else:
                    pending = start(first, jobs)
                    if before_waiting is not None:
                        before_waiting()
                collect(pending, block=False)  # results so far (and a worker's error, early)
                pending += start(later, jobs)
                collect(pending, block=True)
                # idle workers exit on close(); terminate() can deadlock on the task queue's lock
                for pool in pools:
                    pool.close()
                for pool in pools:
                    pool.join()
            except BaseException:
                for pool in pools:
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
    names: dict[int, int] = {}
    for rs in parts.values():
        for r in rs:
            for cid, n in r.get("name_pairs", {}).items():
                names[cid] = names.get(cid, 0) + n
    for index, rs in parts.items():
        tp = plan.tables[index]
        results[tp.file] = _join_parts(rs, tmp / tp.file)
    return results, names


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
