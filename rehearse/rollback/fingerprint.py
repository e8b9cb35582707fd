"""Schema fingerprints: a comparable picture of everything a migration can change, and its diff.

``schema_fingerprint(conn)`` reads the catalogs of the user schemas in a handful of queries and
returns a frozen ``SchemaFingerprint``: one ``SchemaObject`` per schema, extension, type, table,
column, constraint, index, sequence, view, function, trigger, policy, rule, statistics object,
default privilege and comment, each with an ordered tuple of rendered attributes (definitions
as PostgreSQL itself prints them, owners, ACLs). ``diff_schema(before, after)`` compares two of
them and says, object by object, what a downgrade failed to put back.

Two fingerprints are ``==`` only when every name matches too; ``diff_schema`` is the judgement:
it does not count a constraint or index whose PostgreSQL-generated name changed while its
definition stayed the same (``orders_customer_id_fkey`` recreated as ``fk_orders_customer``)
unless asked to. Objects of extensions are covered by the extension's version, not one by one.
rehearse's own objects (schemas and relations whose names start with ``_rehearse``) are left out.
Column order is ignored (a re-added column lands at the end; no query by name notices).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable

from rehearse import model

# Kinds whose names are unique per table only, so a person needs the table to find them.
_TABLE_SCOPED = ("constraint", "trigger", "policy", "rule")

# Prefix of every object rehearse itself may create in a staging database.
OWN_PREFIX = "_rehearse"

# Names PostgreSQL (and SQLAlchemy without a naming convention) picks by itself:
# <table>_<columns>_<suffix>[N], truncated to 63 bytes.
_GENERATED_SUFFIX = re.compile(r"_(pkey|key|fkey|check|excl|idx|seq|not_null)\d*$")

_USER_NS = (
    r"{n}.nspname NOT LIKE 'pg\_%' AND {n}.nspname <> 'information_schema'"
    rf" AND {{n}}.nspname NOT LIKE '\{OWN_PREFIX}%'"
)


def _user_ns(alias: str = "n") -> str:
    return _USER_NS.format(n=alias)


def _not_own_rel(alias: str = "c") -> str:
    return rf"{alias}.relname NOT LIKE '\{OWN_PREFIX}%'"


def _not_extension_member(catalog: str, oid: str) -> str:
    return (f"NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '{catalog}'::regclass"
            f" AND dep.objid = {oid} AND dep.deptype = 'e')")


@dataclass(frozen=True)
class SchemaObject:
    """One database object as the catalogs describe it.

    ``name`` is qualified (``public.orders``, ``public.orders.amount`` for a column,
    ``public.orders.orders_pkey`` for a constraint). ``attrs`` are ordered (label, value)
    pairs with values rendered as text; two objects with equal attrs are the same object.
    """

    kind: str
    name: str
    attrs: tuple[tuple[str, str | None], ...]
    table: str | None = None  # the table a column/constraint/index/trigger belongs to
    generated_name: bool = False  # PostgreSQL chose the name (see module docstring)

    @property
    def key(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def signature(self) -> tuple:
        """What the object is, without its own name: used to match renames."""
        return (self.kind, self.table, self.attrs)

    def attr(self, label: str) -> str | None:
        return dict(self.attrs).get(label)

    @property
    def label(self) -> str:
        """How a person reads its name: no ``public.``, table-scoped names say their table."""
        if self.table is not None and self.kind in _TABLE_SCOPED:
            return f"{_short(self.name.rsplit('.', 1)[-1])} on {_short(self.table)}"
        return _short(self.name)


@dataclass(frozen=True)
class SchemaFingerprint:
    """Every user object of a database at one moment; compare two with ``diff_schema``."""

    objects: tuple[SchemaObject, ...]
    server_version_num: int = 0
    duration_s: float = field(default=0.0, compare=False)

    @cached_property
    def by_key(self) -> dict[str, SchemaObject]:
        return {o.key: o for o in self.objects}

    def __len__(self) -> int:
        return len(self.objects)

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.objects:
            counts[o.kind] = counts.get(o.kind, 0) + 1
        return counts


def _short(name: str) -> str:
    return name[len("public."):] if name.startswith("public.") else name


def _q(schema: str, name: str) -> str:
    return f"{schema}.{name}"


def _acl(value: Any) -> str | None:
    if not value:
        return None
    return ",".join(sorted(value))


def _list(value: Any) -> str | None:
    if value is None:
        return None
    return ", ".join(str(v) for v in value)


def _looks_generated(name: str, table: str | None) -> bool:
    if not _GENERATED_SUFFIX.search(name):
        return False
    if table is None:
        return True
    bare = table.rsplit(".", 1)[-1]
    # PostgreSQL truncates the table part of long names; compare what survives.
    return name.startswith(bare[: min(len(bare), 8)])


def _rows(cur, sql: str) -> list[tuple]:
    cur.execute(sql)
    return cur.fetchall()


# --- the catalog queries ---------------------------------------------------------------------


def _schemas(cur) -> Iterable[SchemaObject]:
    for nspname, owner, acl in _rows(cur, f"""
        SELECT n.nspname, pg_get_userbyid(n.nspowner), n.nspacl::text[]
        FROM pg_namespace n WHERE {_user_ns()}"""):
        yield SchemaObject("schema", nspname, (("owner", owner), ("grants", _acl(acl))))


def _extensions(cur) -> Iterable[SchemaObject]:
    for name, version, schema in _rows(cur, """
        SELECT e.extname, e.extversion, n.nspname
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"""):
        yield SchemaObject("extension", name, (("version", version), ("schema", schema)))


_REL_KINDS = {"r": "table", "p": "table", "f": "foreign table", "v": "view", "m": "materialized view"}


def _relations(cur) -> Iterable[SchemaObject]:
    for (schema, name, relkind, persistence, owner, acl, options, rls, force_rls, replident,
         bound, partkey, parents, viewdef, populated, tablespace) in _rows(cur, f"""
        SELECT n.nspname, c.relname, c.relkind, c.relpersistence, pg_get_userbyid(c.relowner),
               c.relacl::text[], c.reloptions, c.relrowsecurity, c.relforcerowsecurity,
               c.relreplident,
               CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END,
               CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
               (SELECT array_agg(format('%I.%I', pn.nspname, pc.relname) ORDER BY i.inhseqno)
                  FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
                  JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid),
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
               c.relispopulated, ts.spcname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
        WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND {_user_ns()} AND {_not_own_rel()}
          AND {_not_extension_member('pg_class', 'c.oid')}"""):
        kind = _REL_KINDS[relkind]
        attrs: list[tuple[str, str | None]] = []
        if kind in ("view", "materialized view"):
            attrs.append(("definition", " ".join((viewdef or "").split())))
            if relkind == "m":
                attrs.append(("populated", "yes" if populated else "no"))
        else:
            attrs.append(("persistence", {"p": "logged", "u": "unlogged", "t": "temporary"}[persistence]))
            attrs.append(("partitioned by", partkey))
            attrs.append(("partition bound", bound))
            attrs.append(("inherits", _list(parents)))
            attrs.append(("row level security", ("forced" if force_rls else "on") if rls else None))
            attrs.append(("replica identity", {"d": None, "n": "nothing", "f": "full", "i": "index"}[replident]))
        attrs += [("options", _list(sorted(options)) if options else None), ("tablespace", tablespace),
                  ("owner", owner), ("grants", _acl(acl))]
        yield SchemaObject(kind, _q(schema, name), tuple(attrs))


def _columns(cur) -> Iterable[SchemaObject]:
    for schema, table, column, typ, notnull, default, identity, generated, collation, acl in _rows(cur, f"""
        SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, co.collname,
               a.attacl::text[]
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f')
          AND NOT c.relispartition AND {_user_ns()} AND {_not_own_rel()}
          AND {_not_extension_member('pg_class', 'c.oid')}"""):
        attrs = (
            ("type", typ),
            ("nullable", "NOT NULL" if notnull else "nullable"),
            ("default", None if generated else default),
            ("generated", f"ALWAYS AS ({default}) STORED" if generated else None),
            ("identity", {"a": "GENERATED ALWAYS AS IDENTITY", "d": "GENERATED BY DEFAULT AS IDENTITY"}.get(identity)),
            ("collation", collation),
            ("grants", _acl(acl)),
        )
        yield SchemaObject("column", f"{schema}.{table}.{column}", attrs, table=_q(schema, table))


def _constraints(cur) -> Iterable[SchemaObject]:
    for schema, table, typname, conname, contype, definition, validated in _rows(cur, f"""
        SELECT n.nspname, c.relname, t.typname, con.conname, con.contype,
               pg_get_constraintdef(con.oid), con.convalidated
        FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
        LEFT JOIN pg_class c ON c.oid = con.conrelid
        LEFT JOIN pg_type t ON t.oid = con.contypid
        WHERE {_user_ns()} AND con.conparentid = 0 AND con.conislocal
          AND (c.oid IS NULL OR {_not_own_rel()})
          AND {_not_extension_member('pg_constraint', 'con.oid')}"""):
        owner = _q(schema, table) if table else _q(schema, typname)
        attrs = (("definition", definition), ("validated", "yes" if validated else "no (NOT VALID)"))
        generated = _looks_generated(conname, owner) if table else False
        yield SchemaObject("constraint", f"{owner}.{conname}", attrs, table=owner, generated_name=generated)


def _indexes(cur) -> Iterable[SchemaObject]:
    # Storage options (fillfactor...) are part of pg_get_indexdef's WITH (...).
    for schema, name, table, indexdef, quoted, unique, valid, tablespace in _rows(cur, f"""
        SELECT n.nspname, ic.relname, tc.relname, pg_get_indexdef(i.indexrelid), quote_ident(ic.relname),
               i.indisunique, i.indisvalid, ts.spcname
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class tc ON tc.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = ic.relnamespace
        LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace
        WHERE {_user_ns()} AND {_not_own_rel('tc')}
          AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
          -- indexes that back a primary key, unique or exclusion constraint are that constraint
          AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                          AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
          AND {_not_extension_member('pg_class', 'ic.oid')}"""):
        # The definition without the index's own name, so equal definitions compare equal.
        # Uniqueness is its own attribute, so a unique flip reads as one difference, not two.
        definition = indexdef.replace(f"INDEX {quoted} ON ", "INDEX ON ", 1).replace(
            "CREATE UNIQUE INDEX ", "CREATE INDEX ", 1)
        attrs = (("definition", definition), ("unique", "unique" if unique else "non-unique"),
                 ("valid", "valid" if valid else "invalid"), ("tablespace", tablespace))
        owner = _q(schema, table)
        yield SchemaObject("index", _q(schema, name), attrs, table=owner,
                           generated_name=_looks_generated(name, owner))


def _sequences(cur) -> Iterable[SchemaObject]:
    for (schema, name, typ, start, increment, minv, maxv, cache, cycle, last, owned_by, owner,
         acl) in _rows(cur, f"""
        SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
               s.seqmin, s.seqmax, s.seqcache, s.seqcycle, pg_sequence_last_value(c.oid),
               (SELECT format('%I.%I.%I', tn.nspname, tc.relname, ta.attname)
                         || CASE WHEN d.deptype = 'i' THEN ' (identity)' ELSE '' END
                  FROM pg_depend d JOIN pg_class tc ON tc.oid = d.refobjid
                  JOIN pg_namespace tn ON tn.oid = tc.relnamespace
                  JOIN pg_attribute ta ON ta.attrelid = tc.oid AND ta.attnum = d.refobjsubid
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                    AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
                    AND d.deptype IN ('a', 'i') LIMIT 1),
               pg_get_userbyid(c.relowner), c.relacl::text[]
        FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_user_ns()} AND {_not_own_rel()} AND {_not_extension_member('pg_class', 'c.oid')}"""):
        attrs = (
            ("type", typ), ("start", str(start)), ("increment", str(increment)), ("min", str(minv)),
            ("max", str(maxv)), ("cache", str(cache)), ("cycle", "yes" if cycle else "no"),
            ("owned by", owned_by), ("owner", owner), ("grants", _acl(acl)),
            # None: never used (nextval not called since creation or setval(..., false)).
            ("last value", None if last is None else str(last)),
        )
        table = owned_by.split(" ")[0].rsplit(".", 1)[0] if owned_by else None
        yield SchemaObject("sequence", _q(schema, name), attrs,
                           generated_name=_looks_generated(name, table) if table else False)


def _functions(cur) -> Iterable[SchemaObject]:
    kinds = {"f": "function", "p": "procedure", "a": "aggregate", "w": "function"}
    for schema, name, args, prokind, definition, owner, acl in _rows(cur, f"""
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
               CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid)
                    ELSE (SELECT format('returns %s sfunc %s stype %s finalfunc %s initcond %s',
                                        pg_get_function_result(p.oid), ag.aggtransfn::regproc,
                                        format_type(ag.aggtranstype, NULL), ag.aggfinalfn::regproc,
                                        ag.agginitval)
                          FROM pg_aggregate ag WHERE ag.aggfnoid = p.oid) END,
               pg_get_userbyid(p.proowner), p.proacl::text[]
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {_user_ns()} AND {_not_extension_member('pg_proc', 'p.oid')}"""):
        attrs = (("definition", (definition or "").strip()), ("owner", owner), ("grants", _acl(acl)))
        yield SchemaObject(kinds.get(prokind, "function"), f"{schema}.{name}({args})", attrs)


def _triggers(cur, server_version_num: int) -> Iterable[SchemaObject]:
    not_clone = "AND t.tgparentid = 0" if server_version_num >= 130000 else ""
    for schema, table, name, definition, enabled in _rows(cur, f"""
        SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal {not_clone} AND {_user_ns()} AND {_not_own_rel()}"""):
        state = {"O": "enabled", "D": "disabled", "R": "enabled on replica", "A": "enabled always"}
        owner = _q(schema, table)
        yield SchemaObject("trigger", f"{owner}.{name}",
                           (("definition", definition), ("state", state.get(enabled, enabled))), table=owner)


def _types(cur) -> Iterable[SchemaObject]:
    for schema, name, typtype, members, base, notnull, default, collation, owner, acl in _rows(cur, f"""
        SELECT n.nspname, t.typname, t.typtype,
               CASE t.typtype
                 WHEN 'e' THEN (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
                                FROM pg_enum e WHERE e.enumtypid = t.oid)
                 WHEN 'c' THEN (SELECT array_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
                                                 ORDER BY a.attnum)
                                FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
                                  AND NOT a.attisdropped) END,
               CASE t.typtype WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                 WHEN 'r' THEN (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r
                                WHERE r.rngtypid = t.oid) END,
               t.typnotnull, t.typdefault, CASE WHEN t.typtype = 'd' THEN co.collname END,
               pg_get_userbyid(t.typowner), t.typacl::text[]
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        LEFT JOIN pg_class rc ON rc.oid = t.typrelid
        LEFT JOIN pg_collation co ON co.oid = t.typcollation
        WHERE t.typtype IN ('e', 'd', 'c', 'r') AND (t.typtype <> 'c' OR rc.relkind = 'c')
          AND {_user_ns()} AND {_not_extension_member('pg_type', 't.oid')}"""):
        if typtype == "e":
            attrs = (("values", "\x1f".join(members or ())),)
            kind = "enum"
        elif typtype == "c":
            attrs = (("attributes", _list(members)),)
            kind = "composite type"
        elif typtype == "d":
            attrs = (("base type", base), ("nullable", "NOT NULL" if notnull else "nullable"),
                     ("default", default), ("collation", collation))
            kind = "domain"
        else:
            attrs = (("subtype", base),)
            kind = "range type"
        yield SchemaObject(kind, _q(schema, name), attrs + (("owner", owner), ("grants", _acl(acl))))


def _policies_rules_statistics(cur) -> Iterable[SchemaObject]:
    for schema, table, name, cmd, permissive, roles, qual, check in _rows(cur, f"""
        SELECT n.nspname, c.relname, p.polname, p.polcmd, p.polpermissive,
               (SELECT array_agg(CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END ORDER BY 1)
                  FROM unnest(p.polroles) r),
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
        FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_user_ns()} AND {_not_own_rel()}"""):
        owner = _q(schema, table)
        yield SchemaObject("policy", f"{owner}.{name}", (
            ("command", {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}.get(cmd, cmd)),
            ("permissive", "permissive" if permissive else "restrictive"), ("roles", _list(roles)),
            ("using", qual), ("with check", check)), table=owner)
    for schema, table, name, definition in _rows(cur, rf"""
        SELECT r.schemaname, r.tablename, r.rulename, r.definition FROM pg_rules r
        WHERE {_user_ns('r').replace('r.nspname', 'r.schemaname')}
          AND r.tablename NOT LIKE '\{OWN_PREFIX}%'"""):
        owner = _q(schema, table)
        yield SchemaObject("rule", f"{owner}.{name}", (("definition", definition),), table=owner)
    for schema, name, definition in _rows(cur, f"""
        SELECT n.nspname, s.stxname, pg_get_statisticsobjdef(s.oid)
        FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE {_user_ns()}"""):
        yield SchemaObject("statistics", _q(schema, name), (("definition", definition),))
    for role, schema, objtype, acl in _rows(cur, """
        SELECT pg_get_userbyid(d.defaclrole), n.nspname, d.defaclobjtype, d.defaclacl::text[]
        FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace"""):
        what = {"r": "tables", "S": "sequences", "f": "functions", "T": "types", "n": "schemas"}.get(objtype, objtype)
        where = f" in schema {schema}" if schema else ""
        yield SchemaObject("default privileges", f"for {what} created by {role}{where}", (("grants", _acl(acl)),))


def _comments(cur) -> Iterable[SchemaObject]:
    for typ, identity, description in _rows(cur, rf"""
        SELECT o.type, o.identity, d.description
        FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
        WHERE d.objoid >= 16384
          AND (o.schema IS NULL OR (o.schema NOT LIKE 'pg\_%' AND o.schema <> 'information_schema'
                                    AND o.schema NOT LIKE '\{OWN_PREFIX}%'))
          AND NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = d.classoid
                          AND dep.objid = d.objoid AND dep.deptype = 'e')"""):
        yield SchemaObject("comment", f"on {typ} {identity}", (("text", description),))


def schema_fingerprint(conn) -> SchemaFingerprint:
    """Describe every user object of the database ``conn`` is connected to.

    ``conn`` is an open psycopg2 connection (autocommit or not; nothing is written). About
    fifteen catalog queries, a few milliseconds each on an ordinary schema.
    """
    import time

    started = time.perf_counter()
    version = conn.server_version
    with conn.cursor() as cur:
        objects: list[SchemaObject] = []
        for part in (_schemas(cur), _extensions(cur), _relations(cur), _columns(cur),
                     _constraints(cur), _indexes(cur), _sequences(cur), _functions(cur),
                     _triggers(cur, version), _types(cur), _policies_rules_statistics(cur),
                     _comments(cur)):
            objects.extend(part)
    objects.sort(key=lambda o: o.key)
    return SchemaFingerprint(tuple(objects), version, time.perf_counter() - started)


# --- the diff --------------------------------------------------------------------------------

_KIND_ORDER = ("schema", "extension", "enum", "domain", "composite type", "range type", "table",
               "foreign table", "column", "constraint", "index", "sequence", "view",
               "materialized view", "function", "procedure", "aggregate", "trigger", "policy",
               "rule", "statistics", "default privileges", "comment")
_RENAMEABLE = ("constraint", "index", "sequence")
_TABLE_KINDS = ("table", "foreign table")
_LONG = 160


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= _LONG else text[: _LONG - 1] + "…"


def _summary(obj: SchemaObject) -> str:
    """A short definition of an object for the report's before/after columns."""
    values = dict(obj.attrs)
    if obj.kind == "column":
        parts = [values["type"]]
        if values["nullable"] == "NOT NULL":
            parts.append("NOT NULL")
        for label in ("default", "generated", "identity"):
            if values.get(label):
                parts.append(f"DEFAULT {values[label]}" if label == "default" else values[label])
        return " ".join(parts)
    if obj.kind == "index" and values.get("unique") == "unique":
        return _clip((values.get("definition") or "").replace("CREATE INDEX ", "CREATE UNIQUE INDEX ", 1)) or ""
    if obj.kind in ("constraint", "index", "view", "materialized view", "function", "procedure",
                    "trigger", "rule", "statistics"):
        return _clip(values.get("definition")) or ""
    if obj.kind == "enum":
        return ", ".join(repr(v) for v in (values["values"] or "").split("\x1f") if v)
    if obj.kind == "sequence":
        return f"{values['type']} start {values['start']} increment {values['increment']} last value {values['last value'] or 'unused'}"
    shown = [f"{k} {v}" for k, v in obj.attrs if v is not None and k not in ("owner", "grants")]
    return _clip(", ".join(shown) or obj.kind) or obj.kind


def _attr_message(obj: SchemaObject, label: str, before: str | None, after: str | None) -> str:
    who = f"{obj.kind} {obj.label}"
    if obj.kind == "sequence" and label == "last value":
        if before is None:
            return f"{who} was unused and is now at {after}"
        if after is None:
            return f"{who} was at {before} and is now reset to unused"
        verb = "advanced" if int(after) > int(before) else "went back"
        return f"{who} {verb} from {before} to {after}"
    if label in ("unique", "valid", "nullable", "type", "persistence", "permissive", "populated"):
        return f"{who} is back as {after}; it was {before}"
    if label == "definition":
        return f"{who} has a different definition after the downgrade"
    if label == "validated":
        return f"{who} is back with validated={after}; it was {before}"
    if before is None:
        return f"{who} has {label} {_clip(after)} after the downgrade; it had none"
    if after is None:
        return f"{who} lost its {label} {_clip(before)}"
    return f"{who} is back with {label} {_clip(after)}; it was {_clip(before)}"


def _enum_diffs(before: SchemaObject, after: SchemaObject) -> list[model.SchemaDiff]:
    old = [v for v in (before.attr("values") or "").split("\x1f") if v]
    new = [v for v in (after.attr("values") or "").split("\x1f") if v]
    obj, label = f"type {before.name}", _short(before.name)
    diffs = []
    for value in new:
        if value not in old:
            diffs.append(model.SchemaDiff(obj, "changed", _summary(before), _summary(after),
                                          f"enum value '{value}' of type {label} remains after the downgrade"))
    for value in old:
        if value not in new:
            diffs.append(model.SchemaDiff(obj, "changed", _summary(before), _summary(after),
                                          f"enum value '{value}' of type {label} is missing after the downgrade"))
    if not diffs and old != new:
        diffs.append(model.SchemaDiff(obj, "changed", _summary(before), _summary(after),
                                      f"enum type {label} has its values in a different order after the downgrade"))
    return diffs


def _changed(before: SchemaObject, after: SchemaObject) -> list[model.SchemaDiff]:
    if before.kind == "enum" and before.attr("values") != after.attr("values"):
        rest = [model.SchemaDiff(f"type {before.name}", "changed", b, a, _attr_message(before, k, b, a))
                for (k, b), (_, a) in zip(before.attrs, after.attrs) if k != "values" and a != b]
        return _enum_diffs(before, after) + rest
    obj = f"{before.kind} {before.name}"
    diffs = []
    for (label, old), (label2, new) in zip(before.attrs, after.attrs):
        if old != new:
            summarized = before.kind in ("column", "index") and label != "grants"
            shown_before = _summary(before) if summarized else old
            shown_after = _summary(after) if summarized else new
            diffs.append(model.SchemaDiff(obj, "changed", _clip(shown_before), _clip(shown_after),
                                          _attr_message(before, label, old, new)))
    return diffs


def is_benign(diff: model.SchemaDiff) -> bool:
    """A sequence that moved forward: gaps are normal and nothing can collide with a new value.

    PostgreSQL never rewinds a sequence (not even on ROLLBACK), so a data migration whose
    downgrade deletes the rows it inserted leaves the sequence ahead; that is harmless. A
    sequence that went *back* is not benign: new rows can collide with existing keys.
    """
    return diff.object.startswith("sequence ") and (
        " advanced from " in diff.message or " was unused and is now at " in diff.message)


def diff_schema(before: SchemaFingerprint, after: SchemaFingerprint, *,
                compare_generated_names: bool = False) -> tuple[model.SchemaDiff, ...]:
    """What differs between two fingerprints, one readable ``SchemaDiff`` per difference.

    ``before`` is the schema before the upgrade, ``after`` the one after the downgrade (messages
    are phrased for that). A constraint, index or owned sequence that is back under another name
    with the very same definition is not reported when either name is one PostgreSQL generates
    (``orders_customer_id_fkey``, ``orders_pkey``, ``orders_id_seq``), unless
    ``compare_generated_names`` is true; a user-chosen name that changed is always reported.
    Objects of a table that was added or removed are folded into that table's one diff.
    """
    old, new = before.by_key, after.by_key
    removed = [old[k] for k in old.keys() - new.keys()]
    added = [new[k] for k in new.keys() - old.keys()]
    diffs: list[tuple[SchemaObject, model.SchemaDiff]] = []

    # Same definition, other name: a rename, or no difference at all for generated names.
    by_signature: dict[tuple, list[SchemaObject]] = {}
    for obj in added:
        if obj.kind in _RENAMEABLE:
            by_signature.setdefault(_rename_signature(obj), []).append(obj)
    still_removed = []
    for obj in removed:
        candidates = by_signature.get(_rename_signature(obj)) if obj.kind in _RENAMEABLE else None
        if not candidates:
            still_removed.append(obj)
            continue
        twin = candidates.pop(0)
        added.remove(twin)
        if compare_generated_names or not (obj.generated_name or twin.generated_name):
            diffs.append((obj, model.SchemaDiff(
                f"{obj.kind} {obj.name}", "changed", obj.name, twin.name,
                f"{obj.kind} {obj.label} is back under another name, {_short(twin.name.rsplit('.', 1)[-1])}, "
                f"with the same definition")))
    removed = still_removed

    gone_tables = {o.name for o in removed if o.kind in _TABLE_KINDS}
    new_tables = {o.name for o in added if o.kind in _TABLE_KINDS}
    for obj in removed:
        if obj.table in gone_tables:
            continue
        diffs.append((obj, model.SchemaDiff(f"{obj.kind} {obj.name}", "removed", _summary(obj), None,
                                            f"{obj.kind} {obj.label} existed before the upgrade and is "
                                            f"missing after the downgrade")))
    for obj in added:
        if obj.table in new_tables:
            continue
        diffs.append((obj, model.SchemaDiff(f"{obj.kind} {obj.name}", "added", None, _summary(obj),
                                            f"{obj.kind} {obj.label} was added and is still there "
                                            f"after the downgrade")))
    for key in old.keys() & new.keys():
        if old[key].attrs != new[key].attrs:
            diffs.extend((old[key], d) for d in _changed(old[key], new[key]))

    def order(item: tuple[SchemaObject, model.SchemaDiff]) -> tuple:
        obj, diff = item
        rank = _KIND_ORDER.index(obj.kind) if obj.kind in _KIND_ORDER else len(_KIND_ORDER)
        return (rank, obj.name, diff.message)

    return tuple(d for _, d in sorted(diffs, key=order))


def _rename_signature(obj: SchemaObject) -> tuple:
    attrs = obj.attrs
    if obj.kind == "sequence":  # its value is compared once the twins are paired... by name only
        attrs = tuple((k, v) for k, v in attrs if k != "last value")
    return (obj.kind, obj.table, attrs)
