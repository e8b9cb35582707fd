"""Tests for the demo shop migrations, its seed script and the fixture projects in tests/projects.

Everything runs for real: Alembic's Python API against scratch databases on the 5432 server.
These tests pin down what each scenario claims (tests/projects/README.md), so the engineers
whose checks rely on a scenario can trust it behaves that way.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

REPO = Path(__file__).resolve().parent.parent
MIGRATIONS = REPO / "migrations"
PROJECTS = REPO / "tests" / "projects"


def _load(name: str, path: Path):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


shop_seed = _load("shop_seed", MIGRATIONS / "seed.py")
# Registered as "models" because the demo env.py does `from models import Base`; one module, one Base.
shop_models = _load("models", MIGRATIONS / "models.py")


def _psycopg2_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def _config(ini: Path, url: str) -> Config:
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _query(dsn: str, sql: str, params=None) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def _scalar(dsn: str, sql: str, params=None):
    return _query(dsn, sql, params)[0][0]


def _schema(dsn: str) -> dict[str, set]:
    """A small schema fingerprint of the public schema (alembic_version excluded)."""
    columns = _query(
        dsn,
        """SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision,
                  numeric_scale, is_nullable, column_default
             FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name <> 'alembic_version'""",
    )
    indexes = _query(dsn, "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
    constraints = _query(
        dsn,
        """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = 'public' AND c.conrelid::regclass::text <> 'alembic_version'""",
    )
    enums = _query(
        dsn,
        "SELECT t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid",
    )
    views = _query(dsn, "SELECT viewname FROM pg_views WHERE schemaname = 'public'")
    return {
        "columns": set(columns),
        "indexes": {row[0] for row in indexes},
        "constraints": set(constraints),
        "enums": set(enums),
        "views": set(views),
    }


def _tables(dsn: str) -> set[str]:
    return {row[0] for row in _query(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def _current(dsn: str) -> set[str]:
    if "alembic_version" not in _tables(dsn):
        return set()
    return {row[0] for row in _query(dsn, "SELECT version_num FROM alembic_version")}


# --------------------------------------------------------------------------- the demo shop


@pytest.fixture()
def demo(source_db, monkeypatch):
    """The demo project seeded at 0001 with a small data set; yields (config, url, dsn)."""
    _, url, dsn = source_db
    result = shop_seed.seed(url, customers=500, orders=1500, seed=7)
    assert result.customers == 500 and result.orders == 1500
    sa_url = _psycopg2_url(url)
    # The demo env.py prefers DATABASE_URL to alembic.ini, as many real projects do.
    monkeypatch.setenv("DATABASE_URL", sa_url)
    return _config(MIGRATIONS / "alembic.ini", sa_url), sa_url, dsn


def test_demo_history_is_linear_with_docstrings():
    script = ScriptDirectory.from_config(Config(str(MIGRATIONS / "alembic.ini")))
    revisions = list(script.walk_revisions("base", "heads"))
    assert len(revisions) >= 9
    assert script.get_heads() == ["0010"]
    assert [r.revision for r in reversed(revisions)] == [f"{i:04d}" for i in range(1, 11)]
    for revision in revisions:
        assert revision.module.__doc__ and revision.doc, revision.revision


def test_seed_fills_a_consistent_first_revision(demo):
    _, _, dsn = demo
    assert _current(dsn) == {"0001"}
    counts = dict(
        _query(
            dsn,
            """SELECT 'customers', count(*) FROM customers UNION ALL SELECT 'orders', count(*) FROM orders
               UNION ALL SELECT 'items', count(*) FROM order_items UNION ALL SELECT 'payments', count(*) FROM payments
               UNION ALL SELECT 'addresses', count(*) FROM addresses UNION ALL SELECT 'products', count(*) FROM products""",
        )
    )
    assert counts["customers"] == 500 and counts["orders"] == 1500
    assert 1500 <= counts["items"] <= 4500
    assert 0 < counts["payments"] < 1500
    assert 500 <= counts["addresses"] <= 1000
    assert _scalar(dsn, "SELECT count(DISTINCT email) FROM customers") == 500
    # Order totals equal the sum of their items; payments carry the order total in cents.
    assert _scalar(
        dsn,
        """SELECT count(*) FROM orders o
            WHERE o.total <> (SELECT sum(quantity * unit_price) FROM order_items i WHERE i.order_id = o.id)""",
    ) == 0
    assert _scalar(
        dsn, "SELECT count(*) FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.amount_cents <> o.total * 100"
    ) == 0
    assert _scalar(dsn, "SELECT count(*) FROM order_items i LEFT JOIN products p ON p.id = i.product_id WHERE p.id IS NULL") == 0
    assert _scalar(dsn, "SELECT count(*) FROM customers WHERE profile ? 'ip' AND profile ? 'nickname'") > 400
    # Identity sequences continue after the explicit ids the seed wrote.
    _query(dsn, "INSERT INTO products (sku, name, price_cents) VALUES ('NEW-1', 'new', 100)")
    assert _scalar(dsn, "SELECT max(id) FROM products") == counts["products"] + 1


def test_seed_is_deterministic(source_db, server_url):
    _, url, dsn = source_db
    shop_seed.seed(url, customers=200, orders=300, seed=3)
    first = _query(dsn, "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c")
    orders = _query(dsn, "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o")
    _query(dsn, "DROP TABLE payments, order_items, orders, addresses, products, customers, alembic_version")
    shop_seed.seed(url, customers=200, orders=300, seed=3)
    assert _query(dsn, "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c") == first
    assert _query(dsn, "SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o") == orders


def test_seed_refuses_a_populated_database(demo):
    _, url, _ = demo
    with pytest.raises(ValueError, match="already has rows"):
        shop_seed.seed(url, customers=10, orders=10)


def test_demo_upgrade_head_and_models_match(demo):
    cfg, sa_url, dsn = demo
    command.upgrade(cfg, "head")
    assert _current(dsn) == {"0010"}
    assert _scalar(dsn, "SELECT count(*) FROM customers WHERE email_domain IS NULL") == 0
    assert _scalar(dsn, "SELECT count(*) FROM orders WHERE currency <> 'EUR'") == 0
    assert _scalar(
        dsn, "SELECT data_type FROM information_schema.columns WHERE table_name = 'payments' AND column_name = 'amount_cents'"
    ) == "bigint"
    assert _scalar(dsn, "SELECT bool_and(indisvalid) FROM pg_index WHERE indexrelid = 'ix_payments_created_at'::regclass")
    # What `alembic check` does: autogenerate's comparison of the live head schema and models.py.
    engine = sa.create_engine(sa_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), shop_models.Base.metadata)
    finally:
        engine.dispose()
    assert diffs == []
    # compare_metadata ignores CHECK constraints; their names must still follow models.py.
    in_db = {r[0] for r in _query(dsn, "SELECT conname FROM pg_constraint WHERE contype = 'c' AND connamespace = 'public'::regnamespace")}
    in_models = {
        str(c.name) for t in shop_models.Base.metadata.tables.values() for c in t.constraints
        if isinstance(c, sa.CheckConstraint)
    }
    assert in_db == in_models == {"ck_orders_status", "ck_orders_total_non_negative"}


def test_demo_downgrade_only_0007_leaves_a_trace(demo):
    cfg, _, dsn = demo
    at_first = _schema(dsn)
    rows_before = _scalar(dsn, "SELECT count(*) FROM orders") + _scalar(dsn, "SELECT count(*) FROM customers")
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "0001")
    assert _current(dsn) == {"0001"}
    after = _schema(dsn)
    # 0007 widens customers.full_name to varchar(300) and its downgrade never narrows it back.
    assert at_first["columns"] - after["columns"] == {
        ("customers", "full_name", "character varying", 200, None, None, "NO", None)
    }
    assert after["columns"] - at_first["columns"] == {
        ("customers", "full_name", "character varying", 300, None, None, "NO", None)
    }
    for part in ("indexes", "constraints", "enums", "views"):
        assert after[part] == at_first[part], part
    assert _scalar(dsn, "SELECT count(*) FROM orders") + _scalar(dsn, "SELECT count(*) FROM customers") == rows_before
    command.downgrade(cfg, "base")
    assert _tables(dsn) == {"alembic_version"}


def test_demo_every_other_revision_round_trips(demo):
    cfg, _, dsn = demo
    script = ScriptDirectory.from_config(cfg)
    for revision in reversed(list(script.walk_revisions("base", "heads"))):
        if revision.revision == "0001":
            continue
        before = _schema(dsn)
        command.upgrade(cfg, revision.revision)
        command.downgrade(cfg, revision.down_revision)
        if revision.revision != "0007":
            assert _schema(dsn) == before, revision.revision
        command.upgrade(cfg, revision.revision)
    assert _current(dsn) == {"0010"}


def test_demo_env_prefers_database_url(source_db, monkeypatch):
    _, url, dsn = source_db
    cfg = _config(MIGRATIONS / "alembic.ini", "postgresql+psycopg2://nobody@127.0.0.1:1/nothing_here")
    monkeypatch.setenv("DATABASE_URL", _psycopg2_url(url))
    command.upgrade(cfg, "0002")
    assert _current(dsn) == {"0002"}


@pytest.mark.skipif(not os.environ.get("REHEARSE_SEED_TIMING"), reason="set REHEARSE_SEED_TIMING=1 to time the 100k/300k seed")
def test_seed_timing_100k_300k(source_db, capsys):
    _, url, _ = source_db
    began = time.perf_counter()
    result = shop_seed.seed(url, customers=100_000, orders=300_000)
    took = time.perf_counter() - began
    with capsys.disabled():
        print(f"\nseed 100k/300k: {result.rows} rows in {took:.1f}s ({result.rows / took:,.0f} rows/s)")
    assert result.orders == 300_000


# --------------------------------------------------------------------------- fixture projects

ALL_PROJECTS = sorted(p.name for p in PROJECTS.iterdir() if (p / "alembic.ini").exists())
# Projects whose full downgrade to base succeeds (possibly leaving traces on the way).
DOWNGRADE_TO_BASE = {
    "clean", "broken_downgrade", "data_loss", "index_changed", "enum_left", "sequence_advanced",
    "branches", "url_from_env", "async_env", "autocommit_concurrent", "multi_locations", "slow_lock",
    "parallel_index",
}


def _project(name: str, url: str, monkeypatch) -> Config:
    if name == "url_from_env":
        monkeypatch.setenv("APP_DB_URL", _psycopg2_url(url))
        return Config(str(PROJECTS / name / "alembic.ini"))  # keeps its unreachable placeholder URL
    if name == "async_env":
        return _config(PROJECTS / name / "alembic.ini", url.replace("postgresql://", "postgresql+asyncpg://", 1))
    return _config(PROJECTS / name / "alembic.ini", _psycopg2_url(url))


def test_every_project_is_listed_and_documented():
    assert len(ALL_PROJECTS) >= 14
    readme = (PROJECTS / "README.md").read_text()
    for name in ALL_PROJECTS:
        assert f"`{name}`" in readme
        text = (PROJECTS / name / "env.py").read_text()
        assert text.startswith(f'"""{name}: '), name


@pytest.mark.parametrize("name", ALL_PROJECTS)
def test_project_upgrades_to_head(name, source_db, monkeypatch):
    _, url, dsn = source_db
    cfg = _project(name, url, monkeypatch)
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert len(heads) == 1
    if name == "fails_midway":
        with pytest.raises(sa.exc.IntegrityError) as failure:
            command.upgrade(cfg, "head")
        assert isinstance(failure.value.orig, psycopg2.errors.CheckViolation)
        assert "ck_stock_qty_non_negative" in failure.value.statement
        # One transaction for the whole run: the failure takes fm01 back too.
        assert _current(dsn) == set() and "stock" not in _tables(dsn)
        return
    if name == "pg_versions" and _scalar(dsn, "SELECT current_setting('server_version_num')::int") < 180000:
        with pytest.raises(sa.exc.ProgrammingError, match="uuidv7"):
            command.upgrade(cfg, "head")
        assert _current(dsn) == set() and "accounts" not in _tables(dsn)  # one transaction for the whole run
        return
    command.upgrade(cfg, "head")
    assert _current(dsn) == set(heads)
    rows = sum(_scalar(dsn, f'SELECT count(*) FROM "{t}"') for t in _tables(dsn) - {"alembic_version"})
    assert rows >= 300  # every first revision brings data, so rollbacks are tested on rows
    if name in DOWNGRADE_TO_BASE:
        command.downgrade(cfg, "base")
        assert _tables(dsn) == {"alembic_version"}
        assert _current(dsn) == set()


def test_fails_midway_second_statement_is_the_culprit(source_db):
    _, url, dsn = source_db
    cfg = _config(PROJECTS / "fails_midway" / "alembic.ini", _psycopg2_url(url))
    command.upgrade(cfg, "fm01")
    with pytest.raises(sa.exc.IntegrityError, match="ck_stock_qty_non_negative"):
        command.upgrade(cfg, "fm02")
    assert _current(dsn) == {"fm01"}
    assert _scalar(dsn, "SELECT count(*) FROM stock WHERE qty < 0") == 30
    # The first statement of fm02 was rolled back with the second.
    assert _scalar(dsn, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'stock' AND column_name = 'reserved'") == 0


def test_broken_downgrade_leaves_the_column(source_db):
    _, url, dsn = source_db
    cfg = _config(PROJECTS / "broken_downgrade" / "alembic.ini", _psycopg2_url(url))
    command.upgrade(cfg, "bd01")
    before = _schema(dsn)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "bd01")
    after = _schema(dsn)
    assert after["indexes"] == before["indexes"]
    assert {c[1] for c in after["columns"] - before["columns"]} == {"sku"}


def test_data_loss_downgrade_drops_backfilled_values(source_db):
    _, url, dsn = source_db
    cfg = _config(PROJECTS / "data_loss" / "alembic.ini", _psycopg2_url(url))
    command.upgrade(cfg, "dl01")
    before = _schema(dsn)
    command.upgrade(cfg, "head")
    assert _scalar(dsn, "SELECT count(display_name) FROM users") == 300
    command.downgrade(cfg, "dl01")
    assert _schema(dsn) == before  # the schema round-trips; the 300 values are gone


def test_index_changed_comes_back_non_unique(source_db):
    _, url, dsn = source_db
    cfg = _config(PROJECTS / "index_changed" / "alembic.ini", _psycopg2_url(url))
    command.upgrade(cfg, "ic01")
    before = _schema(dsn)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "ic01")
    after = _schema(dsn)
    assert before["indexes"] - after["indexes"] == {
        "CREATE UNIQUE INDEX ix_products_code ON public.products USING btree (code)"
    }
    assert after["indexes"] - before["indexes"] == {"CREATE INDEX ix_products_code ON public.products USING btree (code)"}


def test_enum_value_is_left_behind(source_db):
    _, url, dsn = source_db
    cfg = _config(PROJECTS / "enum_left" / "alembic.ini", _psycopg2_url(url))
    command.upgrade(cfg, "el01")
    before = _schema(dsn)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "el01")
    after = _schema(dsn)
    assert after["enums"] - before["enums"] == {("ticket_status", "archived")}
    assert after["columns"] == before["columns"]


def test_sequence_stays_advanced(source_db):
    _, url, dsn = source_db
    cfg = _config(PROJECTS / "sequence_advanced" / "alembic.ini", _psycopg2_url(url))
    command.upgrade(cfg, "sq01")
    assert _scalar(dsn, "SELECT last_value FROM settings_id_seq") == 300
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "sq01")
    assert _scalar(dsn, "SELECT count(*) FROM settings") == 300
    assert _scalar(dsn, "SELECT last_value FROM settings_id_seq") == 303


def test_downgrade_dependency_fails_in_dd02(source_db):
    _, url, dsn = source_db
    cfg = _config(PROJECTS / "downgrade_dependency" / "alembic.ini", _psycopg2_url(url))
    command.upgrade(cfg, "head")
    with pytest.raises(sa.exc.DBAPIError) as failure:
        command.downgrade(cfg, "base")
    assert isinstance(failure.value.orig, psycopg2.errors.DependentObjectsStillExist)
    assert "customer_segments" in str(failure.value.orig)
    assert "DROP COLUMN segment" in failure.value.statement
    assert _current(dsn) == {"dd03"}


def test_pass_downgrade_variants(source_db):
    _, url, dsn = source_db
    cfg = _config(PROJECTS / "pass_downgrade" / "alembic.ini", _psycopg2_url(url))
    tag_exists = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'notes' AND column_name = 'tag'"
    command.upgrade(cfg, "pd02")
    command.downgrade(cfg, "pd01")  # pd02's downgrade is `pass`: recorded as done, column stays
    assert _current(dsn) == {"pd01"}
    assert _scalar(dsn, tag_exists) == 1
    command.stamp(cfg, "pd02")  # the column is there, so pd02 is in effect
    command.upgrade(cfg, "pd03")
    with pytest.raises(NotImplementedError):
        command.downgrade(cfg, "pd02")
    assert _current(dsn) == {"pd03"}
    command.upgrade(cfg, "head")
    with pytest.raises(AttributeError, match="downgrade"):
        command.downgrade(cfg, "pd03")
    assert _current(dsn) == {"pd04"}


def test_branches_merge_into_one_head():
    script = ScriptDirectory.from_config(Config(str(PROJECTS / "branches" / "alembic.ini")))
    assert script.get_heads() == ["br04"]
    merge = script.get_revision("br03")
    assert merge.is_merge_point and set(merge.down_revision) == {"br02a", "br02b"}
    assert script.get_revision("br02a").branch_labels == {"billing"}


def test_url_from_env_needs_app_db_url(source_db, monkeypatch):
    _, url, _ = source_db
    monkeypatch.delenv("APP_DB_URL", raising=False)
    cfg = _config(PROJECTS / "url_from_env" / "alembic.ini", _psycopg2_url(url))
    with pytest.raises(KeyError, match="APP_DB_URL"):
        command.upgrade(cfg, "head")


def test_autocommit_concurrent_index_is_valid(source_db):
    _, url, dsn = source_db
    cfg = _config(PROJECTS / "autocommit_concurrent" / "alembic.ini", _psycopg2_url(url))
    command.upgrade(cfg, "head")
    assert _scalar(dsn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_visits_path'::regclass")
    assert "transaction_per_migration=True" in (PROJECTS / "autocommit_concurrent" / "env.py").read_text()


def test_multi_locations_reads_both_folders():
    script = ScriptDirectory.from_config(Config(str(PROJECTS / "multi_locations" / "alembic.ini")))
    paths = {Path(r.path).parent.name for r in script.walk_revisions()}
    assert paths == {"versions", "versions_extra"}
    assert script.get_heads() == ["ml03"]
