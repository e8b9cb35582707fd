"""The anonymization policy: which strategy each table column gets, read from rehearse.yaml or pyproject.toml.

The file format is described in docs/policy.md. In short::

    version: 1
    locale: en_US
    tables:
      public.customers:
        columns:
          email: fake:email
          notes: scrub
          ssn: {strategy: mask, keep_last: 4}
          country: {strategy: keep, acknowledge: true}
          profile:
            strategy: json
            paths: {"$.phone": fake:phone, "$.address": fake:address}
      audit_log:
        data: skip          # schema only, no rows

Every error names the file, the line and the key, so a person can fix it without guessing.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..catalog import USER_COLUMNS_SQL as _COLUMNS_SQL  # the columns a policy must name (also RH405)
from ..errors import PolicyError, SourceUnreachable
from ..policytypes import STRATEGIES, Rule
from .fakes import FAKE_KINDS
from .jsonpath import parse_json_path

_OPTION_KEYS = {"value", "keep_first", "keep_last", "char", "days", "length", "default"}
_RULE_KEYS = _OPTION_KEYS | {"strategy", "acknowledge", "paths", "why", "kind"}


@dataclass(frozen=True)
class TablePolicy:
    schema: str
    name: str
    columns: Mapping[str, Rule] = field(default_factory=dict)
    skip_data: bool = False
    line: int | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Policy:
    path: str | None
    tables: Mapping[str, TablePolicy] = field(default_factory=dict)  # "schema.table" -> policy
    locale: str = "en_US"
    strict: bool = False
    digest: str = ""  # sha256 of the canonical policy: changes when any rule changes

    def table(self, schema: str, name: str) -> TablePolicy | None:
        return self.tables.get(f"{schema}.{name}")

    def rule_for(self, schema: str, table: str, column: str) -> Rule | None:
        t = self.table(schema, table)
        return t.columns.get(column) if t else None


# --- reading YAML with line numbers -----------------------------------------------------------


class _Map(dict):
    line: int | None = None
    key_lines: dict


def _to_py(node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = _Map()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for k, v in node.value:
            key = _to_py(k)
            out[str(key)] = _to_py(v)
            out.key_lines[str(key)] = k.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_py(v) for v in node.value]
    return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _toml_lines(text: str) -> dict[str, int]:
    """Approximate line numbers for keys in a TOML file: enough to point a person at the spot."""
    lines: dict[str, int] = {}
    for i, raw in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*(?:\[+\s*)?([^=\]]+?)\s*(?:\]+|=)", raw)
        if m:
            key = m.group(1).strip().strip('"')
            lines.setdefault(key.split(".")[-1].strip('"'), i)
            lines.setdefault(key, i)
    return lines


def load_policy(path: Path) -> Policy:
    """Read and validate a policy from rehearse.yaml (any YAML) or pyproject.toml [tool.rehearse]."""
    path = Path(path)
    if not path.exists():
        raise PolicyError("the policy file does not exist", file=str(path),
                          hint="write one with `rehearse scan SOURCE -o rehearse.yaml`")
    text = path.read_text()
    toml_lines: dict[str, int] | None = None
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"not valid TOML ({exc})", file=str(path)) from None
        data = data.get("tool", {}).get("rehearse")
        if data is None:
            raise PolicyError("has no [tool.rehearse] section", file=str(path),
                              hint="add [tool.rehearse.anonymize.tables...] or use rehearse.yaml")
        toml_lines = _toml_lines(text)
    else:
        try:
            node = yaml.compose(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise PolicyError(f"not valid YAML ({getattr(exc, 'problem', exc)})", file=str(path),
                              line=mark.line + 1 if mark else None) from None
        data = _to_py(node) if node is not None else {}
    if not isinstance(data, dict):
        raise PolicyError("must be a mapping with a 'tables' key", file=str(path), line=1)
    if "anonymize" in data:  # the policy may live inside a larger rehearse.yaml
        data = data["anonymize"]
    return _build_policy(data, str(path), toml_lines)


def policy_from_dict(data: Mapping[str, Any], *, path: str = "<policy>") -> Policy:
    return _build_policy(data, path, None)


def _build_policy(data: Mapping[str, Any], file: str, toml_lines: dict[str, int] | None) -> Policy:
    def line_of(container: Any, key: str) -> int | None:
        if toml_lines is not None:
            return toml_lines.get(key)
        lines = getattr(container, "key_lines", None)
        return lines.get(key) if lines else getattr(container, "line", None)

    def fail(msg: str, container: Any, key: str, *, hint: str | None = None) -> PolicyError:
        return PolicyError(msg, file=file, line=line_of(container, key.split(".")[-1]), key=key, hint=hint)

    if not isinstance(data, Mapping):
        raise PolicyError("must be a mapping with a 'tables' key", file=file, line=1)
    known = {"version", "locale", "strict", "tables", "secret_env"}
    rehearsal_sections = {"run", "thresholds", "invariants"}  # the same file's settings (rehearse.config)
    for key in data:
        if key in rehearsal_sections:
            continue
        if key not in known:
            raise fail(f"unknown key (known: {', '.join(sorted(known))})", data, str(key))
    version = data.get("version", 1)
    if version != 1:
        raise fail(f"version {version!r} is not supported (only 1)", data, "version")
    locale = str(data.get("locale", "en_US"))
    try:
        from faker.config import AVAILABLE_LOCALES

        if locale not in AVAILABLE_LOCALES:
            raise fail(f"Faker has no locale {locale!r}", data, "locale", hint="use e.g. en_US, de_DE, fr_FR")
    except ImportError:  # pragma: no cover
        pass
    tables_in = data.get("tables") or {}
    if not isinstance(tables_in, Mapping):
        raise fail("must map table names to their columns", data, "tables")
    tables: dict[str, TablePolicy] = {}
    for tname, tdata in tables_in.items():
        tname = str(tname)
        schema, _, name = tname.rpartition(".")
        schema = schema or "public"
        tkey = f"tables.{tname}"
        if tdata is None:
            tdata = {}
        if not isinstance(tdata, Mapping):
            raise fail("must be a mapping with 'columns' (and optionally 'data: skip')", tables_in, tname)
        for key in tdata:
            if key not in ("columns", "data"):
                raise fail("unknown key (known: columns, data)", tdata, f"{tkey}.{key}")
        data_mode = tdata.get("data", "copy")
        if data_mode not in ("copy", "skip"):
            raise fail("must be 'copy' or 'skip'", tdata, f"{tkey}.data")
        cols_in = tdata.get("columns") or {}
        if not isinstance(cols_in, Mapping):
            raise fail("must map column names to strategies", tdata, f"{tkey}.columns")
        cols: dict[str, Rule] = {}
        for cname, spec in cols_in.items():
            ckey = f"{tkey}.columns.{cname}"
            cols[str(cname)] = _rule(spec, ckey, cols_in, str(cname), fail, line_of)
        qualified = f"{schema}.{name}"
        if qualified in tables:
            raise fail("is listed twice", tables_in, tname)
        tables[qualified] = TablePolicy(schema, name, cols, data_mode == "skip", line_of(tables_in, tname))
    canonical = json.dumps(_canonical(data), sort_keys=True, default=str)
    return Policy(file, tables, locale, bool(data.get("strict", False)),
                  hashlib.sha256(canonical.encode()).hexdigest())


def _canonical(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    return obj


def _rule(spec: Any, key: str, container: Any, name: str, fail, line_of) -> Rule:
    line = line_of(container, name)
    if spec is None:  # YAML reads a bare `null` as None: the null strategy is what was meant
        return Rule("null", line=line)
    if isinstance(spec, str):
        return _parse_label(spec, key, container, name, fail, line=line)
    if not isinstance(spec, Mapping):
        raise fail("must be a strategy name (e.g. fake:email) or a mapping with 'strategy'", container, key)
    for k in spec:
        if k not in _RULE_KEYS:
            raise fail(f"unknown option (known: {', '.join(sorted(_RULE_KEYS))})", spec, f"{key}.{k}")
    label = spec.get("strategy")
    if label is None and "kind" in spec:
        label = f"fake:{spec['kind']}"
    if not isinstance(label, str):
        raise fail("needs a 'strategy' (keep, null, constant, fake:KIND, hash, mask, shift_date, json, scrub)",
                   container, key)
    base = _parse_label(label, f"{key}.strategy", spec, "strategy", fail, line=line)
    options = {k: spec[k] for k in _OPTION_KEYS if k in spec}
    for num in ("keep_first", "keep_last", "days", "length"):
        if num in options and not (isinstance(options[num], int) and options[num] >= 0):
            raise fail("must be a whole number >= 0", spec, f"{key}.{num}")
    if base.strategy == "constant" and "value" not in options and "value" not in base.options:
        raise fail("constant needs a 'value'", container, key)
    paths: dict[str, Rule] = {}
    if "paths" in spec:
        if base.strategy != "json":
            raise fail("'paths' only applies to strategy json", spec, f"{key}.paths")
        if not isinstance(spec["paths"], Mapping):
            raise fail("must map JSON paths ($.a.b, $.items[*].email) to strategies", spec, f"{key}.paths")
        for p, sub in spec["paths"].items():
            try:
                parse_json_path(str(p))
            except ValueError as exc:
                raise fail(str(exc), spec["paths"], f"{key}.paths.{p}") from None
            paths[str(p)] = _rule(sub, f"{key}.paths.{p}", spec["paths"], str(p), fail, line_of)
    if "default" in options and options["default"] != "keep":
        options["default"] = _rule(options["default"], f"{key}.default", spec, "default", fail, line_of)
    merged = dict(base.options)
    merged.update(options)
    return Rule(base.strategy, base.kind, merged, paths, bool(spec.get("acknowledge", False)), line,
                "policy", spec.get("why"))


def _parse_label(label: str, key: str, container: Any, name: str, fail, *, line: int | None) -> Rule:
    text = label.strip()
    head, _, arg = text.partition(":")
    head = head.strip()
    if head not in STRATEGIES:
        raise fail(f"unknown strategy {head!r} (known: {', '.join(STRATEGIES)})", container, key)
    if head == "fake":
        kind = arg.strip()
        if kind not in FAKE_KINDS:
            raise fail(f"unknown fake kind {kind!r} (known: {', '.join(sorted(FAKE_KINDS))})", container, key)
        return Rule("fake", kind, line=line)
    if head == "constant" and arg:
        return Rule("constant", options={"value": arg}, line=line)
    if arg:
        raise fail(f"strategy {head!r} takes no ':' argument", container, key)
    return Rule(head, line=line)


# --- coverage ----------------------------------------------------------------------------------



def uncovered_columns(policy: Policy, dsn_or_url: str) -> list[str]:
    """Columns ("schema.table.column") in the database that the policy does not mention."""
    import psycopg2

    from .. import urls

    dsn = dsn_or_url if "://" not in dsn_or_url else urls.libpq_dsn(dsn_or_url)
    try:
        conn = psycopg2.connect(dsn)
    except psycopg2.OperationalError as exc:
        raise SourceUnreachable(f"cannot connect to {urls.redact(dsn_or_url)}: {str(exc).strip().splitlines()[0]}",
                                hint="check the URL and that the server is running") from None
    try:
        with conn.cursor() as cur:
            cur.execute(_COLUMNS_SQL)
            rows = cur.fetchall()
    finally:
        conn.close()
    out = []
    for schema, table, column in rows:
        t = policy.table(schema, table)
        if t is not None and (t.skip_data or column in t.columns):
            continue
        out.append(f"{schema}.{table}.{column}")
    return out
