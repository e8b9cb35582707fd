"""Drift: compare a small SQLAlchemy model with a real database."""

from __future__ import annotations

import sys
import textwrap
import uuid

import psycopg2
import pytest

from rehearse.checks.drift import compare_models
from rehearse.errors import BadInput


def test_drift_finds_missing_column_and_table(source_db, tmp_path):
    _, url, dsn = source_db
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE users (id bigint PRIMARY KEY, name text);"
                    "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
                    "CREATE TABLE leftovers (id int)")
    conn.close()
    module = f"models_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent("""
        import sqlalchemy as sa
        metadata = sa.MetaData()
        users = sa.Table("users", metadata, sa.Column("id", sa.BigInteger, primary_key=True),
                         sa.Column("name", sa.Text), sa.Column("email", sa.Text))
        orders = sa.Table("orders", metadata, sa.Column("id", sa.BigInteger, primary_key=True))
    """))
    try:
        findings = compare_models(url, f"{module}:metadata", project_dir=tmp_path)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(module, None)
    got = sorted((f.evidence["diff"], f.evidence.get("table"), f.evidence.get("column")) for f in findings)
    assert got == [("add_column", "users", "email"), ("add_table", "orders", None),
                   ("remove_table", "leftovers", None)]
    assert {f.code for f in findings} == {"RH403"} and all(f.phase == "drift" for f in findings)


def test_bad_target_is_bad_input(source_db):
    with pytest.raises(BadInput):
        compare_models(source_db[1], "no_colon_here")
    with pytest.raises(BadInput):
        compare_models(source_db[1], "surely_not_a_module_xyz:metadata")
