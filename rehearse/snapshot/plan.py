"""The plan of a pull: what happens to every column, decided and checked before any row is copied.

Rules come from the policy, or (non-strict) from looking at a column's name and a bounded sample
of its values; foreign keys follow the column they reference so joins survive; every rule is
checked against the column's type and unique keys, so a bad policy fails before the copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..anonymize.detect import classify
from ..anonymize.policy import Policy
from ..catalog import TableInfo, quote_ident
from ..errors import PolicyError
from ..policytypes import ColumnType, Rule

SAMPLE_ROWS = 1000


@dataclass(frozen=True)
class ColumnPlan:
    name: str
    type: ColumnType
    rule: Rule | None  # None: copied as is
    column_id: int  # index into Plan.column_names (for the leak report)


@dataclass(frozen=True)
class TablePlan:
    table: TableInfo
    columns: tuple[ColumnPlan, ...]
    file: str
    skip_data: bool = False
    where: str | None = None  # the subset's predicate for this table (None: every row)

    @property
    def anonymized(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.rule is not None and c.rule.changes_values)


@dataclass
class Plan:
    tables: list[TablePlan] = field(default_factory=list)
    column_names: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)  # "schema.table.column" -> label (+ origin)
    server_major: int | None = None


_TYPE_FITS: dict[str, tuple[str, ...]] = {
    "date_of_birth": ("S", "D"), "ipv4": ("S", "I"), "ipv6": ("S", "I"), "uuid": ("S", "U"),
}


def _check_fit(rule: Rule, ctype: ColumnType, where: str, file: str | None) -> None:
    def refuse(msg: str, hint: str) -> PolicyError:
        return PolicyError(msg, file=file, line=rule.line, key=where, hint=hint)

    s = rule.strategy
    if s == "keep":
        return
    if s == "null":
        if ctype.not_null:
            raise refuse(f"null on a NOT NULL column ({ctype.name})", "use fake:..., hash or constant instead")
        return
    if s == "json":
        if not ctype.is_json:
            raise refuse(f"strategy json on a {ctype.name} column", "json applies to json/jsonb columns")
        return
    if ctype.is_json and s not in ("constant",):
        raise refuse(f"{rule.label} on a {ctype.name} column would not be valid JSON",
                     "use strategy json with paths, or constant/null")
    if s == "hash" and ctype.numeric_bits:
        return
    allowed = ("S",)
    if s == "fake":
        allowed = _TYPE_FITS.get(rule.kind or "", ("S",))
    elif s == "shift_date":
        allowed = ("D", "S")
    elif s == "constant":
        return
    if ctype.category not in allowed:
        raise refuse(f"{rule.label} cannot produce a value of type {ctype.name}",
                     "pick a strategy that fits the type (hash, constant, null, keep)")


def _check_unique(rule: Rule, ctype: ColumnType, where: str, file: str | None) -> None:
    if not ctype.unique or not rule.changes_values:
        return
    ok = rule.collision_free
    if rule.strategy == "hash" and ctype.numeric_bits and ctype.numeric_bits < 64:
        ok = False
    if rule.strategy == "hash" and ctype.max_length and ctype.max_length < 16:
        ok = False
    if not ok:
        raise PolicyError(
            f"{rule.label} can give two rows the same value, but the column is unique (primary key or "
            f"unique index), so the restore would fail", file=file, line=rule.line, key=where,
            hint="use a collision-free strategy: fake:email, fake:username, fake:uuid, fake:url or hash")


def _samples(cur, table: TableInfo, columns: list[str], rows: int) -> dict[str, list[str]]:
    if not columns or rows <= 0:
        return {c: [] for c in columns}
    cols = ", ".join(f"{quote_ident(c)}::text" for c in columns)
    cur.execute(f"SELECT {cols} FROM {table.ident} LIMIT %s", (rows,))
    out: dict[str, list[str]] = {c: [] for c in columns}
    for row in cur.fetchall():
        for c, v in zip(columns, row):
            if v is not None:
                out[c].append(v)
    return out


def build_plan(cur, tables: list[TableInfo], policy: Policy | None, *, strict: bool,
               anonymize: bool = True, sample_rows: int = SAMPLE_ROWS) -> Plan:
    """Decide every column's fate, and refuse unsafe rules, before any row is copied."""
    plan = Plan()
    file = policy.path if policy else None
    strict = strict or bool(policy and policy.strict)
    if strict and policy is None and anonymize:
        raise PolicyError("strict mode needs a policy that names every table and column",
                          hint="write one with `rehearse scan SOURCE -o rehearse.yaml` and pass --policy")
    effective: dict[tuple[str, str, str], Rule] = {}
    uncovered: list[str] = []
    unacknowledged: list[str] = []
    by_name = {t.qualified: t for t in tables}
    # pass 1: rules from the policy, or found by looking at the column
    for t in tables:
        tpol = policy.table(t.schema, t.name) if policy else None
        if not anonymize or (tpol and tpol.skip_data):
            continue
        missing = [c.name for c in t.columns if not (tpol and c.name in tpol.columns)]
        keep_check = [c for c, r in (tpol.columns.items() if tpol else ()) if r.strategy == "keep"
                      and not r.acknowledge and strict]
        if strict and t.name != "alembic_version":  # Alembic's bookkeeping holds no one's data
            uncovered.extend(f"{t.qualified}.{c}" for c in missing
                             if not _fk_rule_source(t, c, by_name, policy))
        to_sample = [c for c in (missing if not strict else []) + keep_check if t.column(c)]
        samples = _samples(cur, t, to_sample, sample_rows) if to_sample else {}
        for col in t.columns:
            rule = tpol.columns.get(col.name) if tpol else None
            if rule is not None and col.name in keep_check:
                v = classify(col.name, col.type.name, col.type.category, samples.get(col.name, []),
                             is_json=col.type.is_json, is_array=col.type.is_array)
                if v.personal:
                    unacknowledged.append(f"{t.qualified}.{col.name} ({v.why})")
            if rule is None and not strict:
                v = classify(col.name, col.type.name, col.type.category, samples.get(col.name, []),
                             is_json=col.type.is_json, is_array=col.type.is_array)
                if v.personal:
                    rule = v.rule
                    if col.type.unique and not rule.collision_free:
                        # a guess must never make the restore fail: a keyed hash cannot collide
                        rule = replace(rule, strategy="hash", kind=None, options={},
                                       why=f"{rule.why or rule.label}; unique column, so hashed")
            if rule is not None:
                effective[(t.schema, t.name, col.name)] = rule
        if policy is not None:
            for cname in (tpol.columns if tpol else {}):
                if not t.column(cname):
                    plan.warnings.append(f"policy names {t.qualified}.{cname}, which the source does not have")
    if policy is not None:
        known = {t.qualified for t in tables}
        for q, tp in policy.tables.items():
            if q not in known:
                plan.warnings.append(f"policy names table {q}, which the source does not have")
    # pass 2: foreign keys follow the column they reference, so joins survive anonymization
    for t in tables:
        for fk in t.foreign_keys:
            for col, rcol in zip(fk.columns, fk.ref_columns):
                ref = effective.get((fk.ref_schema, fk.ref_table, rcol))
                mine = effective.get((t.schema, t.name, col))
                if ref is None or not ref.changes_values:
                    continue
                if mine is None or (mine.origin == "auto" and mine.label != ref.label):
                    effective[(t.schema, t.name, col)] = replace(ref, origin="foreign-key", line=None)
                elif mine.label != ref.label or dict(mine.options) != dict(ref.options):
                    raise PolicyError(
                        f"{t.qualified}.{col} references {fk.ref_schema}.{fk.ref_table}.{rcol}, which is "
                        f"{ref.label}, but is itself {mine.label}: the foreign key would break",
                        file=file, line=mine.line, key=f"tables.{t.qualified}.columns.{col}",
                        hint=f"give both the same strategy ({ref.label}) or leave the referencing column out")
    if uncovered:
        more = f" and {len(uncovered) - 8} more" if len(uncovered) > 8 else ""
        raise PolicyError(f"strict mode: the policy does not cover {', '.join(uncovered[:8])}{more}",
                          file=file, hint="add them to the policy (keep with acknowledge: true if not personal), "
                                          "or run `rehearse scan` to draft the rules")
    if unacknowledged:
        raise PolicyError(f"strict mode: kept columns look personal: {'; '.join(unacknowledged[:8])}",
                          file=file, hint="anonymize them, or mark them `acknowledge: true` if that is intended")
    # pass 3: validate against types and unique keys, and lay out the plan
    for n, t in enumerate(tables, 1):
        tpol = policy.table(t.schema, t.name) if policy else None
        cols = []
        for col in t.columns:
            rule = effective.get((t.schema, t.name, col.name))
            where = f"tables.{t.qualified}.columns.{col.name}"
            if rule is not None:
                _check_fit(rule, col.type, where, file)
                _check_unique(rule, col.type, where, file)
                if rule.origin == "auto" and rule.changes_values:
                    plan.warnings.append(f"{t.qualified}.{col.name} is not in the policy and looks personal "
                                         f"({rule.why or rule.label}): anonymized with {rule.label}")
                plan.rules[f"{t.qualified}.{col.name}"] = rule.label + ("" if rule.origin == "policy"
                                                                         else f" ({rule.origin})")
            plan.column_names.append(f"{t.qualified}.{col.name}")
            cols.append(ColumnPlan(col.name, col.type, rule if rule and rule.changes_values else None,
                                   len(plan.column_names) - 1))
        plan.tables.append(TablePlan(t, tuple(cols), f"data/{n:04d}.copy.zst",
                                     bool(tpol and tpol.skip_data)))
    return plan


def _fk_rule_source(t: TableInfo, column: str, by_name: dict[str, TableInfo], policy: Policy | None) -> bool:
    """A column the policy omits is still covered when it references a column the policy anonymizes."""
    if policy is None:
        return False
    for fk in t.foreign_keys:
        if column in fk.columns:
            rcol = fk.ref_columns[fk.columns.index(column)]
            rule = policy.rule_for(fk.ref_schema, fk.ref_table, rcol)
            if rule is not None:
                return True
    return False
