"""Subset pulls: rows chosen by WHERE clauses, closed over foreign keys, so the restore's keys all hold."""

from __future__ import annotations

import json

import psycopg2
import pytest

from rehearse.errors import BadInput
from rehearse.snapshot.format import MANIFEST, read_snapshot
from rehearse.snapshot.pull import pull_snapshot
from rehearse.snapshot.restore import restore_snapshot

SCHEMA = """
CREATE TABLE employees (id int PRIMARY KEY, manager_id int REFERENCES employees(id), name text);
CREATE TABLE customers (id int PRIMARY KEY, email text UNIQUE, account_manager int REFERENCES employees(id));
CREATE TABLE categories (id int PRIMARY KEY, label text);
CREATE TABLE products (id int PRIMARY KEY, category_id int REFERENCES categories(id), title text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id),
                     created_at date NOT NULL);
CREATE TABLE order_items (order_id int REFERENCES orders(id), product_id int REFERENCES products(id),
                          qty int, PRIMARY KEY (order_id, product_id));
CREATE TABLE audit_log (id int PRIMARY KEY, what text);
-- a chain of managers: 1 <- 2 <- 3 ... <- 40 (each reports to the one before)
INSERT INTO employees SELECT g, NULLIF(g - 1, 0), 'employee ' || g FROM generate_series(1, 40) g;
INSERT INTO customers SELECT g, 'c' || g || '@example.org', (g % 40) + 1 FROM generate_series(1, 200) g;
INSERT INTO categories SELECT g, 'cat ' || g FROM generate_series(1, 10) g;
INSERT INTO products SELECT g, (g % 10) + 1, 'product ' || g FROM generate_series(1, 100) g;
INSERT INTO orders SELECT g, (g * 7) % 200 + 1, date '2024-01-01' + (g % 365) FROM generate_series(1, 1000) g;
INSERT INTO order_items SELECT o, (o * 13 + k) % 100 + 1, k FROM generate_series(1, 1000) o, generate_series(1, 2) k;
INSERT INTO audit_log SELECT g, 'event ' || g FROM generate_series(1, 50) g;
"""

RECENT = "created_at >= date '2024-12-01'"


@pytest.fixture()
def store(source_db):
    name, url, dsn = source_db
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA)
    return name, url, dsn


def _q(dsn: str, sql: str):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _count(dsn: str, table: str) -> int:
    return _q(dsn, f"SELECT count(*) FROM {table}")[0][0]


def _write(tmp_path, text: str):
    path = tmp_path / "subset.yaml"
    path.write_text(text)
    return path


def _dangling(dsn: str) -> int:
    """Rows whose foreign key points nowhere (would also have failed the restore's post-data)."""
    checks = [
        "SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL",
        "SELECT count(*) FROM order_items i LEFT JOIN orders o ON o.id = i.order_id WHERE o.id IS NULL",
        "SELECT count(*) FROM order_items i LEFT JOIN products p ON p.id = i.product_id WHERE p.id IS NULL",
        "SELECT count(*) FROM products p LEFT JOIN categories c ON c.id = p.category_id "
        "WHERE p.category_id IS NOT NULL AND c.id IS NULL",
        "SELECT count(*) FROM customers c LEFT JOIN employees e ON e.id = c.account_manager "
        "WHERE c.account_manager IS NOT NULL AND e.id IS NULL",
        "SELECT count(*) FROM employees c LEFT JOIN employees e ON e.id = c.manager_id "
        "WHERE c.manager_id IS NOT NULL AND e.id IS NULL",
    ]
    return sum(_q(dsn, sql)[0][0] for sql in checks)


def test_subset_keeps_rule_rows_and_their_parents_only(store, tmp_path, make_staging):
    _, url, src = store
    subset = _write(tmp_path, f"""
tables:
  public.orders: "{RECENT}"
  order_items: "order_id IN (SELECT id FROM orders WHERE {RECENT})"
default: none
""")
    snap = pull_snapshot(url, tmp_path / "snap", subset=subset)
    staging = make_staging()
    restore_snapshot(read_snapshot(snap.path), staging)  # post-data creates every foreign key: it must pass
    dst = staging.dsn
    # every foreign key exists, is validated, and no row dangles
    fks = _q(dst, "SELECT count(*), bool_and(convalidated) FROM pg_constraint WHERE contype = 'f'")[0]
    assert fks == (6, True)
    assert _dangling(dst) == 0
    # exactly the rule's orders and items
    assert _count(dst, "orders") == _count(src, f"orders WHERE {RECENT}") > 0
    assert _q(dst, f"SELECT count(*) FROM orders WHERE NOT ({RECENT})")[0][0] == 0
    assert _count(dst, "order_items") == _count(src, f"order_items WHERE order_id IN (SELECT id FROM orders "
                                                     f"WHERE {RECENT})")
    # parents: exactly the referenced customers, products, categories; managers up the whole chain
    assert _count(dst, "customers") == _count(src, f"(SELECT DISTINCT customer_id FROM orders WHERE {RECENT}) s")
    assert _count(dst, "customers") < _count(src, "customers")
    assert _count(dst, "products") == _count(src, f"(SELECT DISTINCT product_id FROM order_items WHERE order_id IN "
                                                   f"(SELECT id FROM orders WHERE {RECENT})) s") < 100
    top = _q(dst, "SELECT max(account_manager) FROM customers")[0][0]
    assert _count(dst, "employees") == top  # employee n needs 1..n-1 above it
    # a table nobody references and without a rule is empty with default: none
    assert _count(dst, "audit_log") == 0
    manifest = json.loads((snap.path / MANIFEST).read_text())
    assert manifest["subset"]["rules"]["public.orders"] == RECENT
    assert manifest["subset"]["default"] == "none" and manifest["subset"]["follow"] is True


def test_subset_default_all_copies_unruled_tables_and_follows_their_references(store, tmp_path, make_staging):
    _, url, src = store
    subset = _write(tmp_path, f'tables:\n  public.customers: "id <= 20"\n')
    snap = pull_snapshot(url, tmp_path / "snap", subset=subset, anonymize=False)
    staging = make_staging()
    restore_snapshot(read_snapshot(snap.path), staging)
    dst = staging.dsn
    assert _dangling(dst) == 0
    assert _count(dst, "audit_log") == 50 and _count(dst, "orders") == 1000  # unruled: whole
    # customers: the rule's 20, plus every customer a (whole) orders table references
    assert _count(dst, "customers") == _count(src, "customers WHERE id <= 20 OR id IN (SELECT customer_id FROM orders)")


def test_subset_without_follow_copies_only_rule_rows(store, tmp_path):
    _, url, _ = store
    subset = _write(tmp_path, 'tables:\n  public.employees: "id > 30"\nfollow: false\n')
    snap = pull_snapshot(url, tmp_path / "snap", subset=subset, anonymize=False)
    rows = {t.qualified: t.rows for t in snap.tables}
    assert rows["public.employees"] == 10 and rows["public.orders"] == 1000


@pytest.mark.parametrize("text, message", [
    ('tables:\n  public.orders: "no_such_column > 1"\n', "no_such_column"),
    ('tables:\n  public.orders: "true; DELETE FROM orders"\n', "more than one statement"),
    ('tables:\n  public.nowhere: "true"\n', "public.nowhere"),
    ('tables:\n  public.orders: "id >"\n', "not a valid SQL condition"),
    ("default: some\n", "default must be all or none"),
])
def test_bad_subset_is_refused_before_any_copy(store, tmp_path, text, message):
    _, url, dsn = store
    with pytest.raises(BadInput) as exc:
        pull_snapshot(url, tmp_path / "snap", subset=_write(tmp_path, text), anonymize=False)
    assert message in exc.value.one_line() and "\n" not in exc.value.one_line()
    assert not (tmp_path / "snap").exists()
    assert _count(dsn, "orders") == 1000


def test_tables_on_a_foreign_key_cycle_are_copied_whole(source_db, tmp_path, make_staging):
    _, url, dsn = source_db
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("""
            CREATE TABLE a (id int PRIMARY KEY, b_id int);
            CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a(id));
            ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b(id) DEFERRABLE INITIALLY DEFERRED;
            CREATE TABLE c (id int PRIMARY KEY, a_id int REFERENCES a(id));
            INSERT INTO a SELECT g, NULL FROM generate_series(1, 30) g;
            INSERT INTO b SELECT g, g FROM generate_series(1, 30) g;
            UPDATE a SET b_id = 31 - id;
            INSERT INTO c SELECT g, g FROM generate_series(1, 30) g;""")
    subset = _write(tmp_path, 'tables:\n  public.c: "id <= 3"\n  public.a: "id <= 2"\ndefault: none\n')
    snap = pull_snapshot(url, tmp_path / "snap", subset=subset, anonymize=False)
    rows = {t.qualified: t.rows for t in snap.tables}
    assert rows == {"public.a": 30, "public.b": 30, "public.c": 3}
    assert any("cycle" in w for w in json.loads((snap.path / MANIFEST).read_text())["warnings"])
    staging = make_staging()
    restore_snapshot(read_snapshot(snap.path), staging)
