"""Drafting a policy: look at every column of the source (names, types, a bounded sample) and write YAML.

Every column of every table appears in the draft with a strategy and a ``# why`` comment, so the
draft can be used with ``--strict`` as is, and reviewing it is reading one line per column.
Reads run in one READ ONLY transaction; the sample is ``LIMIT sample_rows`` per table.
"""

from __future__ import annotations

import json


from ..catalog import quote_ident, read_tables
from ..pgconn import source_connection
from .detect import classify
from ..policytypes import Rule


def _label(rule: Rule) -> str:
    return rule.label


def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def scan_source(source_url: str, *, sample_rows: int = 1000) -> str:
    """Return policy YAML text covering every table and column of the source."""
    c = source_connection(source_url)
    conn = c.connect()
    try:
        with conn.cursor() as cur:
            tables = read_tables(cur)
            lines = ["# Anonymization policy drafted by `rehearse scan` from " + c.redacted,
                     "# Review every line: 'keep' copies values as they are. See docs/policy.md.",
                     "version: 1", "locale: en_US", "tables:"]
            verdicts: dict[tuple[str, str, str], Rule] = {}
            for t in tables:
                samples: dict[str, list[str]] = {c.name: [] for c in t.columns}
                if t.columns and sample_rows > 0:
                    cols = ", ".join(f"{quote_ident(col.name)}::text" for col in t.columns)
                    cur.execute(f"SELECT {cols} FROM {t.ident} LIMIT %s", (sample_rows,))
                    for row in cur.fetchall():
                        for col, v in zip(t.columns, row):
                            if v is not None:
                                samples[col.name].append(v)
                lines.append(f"  {t.qualified}:")
                if not t.columns:
                    lines.append("    columns: {}")
                    continue
                lines.append("    columns:")
                for col in t.columns:
                    v = classify(col.name, col.type.name, col.type.category, samples[col.name],
                                 is_json=col.type.is_json, is_array=col.type.is_array)
                    rule, why = v.rule, v.why
                    # a foreign key follows the column it references
                    for fk in t.foreign_keys:
                        if col.name in fk.columns:
                            ref = verdicts.get((fk.ref_schema, fk.ref_table,
                                                fk.ref_columns[fk.columns.index(col.name)]))
                            if ref is not None and ref.changes_values:
                                rule, why = ref, f"references {fk.ref_schema}.{fk.ref_table}: same strategy keeps joins"
                    if rule.changes_values and col.type.unique and not rule.collision_free:
                        rule, why = Rule("hash"), f"{why}; unique column, so a collision-free hash"
                    if rule.strategy == "null" and col.type.not_null:
                        rule = Rule("hash")
                    verdicts[(t.schema, t.name, col.name)] = rule
                    lines.extend(_column_yaml(col.name, rule, why, col.type.name))
            return "\n".join(lines) + "\n"
    finally:
        conn.rollback()
        conn.close()


def _column_yaml(name: str, rule: Rule, why: str, type_name: str) -> list[str]:
    key = _yaml_str(name) if not name.replace("_", "").isalnum() else name
    comment = f"  # {why} [{type_name}]"
    if rule.strategy == "json":
        out = [f"      {key}:{comment}", "        strategy: json", "        paths:"]
        for path, sub in rule.paths.items():
            out.append(f"          {_yaml_str(path)}: {sub.label}")
        return out
    if rule.strategy == "keep":
        return [f"      {key}: keep{comment}"]
    return [f"      {key}: {_label(rule)}{comment}"]
