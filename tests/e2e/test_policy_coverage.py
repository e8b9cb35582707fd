"""After the upgrade, a column a migration added outside the anonymization policy is reported."""

from __future__ import annotations

import yaml

from .conftest import at_revision, read_report, rehearse


def test_a_column_a_migration_adds_outside_the_policy_is_reported(tmp_path, source_db, project):
    _, url, _ = source_db
    at_revision(project("data_loss"), url, "dl01")  # dl02 adds users.display_name
    policy = tmp_path / "rehearse.yaml"
    policy.write_text(yaml.safe_dump({"version": 1, "tables": {
        "public.users": {"columns": {"id": "keep", "first_name": "fake:first_name", "last_name": "fake:last_name"}},
        "public.alembic_version": {"columns": {"version_num": "keep"}}}}))
    proc = rehearse("run", "--source", url, "--policy", str(policy), "--no-strict",
                    "--alembic-ini", str(project("data_loss")), "--report-dir", str(tmp_path / "r"))
    assert "Traceback" not in proc.stderr, proc.stderr
    report = read_report(tmp_path / "r")
    coverage = [f for f in report["findings"] if f["code"] == "RH405"]
    assert [f["evidence"]["column"] for f in coverage] == ["public.users.display_name"], proc.stderr
