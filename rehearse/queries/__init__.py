"""Production's query shapes: captured from pg_stat_statements or read from a file, then run on staging.

``capture`` reads the source (read only), ``shapes`` normalizes and stores them (queries.json
in the snapshot), ``compat`` PREPAREs them against the migrated schema, ``plans`` compares the
busiest ones' plans and latency, ``downtime`` turns measured lock spans into blocked requests at
production's rates. The pipeline wires them in; rules in ``checks/schema_rules`` (RH410-RH412)
read what they measured from the DatabaseContext.
"""

from __future__ import annotations

from pathlib import Path

from ..model import QueryShapes, Snapshot
from .shapes import QUERIES_FILE, read_queries_file, read_shapes, write_shapes

__all__ = ["QUERIES_FILE", "from_snapshot", "read_queries_file", "read_shapes", "write_shapes"]


def from_snapshot(snapshot: Snapshot) -> QueryShapes | None:
    """The shapes stored in a snapshot (None when it has none: pulled without the extension, or
    by an older rehearse)."""
    if QUERIES_FILE not in snapshot.extras:
        return None
    return read_shapes(Path(snapshot.path) / QUERIES_FILE)
