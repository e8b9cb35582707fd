"""The old application against the new schema: PREPARE every captured shape on staging.

``PREPARE q AS <shape>`` makes the server parse, analyse and type the statement against the
schema as it is now, inferring the types of its ``$n`` parameters, without running it. A shape
that prepared before the upgrade and fails after a revision is a statement the running
application sends that the server would reject during the deploy. Each statement is
deallocated right after; the connection runs in autocommit, so one failure leaves no state.
"""

from __future__ import annotations

from typing import Iterable

import psycopg2

from ..errors import InfrastructureError
from ..model import QueryShape, ShapeRun

STATEMENT = "rehearse_shape"


def first_line(exc: BaseException) -> str:
    return " ".join(str(exc).strip().splitlines()[:1]) or type(exc).__name__


def prepare(cur, shape: QueryShape, name: str = STATEMENT) -> str | None:
    """PREPARE ``shape`` as ``name`` (left prepared); the server's error, or None when it prepared."""
    try:
        cur.execute(f"PREPARE {name} AS {shape.query}")
    except psycopg2.Error as exc:
        return first_line(exc)
    return None


def connect(dsn: str, application_name: str, purpose: str):
    """An autocommit connection to staging for ``purpose``; a failure is rehearse's, not the migration's."""
    try:
        conn = psycopg2.connect(dsn, application_name=application_name)
    except psycopg2.Error as exc:
        raise InfrastructureError(f"cannot connect to staging to {purpose}: {first_line(exc)}",
                                  hint="check that the staging database is still running") from None
    conn.autocommit = True
    return conn


def prepare_all(dsn: str, shapes: Iterable[QueryShape], *, timeout_s: float = 5.0) -> dict[str, ShapeRun]:
    """Each shape prepared (then deallocated) on the database at ``dsn``, by fingerprint."""
    results: dict[str, ShapeRun] = {}
    conn = connect(dsn, "rehearse-shapes", "prepare the query shapes")
    try:
        with conn.cursor() as cur:
            # parse analysis waits for locks like any query; never hang the rehearsal on one
            cur.execute("SET statement_timeout = %s", (f"{int(timeout_s * 1000)}ms",))
            cur.execute("SET lock_timeout = %s", (f"{int(timeout_s * 1000)}ms",))
            for shape in shapes:
                error = prepare(cur, shape)
                if error is None:
                    cur.execute(f"DEALLOCATE {STATEMENT}")
                results[shape.fingerprint] = ShapeRun(shape.fingerprint, ok=error is None, error=error)
    finally:
        conn.close()
    return results
