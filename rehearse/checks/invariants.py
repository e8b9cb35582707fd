"""Custom invariants: user SQL returning one number, compared with an expectation, per phase.

The rule (RH404, ``schema_rules/hold_invariant.py``) decides when they run; this module
evaluates them against a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import psycopg2

from ..config import Invariant, parse_invariant
from ..errors import InfrastructureError
from ..model import Finding
from ..urls import libpq_dsn, redact
from .base import Hit, get_rule


def evaluate(dsn_or_url: str, invariants: Iterable[Mapping[str, Any] | Invariant], phase: str) -> Iterator[Hit]:
    """A Hit for every invariant that does not hold (or fails to run) at ``phase``."""
    items = [i if isinstance(i, Invariant) else parse_invariant(i) for i in invariants]
    phase = phase.replace("_", "-")
    items = [i for i in items if not i.phases or phase in {p.replace("_", "-") for p in i.phases}]
    if not items:
        return
    dsn = libpq_dsn(dsn_or_url) if "://" in dsn_or_url else dsn_or_url
    try:
        conn = psycopg2.connect(dsn)
    except psycopg2.Error as exc:
        raise InfrastructureError(f"cannot connect to {redact(dsn_or_url)} to check invariants: "
                                  f"{str(exc).strip().splitlines()[0]}") from None
    try:
        conn.autocommit = True  # each invariant sees committed data; one failing query does not abort the rest
        for inv in items:
            evidence = {"invariant": inv.name, "expect": inv.expect, "phase": phase}
            try:
                with conn.cursor() as cur:
                    cur.execute(inv.sql)
                    row = cur.fetchone()
                value = row[0] if row else None
            except psycopg2.Error as exc:
                yield Hit(f"invariant {inv.name!r} could not run at {phase}: {str(exc).strip().splitlines()[0]}",
                          evidence, statement=inv.sql)
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                yield Hit(f"invariant {inv.name!r} returned {value!r}, not a number", evidence, statement=inv.sql)
                continue
            if not inv.holds(number):
                evidence["value"] = value if isinstance(value, (int, float)) else number
                yield Hit(f"invariant {inv.name!r} does not hold at {phase}: got {value}, expected {inv.expect}",
                          evidence, statement=inv.sql)
    finally:
        conn.close()


def run_invariants(dsn_or_url: str, invariants: Iterable[Mapping[str, Any] | Invariant], phase: str) -> list[Finding]:
    """RH404 findings for invariants that do not hold (or fail to run) at ``phase``."""
    rule = get_rule("RH404")
    return [rule.finding(hit, statement=hit.statement, phase="invariant")
            for hit in evaluate(dsn_or_url, invariants, phase)]
