"""Seed the demo shop database: Alembic to the first revision, then fast, realistic Faker data.

    python migrations/seed.py --url postgresql://postgres@127.0.0.1/shop --customers 100000 --orders 300000

Speed comes from three choices: Faker is called only to fill small pools of values (a few
thousand each, seeded, so the output is deterministic) which are then combined per row;
rows go in with psycopg2 COPY in chunks, so memory stays flat at any size; and a writer
thread streams one chunk while the main thread builds the next. Foreign-key triggers are
skipped during the load (session_replication_role = replica, when the role may set it)
because the generator only produces valid references.

Importable: ``seed(url, customers, orders, seed=0) -> SeedResult``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import logging
import os
import queue
import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psycopg2
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from faker import Faker
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

HERE = Path(__file__).resolve().parent
ALEMBIC_INI = HERE / "alembic.ini"
FIRST_REVISION = "0001"

# Rows per COPY chunk: big enough to amortise round trips, small enough to keep memory flat.
CHUNK = 20_000
POOL = 3_000

ORDER_STATUSES = ("delivered", "shipped", "paid", "pending", "cancelled", "refunded")
ORDER_STATUS_WEIGHTS = (60, 10, 10, 8, 9, 3)
PAID_STATUSES = frozenset({"delivered", "shipped", "paid", "refunded"})
EMAIL_DOMAINS = ("gmail.com",) * 6 + ("yahoo.com", "outlook.com", "hotmail.com") * 2 + (
    "icloud.com",
    "proton.me",
    "gmx.de",
    "web.de",
    "orange.fr",
)
COUNTRIES = ("US",) * 5 + ("DE",) * 3 + ("FR",) * 2 + ("GB",) * 2 + ("NL", "ES", "IT", "PL", "SE", "AT", "BE")
START = dt.date(2019, 1, 1)
SPAN_DAYS = (dt.date(2024, 6, 30) - START).days


@dataclass(frozen=True)
class SeedResult:
    """Row counts written by one seed run and how long it took."""

    customers: int
    addresses: int
    products: int
    orders: int
    order_items: int
    payments: int
    seconds: float

    @property
    def rows(self) -> int:
        return self.customers + self.addresses + self.products + self.orders + self.order_items + self.payments


def _clean(value: str) -> str:
    """Make a value safe for COPY text format (no tabs, newlines or backslashes)."""
    return value.replace("\\", "").replace("\t", " ").replace("\r", " ").replace("\n", ", ")


def _slug(value: str) -> str:
    return "".join(ch for ch in value.lower() if ch.isascii() and ch.isalnum())


class _Pools:
    """Pre-generated Faker values; rows are built by sampling these, never by calling Faker."""

    def __init__(self, seed: int, n_products: int, n_customers: int) -> None:
        fake = Faker("en_US")
        fake.seed_instance(seed)

        def pool(fn, n: int = POOL) -> list[str]:
            # Small seeds get small pools: Faker is the slow part, and 500 rows need no 3,000 values.
            n = min(n, max(200, n_customers))
            return [_clean(str(fn())) for _ in range(n)]

        self.first = pool(fake.first_name, 1000)
        self.last = pool(fake.last_name, 1000)
        self.first_slug = [_slug(v) or "x" for v in self.first]
        self.last_slug = [_slug(v) or "y" for v in self.last]
        self.phones = pool(fake.phone_number)
        self.streets = pool(fake.street_address)
        self.cities = pool(fake.city, 1000)
        self.postcodes = pool(fake.postcode)
        # json.dumps once per pool value, so the per-row profile is a plain string join.
        self.nicknames = [json.dumps(v) for v in pool(fake.user_name, 2000)]
        self.ips = [json.dumps(v) for v in pool(fake.ipv4_public)]
        self.ibans = pool(fake.iban, 2000)
        self.card_last4 = [f"{i:04d}" for i in range(10_000)]
        birth_start = dt.date(1940, 1, 1)
        self.birth_dates = [(birth_start + dt.timedelta(days=d)).isoformat() for d in range(0, 24_000)]
        self.days = [(START + dt.timedelta(days=d)).isoformat() for d in range(SPAN_DAYS + 1)]
        self.times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86_400)]
        names = pool(fake.catch_phrase, min(n_products, POOL))
        rng = random.Random(seed + 1)
        self.product_names = [names[i % len(names)] for i in range(n_products)]
        self.product_prices = [rng.choice((199, 499, 999, 1499, 2499, 4999, 9999)) + rng.randrange(0, 100) * 10
                               for _ in range(n_products)]


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _customer_chunks(pools: _Pools, rng: random.Random, n: int) -> Iterator[tuple[str, str]]:
    """Yield (customers COPY text, addresses COPY text) chunks."""
    address_id = 0
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        first = rng.choices(range(len(pools.first)), k=size)
        last = rng.choices(range(len(pools.last)), k=size)
        domains = rng.choices(EMAIL_DOMAINS, k=size)
        phones = rng.choices(pools.phones, k=size)
        births = rng.choices(pools.birth_dates, k=size)
        nicks = rng.choices(pools.nicknames, k=size)
        ips = rng.choices(pools.ips, k=size)
        secs = rng.choices(pools.times, k=size)
        flags = rng.choices(range(20), k=size)
        n_addr = rng.choices((1, 1, 2), k=size)
        customers = []
        addresses = []
        for j in range(size):
            cid = start + j + 1
            f, l_ = first[j], last[j]
            flag = flags[j]
            profile = (
                "\\N"
                if flag == 0
                else '{"nickname": ' + nicks[j] + ', "ip": ' + ips[j]
                + (', "newsletter": true}' if flag % 3 else ', "newsletter": false}')
            )
            customers.append(
                f"{cid}\t{pools.first_slug[f]}.{pools.last_slug[l_]}{cid}@{domains[j]}\t"
                f"{pools.first[f]} {pools.last[l_]}\t{phones[j] if flag != 1 else chr(92) + 'N'}\t"
                f"{births[j] if flag != 2 else chr(92) + 'N'}\t{profile}\t"
                f"{pools.days[(cid - 1) * SPAN_DAYS // n]} {secs[j]}\n"
            )
            for _ in range(n_addr[j]):
                address_id += 1
                addresses.append(
                    f"{address_id}\t{cid}\t{rng.choice(pools.streets)}\t{rng.choice(pools.cities)}\t"
                    f"{rng.choice(pools.postcodes)}\t{rng.choice(COUNTRIES)}\n"
                )
        yield "".join(customers), "".join(addresses)


def _order_chunks(
    pools: _Pools, rng: random.Random, n_orders: int, n_customers: int
) -> Iterator[tuple[str, str, str]]:
    """Yield (orders, order_items, payments) COPY text chunks; totals match their items."""
    item_id = 0
    payment_id = 0
    n_products = len(pools.product_prices)
    prices = pools.product_prices
    for start in range(0, n_orders, CHUNK):
        size = min(CHUNK, n_orders - start)
        customer_ids = rng.choices(range(1, n_customers + 1), k=size)
        statuses = rng.choices(ORDER_STATUSES, ORDER_STATUS_WEIGHTS, k=size)
        n_items = rng.choices((1, 2, 3), (35, 35, 30), k=size)
        secs = rng.choices(pools.times, k=size)
        methods = rng.choices(("card", "card", "card", "sepa", "paypal"), k=size)
        products = rng.choices(range(n_products), k=size * 3)
        quantities = rng.choices((1, 1, 1, 2, 2, 3), k=size * 3)
        orders, items, payments = [], [], []
        for j in range(size):
            oid = start + j + 1
            created = pools.days[(oid - 1) * SPAN_DAYS // n_orders] + " " + secs[j]
            cents = 0
            for k in range(n_items[j]):
                item_id += 1
                p = products[3 * j + k]
                q = quantities[3 * j + k]
                cents += prices[p] * q
                items.append(f"{item_id}\t{oid}\t{p + 1}\t{q}\t{_money(prices[p])}\n")
            status = statuses[j]
            orders.append(f"{oid}\t{customer_ids[j]}\t{status}\t{created}\t{_money(cents)}\n")
            if status in PAID_STATUSES:
                payment_id += 1
                method = methods[j]
                if method == "card":
                    card, iban = rng.choice(pools.card_last4), "\\N"
                elif method == "sepa":
                    card, iban = "\\N", rng.choice(pools.ibans)
                else:
                    card, iban = "\\N", "\\N"
                payments.append(f"{payment_id}\t{oid}\t{cents}\t{method}\t{card}\t{iban}\t{created}\n")
        yield "".join(orders), "".join(items), "".join(payments)


COLUMNS = {
    "customers": "(id, email, full_name, phone, date_of_birth, profile, created_at)",
    "addresses": "(id, customer_id, street, city, postcode, country)",
    "products": "(id, sku, name, price_cents)",
    "orders": "(id, customer_id, status, created_at, total)",
    "order_items": "(id, order_id, product_id, quantity, unit_price)",
    "payments": "(id, order_id, amount_cents, method, card_last4, iban, created_at)",
}


class _CopyWriter:
    """Streams COPY chunks from a bounded queue on its own thread, so generation and loading overlap."""

    def __init__(self, conn) -> None:
        self._conn = conn
        self._queue: queue.Queue = queue.Queue(maxsize=3)
        self._error: BaseException | None = None
        self.rows: dict[str, int] = {table: 0 for table in COLUMNS}
        self._thread = threading.Thread(target=self._run, name="seed-copy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self._conn.cursor() as cur:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                if self._error is not None:
                    continue  # drain so the producer never blocks on a dead writer
                table, text = item
                try:
                    cur.copy_expert(f"COPY {table} {COLUMNS[table]} FROM STDIN", io.StringIO(text))
                    self.rows[table] += text.count("\n")
                except BaseException as exc:  # re-raised on the producer side in close()
                    self._error = exc

    def put(self, table: str, text: str) -> None:
        if self._error is not None:
            raise self._error
        if text:
            self._queue.put((table, text))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


@contextlib.contextmanager
def _keep_logging() -> Iterator[None]:
    """env.py calls logging.config.fileConfig, which disables every existing logger; undo that."""
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    enabled = [lg for lg in logging.Logger.manager.loggerDict.values()
               if isinstance(lg, logging.Logger) and not lg.disabled]
    try:
        yield
    finally:
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        for lg in enabled:
            lg.disabled = False


def _urls(url: str) -> tuple[str, str]:
    """(SQLAlchemy URL with the psycopg2 driver, libpq URI for psycopg2.connect)."""
    parsed = make_url(url)
    sa_url = parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return sa_url, dsn


def upgrade(url: str, revision: str = FIRST_REVISION) -> None:
    """Bring the database at ``url`` to ``revision`` with Alembic's Python API."""
    sa_url, _ = _urls(url)
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("sqlalchemy.url", sa_url.replace("%", "%%"))
    # The demo env.py prefers DATABASE_URL over alembic.ini; point it at the same database.
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = sa_url
    try:
        with _keep_logging():
            command.upgrade(cfg, revision)
    finally:
        if saved is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved


def seed(
    url: str,
    customers: int = 100_000,
    orders: int = 300_000,
    seed: int = 0,
    revision: str | None = FIRST_REVISION,
) -> SeedResult:
    """Migrate ``url`` to ``revision`` (None: leave the schema alone) and fill it with shop data."""
    if customers < 1 or orders < 0:
        raise ValueError("need at least one customer and a non-negative number of orders")
    began = time.perf_counter()
    if revision is not None:
        upgrade(url, revision)
    _, dsn = _urls(url)
    rng = random.Random(seed)
    n_products = max(50, min(5_000, customers // 20))
    pools = _Pools(seed, n_products, customers)

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT EXISTS (SELECT 1 FROM customers)")
            if cur.fetchone()[0]:
                raise ValueError("customers already has rows; seed an empty database")
            cur.execute("SAVEPOINT replica")
            try:
                # Skips foreign-key triggers during the load: every reference is generated valid.
                cur.execute("SET LOCAL session_replication_role = replica")
            except psycopg2.Error:
                cur.execute("ROLLBACK TO SAVEPOINT replica")
        writer = _CopyWriter(conn)
        try:
            writer.put(
                "products",
                "".join(
                    f"{i + 1}\tSKU-{i + 1:06d}\t{pools.product_names[i]}\t{pools.product_prices[i]}\n"
                    for i in range(n_products)
                ),
            )
            for customer_text, address_text in _customer_chunks(pools, rng, customers):
                writer.put("customers", customer_text)
                writer.put("addresses", address_text)
            for order_text, item_text, payment_text in _order_chunks(pools, rng, orders, customers):
                writer.put("orders", order_text)
                writer.put("order_items", item_text)
                writer.put("payments", payment_text)
        finally:
            writer.close()
        with conn.cursor() as cur:
            for table in COLUMNS:
                # Identity columns: move the sequence past the ids we wrote explicitly.
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                )
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
    finally:
        conn.close()
    rows = writer.rows
    return SeedResult(
        customers=rows["customers"],
        addresses=rows["addresses"],
        products=rows["products"],
        orders=rows["orders"],
        order_items=rows["order_items"],
        payments=rows["payments"],
        seconds=time.perf_counter() - began,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql://user@host:port/dbname (any driver suffix is replaced by psycopg2)")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0, help="same seed, same data")
    parser.add_argument("--revision", default=FIRST_REVISION, help=f"Alembic revision to migrate to first (default {FIRST_REVISION})")
    args = parser.parse_args(argv)
    try:
        result = seed(args.url, args.customers, args.orders, seed=args.seed, revision=args.revision)
    except (ValueError, psycopg2.Error, SQLAlchemyError, CommandError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"seed failed: {reason}; check --url and that the database exists and is empty", file=sys.stderr)
        return 1
    print(
        f"seeded {result.customers} customers, {result.addresses} addresses, {result.products} products, "
        f"{result.orders} orders, {result.order_items} items, {result.payments} payments "
        f"({result.rows} rows) in {result.seconds:.1f}s ({result.rows / result.seconds:,.0f} rows/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
