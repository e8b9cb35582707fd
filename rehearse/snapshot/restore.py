"""Loading a snapshot into an empty staging database, in the order that makes bulk loads fast.

Pre-data (tables, types, functions) first; then every table's rows by COPY, streamed out of zstd;
then post-data (primary keys, indexes, foreign keys, triggers) with ``pg_restore -j``, so keys are
built once over loaded tables instead of checked row by row; then sequence positions. Each table is
ANALYZEd as soon as its rows are in (overlapping the other tables' loads), and again after post-data
only when it has an expression index, whose statistics need the index to exist.
Checksums are verified before anything is loaded. Object owners are restored only when every
role that owns objects or holds grants exists in staging; otherwise the restore runs
``--no-owner --no-privileges`` and says so, rather than failing.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg2
import zstandard

from .. import pgbin, urls
from ..errors import InfrastructureError, SnapshotError, StagingError
from ..model import Snapshot, StagingDatabase, TableData
from ..catalog import quote_ident
from .format import SCHEMA_FILE, manifest_data, read_snapshot


@dataclass(frozen=True)
class RestoreStats:
    """What the restore did and how long each phase took."""

    rows: int
    bytes: int  # compressed bytes read from the snapshot
    pre_data_s: float
    data_s: float
    post_data_s: float
    sequences_s: float
    analyze_s: float  # mostly overlapped with the data phase (each table is analyzed once loaded)
    duration_s: float
    owners_restored: bool
    warnings: tuple[str, ...] = ()


def _connect(staging: StagingDatabase):
    try:
        conn = psycopg2.connect(staging.dsn, application_name="rehearse-restore")
    except psycopg2.OperationalError as exc:
        raise StagingError(f"cannot connect to staging database {staging.database}: "
                           f"{str(exc).strip().splitlines()[0]}", hint="is the staging server still running?") from None
    conn.set_client_encoding("UTF8")
    return conn


def _pg_restore(staging: StagingDatabase, snapshot: Snapshot, section: str, flags: list[str], jobs: int) -> None:
    # a pg_restore older than the pg_dump that wrote the archive cannot read it
    exe = pgbin.client_tool("pg_restore", max(staging.major, snapshot.source.major))
    cmd = [exe, f"--section={section}", "--exit-on-error", *flags, f"--dbname={staging.dsn}",
           str(snapshot.path / SCHEMA_FILE)]
    if jobs > 1:
        cmd.insert(1, f"--jobs={jobs}")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if "error" in ln.lower()] or \
            proc.stderr.strip().splitlines() or ["no output"]
        raise InfrastructureError(f"pg_restore ({section}) into staging failed: {urls.redact(lines[0])}",
                                  hint="the staging server may lack an extension or role the source has; "
                                       "see the message above")


def _copy_in(staging: StagingDatabase, snapshot: Snapshot, table: TableData) -> tuple[int, int, float, float]:
    started = time.monotonic()
    conn = _connect(staging)
    try:
        with conn.cursor() as cur, open(snapshot.path / table.file, "rb") as fh:
            cur.execute("SET synchronous_commit = off")
            # a big table's file holds one zstd frame per block range: read across frames
            reader = zstandard.ZstdDecompressor().stream_reader(fh, read_size=1 << 20, read_across_frames=True)
            cols = ", ".join(quote_ident(c) for c in table.columns)
            ident = f"{quote_ident(table.schema)}.{quote_ident(table.name)}"
            # truncated in this transaction, the table may take its rows frozen: the index builds
            # and ANALYZE that read them next need not set hint bits (rewriting every page), and
            # with wal_level=minimal the load skips WAL (as pg_restore -j does)
            cur.execute(f"TRUNCATE ONLY {ident}")
            cur.copy_expert(f"COPY {ident} ({cols}) FROM STDIN (FREEZE)", reader, size=1 << 20)
        conn.commit()
        # ANALYZE right away, while the other loader still copies: it overlaps the load instead of
        # adding a phase after post-data, and the pages are still in the cache
        conn.autocommit = True
        analyzed = time.monotonic()
        with conn.cursor() as cur:
            cur.execute(f"ANALYZE {ident}")
        analyze_s = time.monotonic() - analyzed
    except psycopg2.Error as exc:
        raise InfrastructureError(f"loading {table.qualified} into staging failed: "
                                  f"{str(exc).strip().splitlines()[0]}",
                                  hint="the staging schema may differ from the snapshot's") from None
    except zstandard.ZstdError as exc:
        raise SnapshotError(f"snapshot file {snapshot.path / table.file} cannot be decompressed ({exc})",
                            hint="delete the snapshot and pull again") from None
    finally:
        conn.close()
    return table.rows, table.bytes, time.monotonic() - started, analyze_s


def _analyze(staging: StagingDatabase, table: TableData) -> None:
    conn = _connect(staging)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"ANALYZE {quote_ident(table.schema)}.{quote_ident(table.name)}")
    finally:
        conn.close()


def _with_expression_indexes(staging: StagingDatabase) -> set[tuple[str, str]]:
    """Tables with an expression index: ANALYZE gathers those indexes' statistics only once they exist."""
    conn = _connect(staging)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT n.nspname, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.indexprs IS NOT NULL")
            return {(r[0], r[1]) for r in cur.fetchall()}
    finally:
        conn.rollback()
        conn.close()


def restore_snapshot(snapshot: Snapshot, staging: StagingDatabase, *, jobs: int = 2,
                     progress: bool = False) -> RestoreStats:
    """Restore ``snapshot`` into the (existing, empty) staging database."""
    started = time.monotonic()
    verified = read_snapshot(snapshot.path, verify=True)  # checksums first: never load a tampered file
    if snapshot.checksum and verified.checksum != snapshot.checksum:
        raise SnapshotError(f"snapshot {snapshot.path} changed since it was read (manifest differs)",
                            hint="read it again, or pull a new one")
    snapshot = verified
    warnings: list[str] = []
    conn = _connect(staging)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles")
            have = {r[0] for r in cur.fetchall()}
    finally:
        conn.close()
    missing = [r for r in snapshot.source.roles if r not in have]
    flags: list[str] = []
    if missing:
        flags = ["--no-owner", "--no-privileges"]
        warnings.append(f"roles {', '.join(missing)} do not exist in staging: objects are owned by the "
                        f"restoring user and grants are left out (create the roles to keep ownership)")
    t0 = time.monotonic()
    _pg_restore(staging, snapshot, "pre-data", flags, 1)
    t1 = time.monotonic()
    rows = nbytes = 0
    analyze_s = 0.0
    bar = _Bar(snapshot) if progress else None
    try:
        tables = sorted(snapshot.tables, key=lambda t: -t.bytes)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for table, (r, b, secs, a) in zip(tables, pool.map(lambda t: _copy_in(staging, snapshot, t), tables)):
                rows += r
                nbytes += b
                analyze_s += a
                if bar:
                    bar.done(table, r, secs)
    finally:
        if bar:
            bar.stop()
    t2 = time.monotonic()
    _pg_restore(staging, snapshot, "post-data", flags, jobs)
    t3 = time.monotonic()
    conn = _connect(staging)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for name, value in snapshot.sequences.items():
                cur.execute("SELECT setval(%s::regclass, %s, true)", (name, value))
    finally:
        conn.close()
    t4 = time.monotonic()
    again = _with_expression_indexes(staging)
    again_tables = [t for t in snapshot.tables if (t.schema, t.name) in again]
    if again_tables:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # one ANALYZE per table, in parallel
            list(pool.map(lambda t: _analyze(staging, t), sorted(again_tables, key=lambda t: -t.bytes)))
    t5 = time.monotonic()
    analyze_s += t5 - t4
    skipped = manifest_data(snapshot.path).get("skipped_tables") or []
    if skipped:
        warnings.append(f"tables restored without rows (data: skip in the policy): {', '.join(skipped)}")
    return RestoreStats(rows=rows, bytes=nbytes, pre_data_s=round(t1 - t0, 3), data_s=round(t2 - t1, 3),
                        post_data_s=round(t3 - t2, 3), sequences_s=round(t4 - t3, 3), analyze_s=round(analyze_s, 3),
                        duration_s=round(t5 - started, 3), owners_restored=not missing, warnings=tuple(warnings))


class _Bar:
    def __init__(self, snapshot: Snapshot) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.p = Progress(TextColumn("restore"), BarColumn(), TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"),
                          TextColumn("{task.fields[last]}"))
        self.task = self.p.add_task("restore", total=max(snapshot.total_rows, 1), last="")
        self.p.start()

    def done(self, table: TableData, rows: int, secs: float) -> None:
        self.p.update(self.task, advance=rows, last=f"{table.qualified}: {rows / max(secs, 1e-3):,.0f} rows/s")

    def stop(self) -> None:
        self.p.stop()
