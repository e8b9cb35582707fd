"""Reading the source's pg_stat_statements, read only: two samples some seconds apart give calls/s per shape.

Both samples are taken before the pull starts (``--traffic-window`` seconds apart): the pull's
own reads would otherwise be counted as production's traffic (pg_stat_statements does not say
which session ran a statement). Only the source database's own statements are read (``dbid``).
Without the extension (not installed, or not in ``shared_preload_libraries``) the capture says
so in one line and hands back no shapes; the checks that need them are then "not checked".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import psycopg2

from ..model import QueryShapes
from ..pgconn import source_connection
from .shapes import merge, shape_of

DEFAULT_WINDOW_S = 5.0

# (calls, total exec ms, query text) per queryid, for this database; PostgreSQL 13 renamed total_time
_SAMPLE = """
SELECT queryid, sum(calls)::bigint, sum({total})::float8, min(query)
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND queryid IS NOT NULL
GROUP BY queryid
"""

Sample = dict[int, tuple[int, float, str]]


def _missing(reason: str) -> QueryShapes:
    return QueryShapes(origin="none", note=f"pg_stat_statements is not available on the source ({reason}): "
                                           "old-application compatibility, plans and downtime are not checked "
                                           "(give --queries FILE to check them from a CSV export or a log)")


def take_sample(conn) -> Sample | str:
    """One reading of pg_stat_statements, or the reason it cannot be read."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements'")
            row = cur.fetchone()
            if row is None:
                return "the extension is not installed in this database"
            cur.execute("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'total_exec_time'",
                        (f"{row[0]}.pg_stat_statements",))
            total = "total_exec_time" if cur.fetchone() else "total_time"
            cur.execute(f"SET LOCAL search_path = {row[0]}, pg_catalog")
            cur.execute(_SAMPLE.format(total=total))
            rows = cur.fetchall()
    except psycopg2.Error as exc:
        return " ".join(str(exc).strip().splitlines()[:1])
    finally:
        conn.rollback()  # one short read-only transaction per sample
    return {qid: (calls, total_ms, query) for qid, calls, total_ms, query in rows}


def shapes_between(first: Sample, second: Sample, window_s: float) -> QueryShapes:
    """Calls/s and mean time per shape from two samples ``window_s`` apart."""
    found, dropped = [], 0
    for qid, (calls, total_ms, query) in second.items():
        before_calls, before_ms, _ = first.get(qid, (0, 0.0, query))
        delta = max(calls - before_calls, 0)
        mean = (total_ms - before_ms) / delta if delta else (total_ms / calls if calls else None)
        shape = shape_of(query, calls=int(calls), calls_per_s=delta / window_s if window_s > 0 else None,
                         mean_ms=mean)
        if shape is None:
            dropped += 1
        else:
            found.append(shape)
    return QueryShapes(origin="pg_stat_statements", shapes=merge(found), window_s=round(window_s, 3), dropped=dropped)


@dataclass
class Capture:
    """A capture in progress: :meth:`begin` takes the first sample, :meth:`finish` the second."""

    source_url: str
    window_s: float = DEFAULT_WINDOW_S
    _conn: object = None
    _first: Sample | None = None
    _started: float = 0.0
    _missing: str | None = None

    def begin(self) -> "Capture":
        self._conn = source_connection(self.source_url).connect()
        self._conn.set_session(readonly=True, autocommit=False)
        sample = take_sample(self._conn)
        self._started = time.monotonic()
        if isinstance(sample, str):
            self._missing = sample
        else:
            self._first = sample
        return self

    def finish(self, say: Callable[[str], None] = lambda _: None) -> QueryShapes:
        try:
            if self._missing is not None:
                say(_missing(self._missing).note or "")
                return _missing(self._missing)
            left = self.window_s - (time.monotonic() - self._started)
            if left > 0:
                say(f"sampling pg_stat_statements for {left:.0f} s (--traffic-window)")
                time.sleep(left)
            second = take_sample(self._conn)
            if isinstance(second, str):
                return _missing(second)
            shapes = shapes_between(self._first or {}, second, time.monotonic() - self._started)
            say(f"captured {len(shapes.shapes)} query shape(s) from pg_stat_statements over {shapes.window_s:.1f} s"
                + (f" ({shapes.dropped} not kept: literals left in, or not DML on tables)" if shapes.dropped else ""))
            return shapes
        finally:
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                pass
            self._conn = None


def capture(source_url: str, window_s: float = DEFAULT_WINDOW_S, say: Callable[[str], None] = lambda _: None) -> QueryShapes:
    """Both samples in one call (the window is waited out)."""
    return Capture(source_url, window_s).begin().finish(say)
