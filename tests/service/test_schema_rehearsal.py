"""The service's own schema history, rehearsed by rehearse itself on a seeded service database."""

from __future__ import annotations

import json

import psycopg2
from alembic import command
from alembic.config import Config

from rehearse.service.store import MIGRATIONS
from tests.e2e.conftest import read_report, rehearse

from .conftest import PG, drop_database, make_database


def _seed(url: str) -> None:
    """A service database one revision behind head, with rows in every table (and the queue's schema)."""
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+psycopg2://"))
    command.upgrade(cfg, "svc0001")
    from procrastinate.schema import SchemaManager
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(SchemaManager.get_schema())
        cur.execute("INSERT INTO targets (name, project_path, source_url) "
                    "SELECT 't' || g, '/srv/app', 'postgresql://app:pw@db/app' FROM generate_series(1, 20) g")
        cur.execute("INSERT INTO workers (id, host, pid) VALUES ('w1', 'h', 1)")
        cur.execute("INSERT INTO rehearsals (target, ref, requested_by, status, worker_id, report_json) "
                    "SELECT 't' || (g % 20 + 1), 'main', 'ci', 'passed', 'w1', '{}' FROM generate_series(1, 500) g")
        cur.execute("INSERT INTO events (rehearsal_id, line) SELECT r.id, 'line ' || g FROM rehearsals r, "
                    "generate_series(1, 10) g")
        cur.execute("INSERT INTO tokens (name, role, token_hash) VALUES ('admin', 'admin', md5('x'))")
    conn.close()


def test_the_service_schema_history_passes_its_own_rehearsal(tmp_path):
    name = make_database("svc_schema")
    try:
        url = f"{PG}/{name}"
        _seed(url)
        # target names are keys (rehearsals.target refers to them), not personal data: keep them as they are
        policy = tmp_path / "rehearse.yaml"
        policy.write_text("version: 1\ntables:\n  targets:\n    columns:\n      name: keep\n"
                          "  rehearsals:\n    columns:\n      target: keep\n")
        out = rehearse("run", "--source", url, "--alembic-ini", str(MIGRATIONS / "alembic.ini"), "--policy", str(policy),
                       "--report-dir", str(tmp_path / "reports"), "--format", "json", "--no-strict")
        assert out.returncode == 0, out.stderr[-2000:]
        report = read_report(tmp_path / "reports")
        assert report["outcome"] == "pass"
        later = sorted(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("svc*.py"))[1:]
        assert [r["id"] for r in report["revisions"]] == later  # svc0002 onwards
        assert report["rollback"]["ok"], json.dumps(report["rollback"])[:500]
    finally:
        drop_database(name)
