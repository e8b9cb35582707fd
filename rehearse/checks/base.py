"""The rule base classes, the registry every rule joins, and the thresholds measured rules use.

A rule is a class with a stable ``code``, a verb-led ``name``, a ``severity`` and three
documentation sections (``problem``, ``solution``, ``alembic``) written in Markdown.
Rules never raise on what they inspect: they yield :class:`Hit` values that the runner
turns into :class:`rehearse.model.Finding` objects carrying revision, statement and location.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config import Thresholds  # noqa: F401  (the rules' settings; re-exported)
from ..errors import BadInput
from ..model import SEVERITIES, Finding

KINDS = ("sql", "measured", "graph", "schema", "drift", "invariant")
DATABASE_KINDS = ("schema", "drift", "invariant")  # rules that read the staging database itself
# When the engine runs a database rule (``DatabaseRule.moments``):
MOMENTS = ("before-upgrade", "after-step", "after-upgrade", "after-rollback")
STATEMENT_CHARS = 500


@dataclass(frozen=True)
class Hit:
    """What a rule found, before the runner adds revision, statement and location."""

    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    severity: str | None = None  # overrides the rule's default (e.g. escalate on size)
    statement: str | None = None  # the SQL it is about, when the runner does not know it


class Rule:
    """Base of every rule: identity and documentation; subclasses add ``check``."""

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    severity: ClassVar[str] = "medium"
    kind: ClassVar[str] = "sql"
    summary: ClassVar[str] = ""  # one line for `rehearse rules`
    problem: ClassVar[str] = ""
    solution: ClassVar[str] = ""
    alembic: ClassVar[str] = ""
    references: ClassVar[tuple[str, ...]] = ()  # peers' equivalent rules, for parity

    def hit(self, message: str, severity: str | None = None, **evidence: Any) -> Hit:
        return Hit(message, {k: v for k, v in evidence.items() if v is not None}, severity)

    def finding(self, hit: Hit, *, revision: str | None = None, statement: str | None = None,
                location: str | None = None, phase: str = "upgrade") -> Finding:
        return Finding(
            code=self.code, name=self.name, severity=hit.severity or self.severity,
            message=hit.message, revision=revision, statement=truncate(statement),
            evidence=dict(hit.evidence), help=self.summary, location=location, phase=phase,
        )

    def __repr__(self) -> str:
        return f"<{self.code} {self.name}>"


@dataclass(frozen=True)
class DatabaseContext:
    """What a database rule may read at one moment of a rehearsal (the engine decides when).

    ``touched`` is the set of relations the rehearsal's statements locked (None: unknown, so
    every table counts). ``rows_before``/``rows_after`` are row counts per table around one
    upgrade step (``after-step`` only, when data checks ran). ``policy_covers`` answers
    "does the anonymization policy name this column?" (None: no policy was given).
    """

    moment: str
    dsn: str
    url: str
    revision: str | None = None
    touched: frozenset[str] | None = None
    rows_before: Mapping[str, int] | None = None
    rows_after: Mapping[str, int] | None = None
    thresholds: Thresholds = Thresholds()
    invariants: tuple[Any, ...] = ()  # rehearse.config.Invariant
    models: str | None = None
    project_dir: str | None = None
    policy_covers: Any = None  # Callable[[schema, table, column], bool]
    # production's query shapes (rehearse.queries): those that prepared before the upgrade, what
    # preparing them gave at this moment, and (after-upgrade) the busiest ones' plans compared
    query_shapes: tuple[Any, ...] = ()  # rehearse.model.QueryShape
    shape_runs: Mapping[str, Any] | None = None  # fingerprint -> rehearse.model.ShapeRun
    plans: tuple[Any, ...] = ()  # rehearse.model.PlanComparison
    app_checks: tuple[Any, ...] = ()  # rehearse.model.AppCheckRun: every --app-check run so far

    @property
    def phase(self) -> str:
        return {"after-step": "upgrade", "after-upgrade": "upgrade", "before-upgrade": "before-upgrade",
                "after-rollback": "after-rollback"}[self.moment]


class DatabaseRule(Rule):
    """A rule that reads the migrated database: ``check(ctx)`` runs at each of its ``moments``."""

    moments: ClassVar[tuple[str, ...]] = ("after-upgrade",)

    def check(self, ctx: DatabaseContext) -> Iterator[Hit]:  # pragma: no cover - abstract
        raise NotImplementedError


def truncate(sql: str | None, limit: int = STATEMENT_CHARS) -> str | None:
    if sql is None:
        return None
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_REGISTRY: dict[str, Rule] = {}
_LOADED = False
_RULE_PACKAGES = ("sql", "measured", "graph", "schema_rules")


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: add one rule to the registry (codes and names must be unique)."""
    rule = cls()
    if not rule.code or not rule.name:
        raise TypeError(f"{cls.__name__} needs a code and a name")
    if rule.severity not in SEVERITIES:
        raise TypeError(f"{rule.code}: severity {rule.severity!r} is not one of {SEVERITIES}")
    if rule.kind not in KINDS:
        raise TypeError(f"{rule.code}: kind {rule.kind!r} is not one of {KINDS}")
    for other in _REGISTRY.values():
        if other.name == rule.name and other.code != rule.code:
            raise TypeError(f"{rule.code} and {other.code} share the name {rule.name}")
    _REGISTRY[rule.code] = rule
    return cls


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for package in _RULE_PACKAGES:
        pkg = importlib.import_module(f"{__package__}.{package}")
        for info in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{pkg.__name__}.{info.name}")


def all_rules(kind: str | None = None) -> list[Rule]:
    """Every registered rule (optionally of one kind), ordered by code."""
    _load()
    rules = sorted(_REGISTRY.values(), key=lambda r: r.code)
    return [r for r in rules if kind is None or r.kind == kind]


def get_rule(code_or_name: str) -> Rule:
    """The rule with this code (RH101, case-insensitive) or name (require-concurrent-index-creation)."""
    _load()
    key = code_or_name.strip()
    for rule in _REGISTRY.values():
        if rule.code.lower() == key.lower() or rule.name == key.lower():
            return rule
    raise BadInput(f"no rule is called '{code_or_name}'",
                   hint="run `rehearse rules` to list every code and name")


def render_rule_doc(rule: Rule) -> str:
    """The rule's documentation page in Markdown (used by `rehearse rules CODE` and docs/rules/)."""
    lines = [f"# {rule.code} {rule.name}", "",
             f"**Severity:** {rule.severity} · **Kind:** {rule.kind}", ""]
    if rule.summary:
        lines += [rule.summary, ""]
    for title, text in (("Problem", rule.problem), ("Solution", rule.solution),
                        ("In Alembic", rule.alembic)):
        lines += [f"## {title}", "", _dedent(text), ""]
    if rule.references:
        lines += ["## Equivalent rules elsewhere", ""]
        lines += [f"- {ref}" for ref in rule.references] + [""]
    return "\n".join(lines).rstrip() + "\n"


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).strip()


def findings_for(rule: Rule, hits: Iterable[Hit], **where: Any) -> Iterator[Finding]:
    for hit in hits:
        yield rule.finding(hit, **where)
