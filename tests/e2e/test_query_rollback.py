"""The rollback is a deploy too: a downgrade that renames a column the application reads breaks it.

qr02's upgrade only adds a column, so every shape production runs still prepares after the
upgrade; its downgrade renames customers.email on the way back. RH410 must stay silent during
the upgrade and report the shapes that read or write email after the rollback, and only those.
The downgrade also holds its ACCESS EXCLUSIVE lock on customers for 1.5 s: the downtime estimate
counts the rollback's blocked requests as it counts a deploy's.
"""

from __future__ import annotations

import pytest

from tests.report.pagetext import element_text

from .conftest import PROJECTS, at_revision, read_report, rehearse

INI = PROJECTS / "query_rollback" / "alembic.ini"

# a pg_stat_statements CSV export, as a user would give it with --queries
CSV = ('query,calls,calls_per_s,mean_exec_time\n'
       '"SELECT id, name FROM customers WHERE email = $1",12000,40.0,0.2\n'
       '"UPDATE customers SET email = $1 WHERE id = $2",600,2.0,0.3\n'
       '"SELECT name FROM customers WHERE id = $1",30000,100.0,0.05\n')


def _rh410(report: dict) -> list[dict]:
    found = list(report["findings"])
    for rev in report["revisions"]:
        found.extend(rev["findings"])
    return [f for f in found if f["code"] == "RH410"]


def test_a_downgrade_that_renames_a_read_column_breaks_the_application_after_the_rollback(tmp_path, source_db):
    _, url, _ = source_db
    at_revision(INI, url, "qr01")
    queries = tmp_path / "pgss.csv"
    queries.write_text(CSV)
    proc = rehearse("run", "--source", url, "--queries", str(queries), "--no-strict", "--alembic-ini", str(INI),
                    "--report-dir", str(tmp_path / "r"), "--format", "json", "--format", "markdown",
                    "--format", "html")
    assert proc.returncode in (0, 1), proc.stderr
    report = read_report(tmp_path / "r")
    assert report["queries"]["checked"] and report["queries"]["shapes"] == 3, report["queries"]

    found = _rh410(report)
    # the upgrade kept email: nothing breaks during the deploy
    assert not [f for f in found if f["phase"] != "after-rollback"], found
    (rolled,) = [f for f in found if f["phase"] == "after-rollback"]
    assert rolled["severity"] == "critical"
    assert "after the rollback" in rolled["message"] and '"email" does not exist' in rolled["message"]
    broken = {s["query"]: s for s in rolled["evidence"]["shapes"]}
    assert set(broken) == {"SELECT id, name FROM customers WHERE email = $1",
                           "UPDATE customers SET email = $1 WHERE id = $2"}
    assert rolled["evidence"]["calls_per_s"] == 42.0  # 40 reads/s + 2 writes/s, from the export
    assert "SELECT name FROM customers WHERE id = $1" not in broken
    assert "2,520 calls/min" in rolled["message"]
    # the rolled-back schema is not qr01's either: the rollback verdict says so on its own
    assert report["rollback"]["ok"] is False and report["rollback"]["schema_diff"], report["rollback"]

    # the rollback's lock, at production's rates: 140 reads/s and 2 writes/s of customers wait behind it
    down = [d for d in report["queries"]["downtime"] if d["step"] == "downgrade" and d["revision"] == "qr02"
            and d["lock_mode"] == "AccessExclusiveLock" and "customers" in d["table"]]
    assert down, report["queries"]["downtime"]
    d = max(down, key=lambda x: x["held_s"])
    assert d["held_s"] >= 1.0  # pg_sleep(1.5) inside the lock: a measurement, wide margin
    assert (d["read_shapes"], d["write_shapes"]) == (2, 1)
    window = d["wait_s"] + d["held_s"]
    assert d["reads_blocked"] == pytest.approx(140.0 * window, rel=0.01, abs=0.1)
    assert d["writes_blocked"] == pytest.approx(2.0 * window, rel=0.01, abs=0.1)
    # the upgrade's own lock (ADD COLUMN) is brief: estimated, but as the upgrade's
    assert all(u["held_s"] < d["held_s"] for u in report["queries"]["downtime"] if u["step"] == "upgrade")
    md = (tmp_path / "r" / "report.md").read_text()
    assert "the downgrade of qr02 blocks about" in md and f"on {d['table']} for" in md
    page = (tmp_path / "r" / "report.html").read_text()
    section = element_text(page, "production-queries")
    for query, shape in broken.items():
        assert f"after the rollback {query} {' '.join(shape['tables'])} {shape['error']}" in section
    qr02 = element_text(page, "rev-qr02")
    assert f"downgrade {d['table']} AccessExclusiveLock" in qr02 and f"{d['reads_blocked']:,.0f} 2 shape(s)" in qr02
