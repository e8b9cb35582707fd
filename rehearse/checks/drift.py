"""Drift: does the migrated database match the application's SQLAlchemy metadata?"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from ..errors import BadInput, InfrastructureError
from ..model import Finding
from ..urls import redact, sqlalchemy_url
from .base import Hit, get_rule


def load_metadata(target: str, project_dir: str | Path | None = None) -> Any:
    """Import "package.module:attribute" (a MetaData, or a declarative Base with .metadata)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise BadInput(f"'{target}' is not a models target", hint="write it as package.module:metadata")
    if project_dir is not None and str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BadInput(f"cannot import {module_name} for drift checking: {exc}",
                       hint="run from the project directory or set the models path in the config") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise BadInput(f"{module_name} has no attribute {attr}", hint="point at a sqlalchemy MetaData")
        obj = getattr(obj, part)
    metadata = getattr(obj, "metadata", obj)
    if not hasattr(metadata, "tables"):
        raise BadInput(f"{target} is not a SQLAlchemy MetaData", hint="point at Base.metadata or a MetaData()")
    return metadata


def model_differences(url: str, target: str | Any, *, project_dir: str | Path | None = None,
                      include_schemas: bool = False) -> list[tuple[str, dict]]:
    """(sentence, evidence) for every difference between the database at ``url`` and the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    metadata = load_metadata(target, project_dir) if isinstance(target, str) else target
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={
                "compare_type": True, "compare_server_default": False,
                "include_schemas": include_schemas,
                "include_name": _skip_version_table,
            })
            diffs = compare_metadata(ctx, metadata)
    except SQLAlchemyError as exc:
        raise InfrastructureError(f"cannot compare models with {redact(url)}: {str(exc).splitlines()[0]}",
                                  hint="check the staging database is running") from None
    finally:
        engine.dispose()
    return [describe(op) for diff in diffs for op in (diff if isinstance(diff, list) else [diff])]


def compare_models(url: str, target: str | Any, *, project_dir: str | Path | None = None,
                   include_schemas: bool = False) -> list[Finding]:
    """RH403 findings: differences between the database at ``url`` and the models' metadata."""
    rule = get_rule("RH403")
    return [rule.finding(Hit(message, evidence), phase="drift")
            for message, evidence in model_differences(url, target, project_dir=project_dir,
                                                       include_schemas=include_schemas)]


def _skip_version_table(name, type_, parent_names) -> bool:
    return not (type_ == "table" and name == "alembic_version")


def describe(op: tuple) -> tuple[str, dict]:
    """One sentence and evidence for an autogenerate diff tuple."""
    kind = op[0]
    if kind in ("add_table", "remove_table"):
        table = op[1]
        where = "in the models but not in the database" if kind == "add_table" else "in the database but not in the models"
        return f"table {_full(table.schema, table.name)} is {where}", {"diff": kind, "table": table.name}
    if kind in ("add_column", "remove_column"):
        _, schema, tname, col = op
        where = "in the models but not in the database" if kind == "add_column" else "in the database but not in the models"
        return (f"column {_full(schema, tname)}.{col.name} is {where}",
                {"diff": kind, "table": tname, "column": col.name})
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        obj = op[1]
        table = getattr(obj, "table", None)
        where = "in the models but not in the database" if kind.startswith("add") else "in the database but not in the models"
        return (f"{kind.split('_')[1]} {obj.name} on {getattr(table, 'name', '?')} is {where}",
                {"diff": kind, "name": obj.name, "table": getattr(table, "name", None)})
    if kind in ("add_fk", "remove_fk"):
        fk = op[1]
        where = "in the models but not in the database" if kind == "add_fk" else "in the database but not in the models"
        return (f"foreign key {fk.name} on {fk.parent.name} is {where}",
                {"diff": kind, "name": fk.name, "table": fk.parent.name})
    if kind.startswith("modify_"):
        _, schema, tname, cname, _existing, old, new = op
        what = kind[len("modify_"):]
        return (f"{what} of {_full(schema, tname)}.{cname} is {old} in the database but {new} in the models",
                {"diff": kind, "table": tname, "column": cname, "database": str(old), "models": str(new)})
    return f"schema differs from the models: {kind}", {"diff": kind, "detail": repr(op)[:300]}


def _full(schema, name) -> str:
    return f"{schema}.{name}" if schema else name
