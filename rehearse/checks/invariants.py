"""Custom invariants: user SQL returning one number, compared with an expectation, per phase."""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg2

from ..errors import BadInput, InfrastructureError
from ..model import Finding
from ..urls import libpq_dsn, redact
from .base import Hit, get_rule

_OPS = {"==": operator.eq, "=": operator.eq, "!=": operator.ne, "<>": operator.ne, ">=": operator.ge,
        "<=": operator.le, ">": operator.gt, "<": operator.lt}
_EXPECT = re.compile(r"^\s*(==|=|!=|<>|>=|<=|>|<)?\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Invariant:
    name: str
    sql: str
    op: str
    value: float
    phases: tuple[str, ...] = ()  # empty: every phase

    @property
    def expect(self) -> str:
        return f"{self.op} {self.value:g}"


def parse_invariant(entry: Mapping[str, Any]) -> Invariant:
    """Validate one config entry {name, sql, expect[, phases]}."""
    name = str(entry.get("name") or "").strip()
    sql = str(entry.get("sql") or "").strip()
    if not name or not sql:
        raise BadInput("an invariant needs a name and sql", hint="write {name: ..., sql: SELECT ..., expect: '== 0'}")
    expect = entry.get("expect", "== 0")
    match = _EXPECT.match(str(expect))
    if not match:
        raise BadInput(f"invariant {name!r}: cannot read expect {expect!r}",
                       hint="write a number or a comparison such as '== 0', '> 0', '>= 100'")
    phases = entry.get("phases") or ()
    if isinstance(phases, str):
        phases = (phases,)
    return Invariant(name, sql, match.group(1) or "==", float(match.group(2)), tuple(phases))


def run_invariants(dsn_or_url: str, invariants: Iterable[Mapping[str, Any] | Invariant], phase: str) -> list[Finding]:
    """RH404 findings for invariants that do not hold (or fail to run) at ``phase``."""
    rule = get_rule("RH404")
    items = [i if isinstance(i, Invariant) else parse_invariant(i) for i in invariants]
    items = [i for i in items if not i.phases or phase in i.phases]
    if not items:
        return []
    dsn = libpq_dsn(dsn_or_url) if "://" in dsn_or_url else dsn_or_url
    findings = []
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
                findings.append(rule.finding(Hit(f"invariant {inv.name!r} could not run at {phase}: "
                                                 f"{str(exc).strip().splitlines()[0]}", evidence),
                                             statement=inv.sql, phase="invariant"))
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                findings.append(rule.finding(Hit(f"invariant {inv.name!r} returned {value!r}, not a number",
                                                 evidence), statement=inv.sql, phase="invariant"))
                continue
            if not _OPS[inv.op](number, inv.value):
                evidence["value"] = value if isinstance(value, (int, float)) else number
                findings.append(rule.finding(Hit(f"invariant {inv.name!r} does not hold at {phase}: got {value}, "
                                                 f"expected {inv.expect}", evidence),
                                             statement=inv.sql, phase="invariant"))
    finally:
        conn.close()
    return findings
