"""`rehearse run --scale` end to end on the demo shop: real source on 5432, real subsets pulled with
the foreign-key closure, real throwaway staging clusters, and predictions next to the full size
measured in the same run (no timing is asserted: only what the subsets held and what was fitted)."""

from __future__ import annotations

import json
import sys

import jsonschema
import psycopg2
import pytest

from tests.report.pagetext import element_text

from .conftest import REPO, leftover_clusters, read_report, rehearse

sys.path.insert(0, str(REPO / "migrations"))
from seed import seed  # noqa: E402

INI = REPO / "migrations" / "alembic.ini"
POLICY = REPO / "demo" / "rehearse.yaml"


@pytest.fixture()
def shop(source_db):
    _, url, dsn = source_db
    seed(url, 3000, 9000)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("ANALYZE")
    conn.close()
    return url


def test_scale_predicts_every_statement_from_subsets_that_keep_their_keys(tmp_path, shop):
    out = tmp_path / "reports"
    proc = rehearse("run", "--source", shop, "--policy", str(POLICY), "--no-strict", "--alembic-ini", str(INI),
                    "--report-dir", str(out), "--no-data-checks", "--scale", "10%,30%,60%",
                    "--scale-repeat", "2", "--format", "json", "--format", "md", "--format", "html")
    assert proc.returncode in (0, 1), proc.stderr  # the demo history fails its rollback on purpose
    report = read_report(out)
    scale = report["scale"]
    assert scale["fractions"] == [0.1, 0.3, 0.6] and scale["target"] == "snapshot"
    # every subset's upgrade ran to the end: the kept rows held their foreign keys
    assert scale["warnings"] == []
    rows = scale["rows"]
    for table in ("public.customers", "public.orders", "public.order_items", "public.payments"):
        sizes = [rows[table][k] for k in ("10%", "30%", "60%")]
        assert sizes == sorted(sizes) and sizes[-1] < rows[table]["full"], (table, rows[table])
        # about f of every table, not f plus what the closure drags in
        assert 0.4 * 0.6 * rows[table]["full"] < sizes[-1] < 0.8 * rows[table]["full"], (table, rows[table])
    assert rows["public.products"]["10%"] == rows["public.products"]["full"]  # unlinked at 0001: whole

    by_sql = {p["sql"]: p for p in scale["predictions"]}
    backfill = by_sql["UPDATE customers SET email_domain = lower(split_part(email, '@', 2))"]
    assert backfill["operation"] == "backfill" and backfill["model"] == "a + b*n"
    assert backfill["relation"] == "public.customers" and backfill["target_rows"] == rows["public.customers"]["full"]
    assert [p["rows"] for p in backfill["points"]] == [rows["public.customers"][k] for k in ("10%", "30%", "60%")]
    assert backfill["measured_s"] is not None and backfill["duration_low_s"] is not None
    index = next(p for p in scale["predictions"] if p["sql"].startswith("CREATE INDEX ix_orders_created_at"))
    assert index["operation"] == "index build" and index["model"] == "a + b*n*log2(n)"
    assert index["lock_held_s"] > 0  # CREATE INDEX holds a SHARE lock that blocks writes
    # every upgrade statement of the full run has its prediction
    full = [s["sql"] for r in report["revisions"] for s in r["upgrade"]["statements"]]
    assert sorted(full) == sorted(p["sql"] for p in scale["predictions"])

    schema = json.loads((REPO / "docs" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(report)
    assert "Predicted at the snapshot's full size" in (out / "report.md").read_text()
    section = element_text((out / "report.html").read_text(), "scale")
    assert section.startswith("Predicted at the snapshot's full size")
    assert f"{backfill['sql']} a + b*n in the rows of public.customers backfill {backfill['target_rows']:,}" in section
    assert "Predicted at" in proc.stderr + proc.stdout
    assert not leftover_clusters()


def test_a_subset_snapshot_is_predicted_at_the_source_size(tmp_path, shop):
    from rehearse.pipeline.scale import full_size
    from rehearse.snapshot.format import read_snapshot

    subset = tmp_path / "subset.yaml"
    subset.write_text("tables:\n  public.orders: \"id % 10 = 0\"\ndefault: none\n")
    proc = rehearse("snapshot", shop, "-o", str(tmp_path / "snap"), "--policy", str(POLICY), "--no-strict",
                    "--subset", str(subset))
    assert proc.returncode == 0, proc.stderr
    snap = read_snapshot(tmp_path / "snap")
    target, rows = full_size(snap)
    own = {t.qualified: t.rows for t in snap.tables}
    assert target == "source"
    assert own["public.orders"] == 900 and rows["public.orders"] == 9000


@pytest.mark.parametrize("value, why", [("10%", "at least two"), ("5%,120%", "between 0% and 100%")])
def test_a_bad_scale_is_one_line_and_exit_2_before_any_work(tmp_path, value, why):
    proc = rehearse("run", "--snapshot", str(tmp_path / "none"), "--alembic-ini", str(INI), "--scale", value)
    assert proc.returncode == 2 and why in proc.stderr and "Traceback" not in proc.stderr
