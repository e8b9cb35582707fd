"""The base class for measured rules: they read one StatementTrace and the thresholds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from ...model import StatementTrace
from ..base import Hit, Rule, Thresholds


class TraceRule(Rule):
    kind: ClassVar[str] = "measured"

    def check(self, trace: StatementTrace, thresholds: Thresholds) -> Iterator[Hit]:  # pragma: no cover
        raise NotImplementedError


def size_of(trace: StatementTrace, relation: str) -> tuple[int | None, int | None]:
    """(rows, bytes) the tracer recorded for a relation in this statement's locks."""
    for lock in trace.locks:
        if lock.relation == relation or lock.relation.split(".")[-1] == relation.split(".")[-1]:
            if lock.rows is not None or lock.bytes is not None:
                return lock.rows, lock.bytes
    return None, None
