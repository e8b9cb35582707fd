"""Entry points for the schema rules on a migrated database (the rules own the checks).

Kept for callers that run one rule on its own; a rehearsal goes through
``engine.check_database``, which runs every database rule at its moments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..model import Finding
from .base import DatabaseContext, Thresholds, get_rule


def check_schema(dsn: str, *, only_tables: Iterable[str] | None = None) -> list[Finding]:
    """RH401 findings on a migrated database, restricted to ``only_tables`` when given."""
    rule = get_rule("RH401")
    ctx = DatabaseContext("after-upgrade", dsn=dsn, url=dsn,
                          touched=None if only_tables is None else frozenset(only_tables))
    return [rule.finding(hit, phase="upgrade") for hit in rule.check(ctx)]


def check_row_counts(before: Mapping[str, int], after: Mapping[str, int], *, revision: str | None = None,
                     thresholds: Thresholds | None = None, phase: str = "upgrade") -> list[Finding]:
    """RH402 for tables present before and after whose row count fell (beyond the allowed fraction)."""
    rule = get_rule("RH402")
    ctx = DatabaseContext("after-step", dsn="", url="", revision=revision, rows_before=before, rows_after=after,
                          thresholds=thresholds or Thresholds())
    return [rule.finding(hit, revision=revision, phase=phase) for hit in rule.check(ctx)]



