"""Issue #12's "done when": personal data planted the way real systems hold it never reaches the
snapshot or staging, and data that is not personal is left alone.

Names, e-mails and phones of customers are copied into free text ("Called <name> on ..."), JSON,
arrays and columns whose names say nothing (``c2``, ``label``, ``contact``), across tables. A pull
without any policy must leave 0 of them in the snapshot files and in the restored staging
database; joins (by foreign key and by equal values) must still hold; country, product and queue
names must be kept. And a schema with no personal data rehearses without a policy.
"""

from __future__ import annotations

import shutil
import subprocess

import psycopg2
import pytest
import zstandard

from rehearse.snapshot.pull import pull_snapshot
from rehearse.snapshot.restore import restore_snapshot

from rehearse.model import StagingDatabase

from .conftest import PROJECTS, read_report, rehearse


@pytest.fixture()
def make_staging():
    """Fresh empty databases on the 5432 server, as restore targets; dropped afterwards."""
    import uuid

    from tests.conftest import _admin

    made: list[str] = []

    def make() -> StagingDatabase:
        name = f"rh_stg_{uuid.uuid4().hex[:10]}"
        conn = _admin()
        try:
            conn.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        made.append(name)
        return StagingDatabase(kind="server", url=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}",
                               dsn=f"host=127.0.0.1 port=5432 user=postgres dbname={name}", database=name,
                               server_version="15", server_version_num=150000, run_id="t")

    yield make
    conn = _admin()
    try:
        for name in made:
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()

PEOPLE = [("Anna", "Schmidt"), ("Jonathan", "Walker"), ("Maria", "Garcia"), ("Pierre", "Dubois"),
          ("Giulia", "Romano"), ("Lars", "Johansson"), ("Emily", "Clarke"), ("Mehmet", "Yilmaz"),
          ("Sophie", "Martin"), ("Daniel", "Kowalski"), ("Laura", "Jansen"), ("Carlos", "Silva")]
COUNTRIES = [("DE", "Germany"), ("FR", "France"), ("JO", "Jordan"), ("GE", "Georgia"), ("ES", "Spain"),
             ("CR", "Costa Rica"), ("NZ", "New Zealand"), ("TD", "Chad")]
PRODUCTS = ["Widget Pro", "Blue Kettle", "Standing Desk", "USB-C Cable", "Garden Hose", "Desk Lamp"]
QUEUES = ["default", "emails", "billing", "reports", "high-priority"]


def _people(n: int) -> list[tuple[str, str, str]]:
    """n distinct (full name, email, phone), first and last names crossed."""
    out = []
    for i in range(n):
        first, _ = PEOPLE[i % len(PEOPLE)]
        _, last = PEOPLE[(i // len(PEOPLE) + i) % len(PEOPLE)]
        out.append((f"{first} {last}", f"{first.lower()}.{last.lower()}{i}@mail-{i % 7}.example.net",
                    f"+1 415 555 {1000 + i:04d}"))
    return out


def _plant(dsn: str) -> list[str]:
    """The source database; returns every planted personal value."""
    people = _people(60)
    assert len({p[0] for p in people}) == len(people)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("""
            CREATE TABLE countries (code char(2) PRIMARY KEY, name text NOT NULL);
            CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, title text, label text);
            CREATE TABLE queues (name text PRIMARY KEY);
            CREATE TABLE customers (id int PRIMARY KEY, full_name text NOT NULL, email text UNIQUE NOT NULL,
                                    phone text, country char(2) REFERENCES countries, notes text, profile jsonb,
                                    emails text[]);
            CREATE TABLE tickets (id int PRIMARY KEY, customer_id int REFERENCES customers, body text,
                                  meta jsonb, c2 text, label text, contact text, cc text[]);
            CREATE TABLE orders (id int PRIMARY KEY, customer_email text, product_id int REFERENCES products,
                                 comment text);
            CREATE TABLE jobs (id int PRIMARY KEY, queue_name text NOT NULL, payload text);
        """)
        cur.executemany("INSERT INTO countries VALUES (%s, %s)", COUNTRIES)
        cur.executemany("INSERT INTO products VALUES (%s, %s, %s, %s)",
                        [(i, p, p + " (2024)", p.lower()) for i, p in enumerate(PRODUCTS)])
        cur.executemany("INSERT INTO queues VALUES (%s)", [(q,) for q in QUEUES])
        for i, (name, email, phone) in enumerate(people):
            cur.execute("INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (i, name, email, phone, COUNTRIES[i % len(COUNTRIES)][0],
                         f"VIP. Prefers {name.split()[0]} over a formal address.",
                         f'{{"contact": {{"name": "{name}", "phone": "{phone}"}}, "plan": "gold"}}',
                         [email, f"backup{i}@elsewhere.example.org"]))
        for i, (name, email, phone) in enumerate(people):
            other = people[(i + 1) % len(people)]
            cur.execute("INSERT INTO tickets VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (i, i, f"Called {name} on Monday about order {i}; reach them at {email} or {phone}. "
                               f"Cc {other[0]}.",
                         f'{{"reporter": "{other[0]}", "history": ["{email}", "{phone}"], "state": "open"}}',
                         name, other[0], email, [other[1]]))
            cur.execute("INSERT INTO orders VALUES (%s, %s, %s, %s)",
                        (i, email, i % len(PRODUCTS), f"gift for {other[0]}, deliver to {name}"))
            cur.execute("INSERT INTO jobs VALUES (%s, %s, %s)", (i, QUEUES[i % len(QUEUES)], f"send invoice {i}"))
    planted = []
    for name, email, phone in people:
        planted += [name, email, phone]
    return planted


def _snapshot_text(path) -> str:
    parts = []
    for f in sorted((path / "data").glob("*.zst")):
        with f.open("rb") as fh:
            parts.append(zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True).read().decode())
    return "\n".join(parts)


def _database_text(dsn: str) -> str:
    return subprocess.run(["pg_dump", "--data-only", "--inserts", f"--dbname={dsn}"], capture_output=True,
                          text=True, check=True).stdout


def _leaked(planted: list[str], text: str) -> list[str]:
    low = text.lower()
    return [v for v in planted if v.lower() in low]


def test_planted_personal_data_leaves_nothing_and_the_rest_alone(source_db, tmp_path, make_staging, monkeypatch):
    monkeypatch.delenv("REHEARSE_SECRET", raising=False)  # no secret, no policy: a random key for this run
    _, url, dsn = source_db
    planted = _plant(dsn)
    assert len(planted) >= 100 and _leaked(planted, _database_text(dsn)) == planted  # the planting worked
    heard: list[str] = []
    snap = pull_snapshot(url, tmp_path / "snap", say=heard.append)
    assert any("random key" in line for line in heard)
    assert any("public.tickets.c2" in line and "person names" in line for line in heard), heard

    assert _leaked(planted, _snapshot_text(snap.path)) == []
    staging = make_staging()
    restore_snapshot(snap, staging)
    assert _leaked(planted, _database_text(staging.dsn)) == []

    with psycopg2.connect(staging.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT code, name FROM countries ORDER BY code")
        assert cur.fetchall() == sorted(COUNTRIES)
        cur.execute("SELECT name, title, label FROM products ORDER BY id")
        assert cur.fetchall() == [(p, p + " (2024)", p.lower()) for p in PRODUCTS]
        cur.execute("SELECT name FROM queues ORDER BY name")
        assert [r[0] for r in cur.fetchall()] == sorted(QUEUES)
        # joins: by foreign key, and by equal values without one
        cur.execute("SELECT count(*) FROM tickets t JOIN customers c ON c.id = t.customer_id")
        n_tickets = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM orders o JOIN customers c ON c.email = o.customer_email")
        assert cur.fetchone()[0] == n_tickets > 0
        cur.execute("SELECT count(*) FROM jobs j JOIN queues q ON q.name = j.queue_name")
        assert cur.fetchone()[0] == n_tickets
        cur.execute("SELECT count(*) FROM tickets t JOIN customers c ON c.email = t.contact")
        assert cur.fetchone()[0] == n_tickets  # the opaque column got the customer's own fake
        cur.execute("SELECT count(*) FROM tickets t JOIN customers c ON c.id = t.customer_id "
                    "WHERE t.body LIKE '%' || c.full_name || '%' AND t.c2 = c.full_name")
        assert cur.fetchone()[0] == n_tickets  # a name quoted in text became the same fake as its column


def _no_personal_data_project(tmp_path):
    """Queues and jobs joined by name; the second revision makes the join a foreign key, which
    fails to validate if the pull faked one side of it."""
    root = tmp_path / "queues_project"
    (root / "versions").mkdir(parents=True)
    shutil.copy(PROJECTS / "clean" / "env.py", root / "env.py")
    (root / "alembic.ini").write_text((PROJECTS / "clean" / "alembic.ini").read_text())
    (root / "versions" / "q01_queues_and_jobs.py").write_text('''"""queues and jobs"""
from alembic import op

revision = "q01"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE queues (name text PRIMARY KEY, title text)")
    op.execute("CREATE TABLE jobs (id serial PRIMARY KEY, queue_name text NOT NULL, label text)")
    op.execute("INSERT INTO queues VALUES ('default', 'Default'), ('emails', 'Outgoing mail'), "
               "('reports', 'Nightly reports')")
    op.execute("INSERT INTO jobs (queue_name, label) SELECT (ARRAY['default','emails','reports'])[g % 3 + 1], "
               "'job ' || g FROM generate_series(1, 60) g")


def downgrade():
    op.execute("DROP TABLE jobs; DROP TABLE queues")
''')
    (root / "versions" / "q02_jobs_reference_queues.py").write_text('''"""jobs reference queues"""
from alembic import op

revision = "q02"
down_revision = "q01"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE jobs ADD CONSTRAINT jobs_queue_fk FOREIGN KEY (queue_name) REFERENCES queues (name)")


def downgrade():
    op.execute("ALTER TABLE jobs DROP CONSTRAINT jobs_queue_fk")
''')
    return root / "alembic.ini"


def test_a_schema_without_personal_data_rehearses_without_a_policy(source_db, tmp_path):
    from .conftest import at_revision

    _, url, _ = source_db
    ini = _no_personal_data_project(tmp_path)
    at_revision(ini, url, "q01")
    report_dir = tmp_path / "reports"
    proc = rehearse("run", "--source", url, "--no-strict", "--alembic-ini", str(ini), "--report-dir",
                    str(report_dir), env={"REHEARSE_SECRET": ""})
    assert proc.returncode == 0, proc.stderr
    assert "random key" in proc.stderr
    report = read_report(report_dir)
    assert report["outcome"] == "pass"
    assert [r["id"] for r in report["revisions"]] == ["q02"]
