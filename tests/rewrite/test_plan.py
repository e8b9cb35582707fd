"""Planning and code generation, without a database: which statements are rewritten, which
are kept, and that the generated module is valid Python that Alembic can import."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearse.model import Finding
from rehearse.rewrite.base import REWRITERS
from rehearse.rewrite.codegen import render_files
from rehearse.rewrite.plan import plan_rewrite

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rewrites.md"


def _finding(code: str, sql: str) -> Finding:
    return Finding(code, "rule", "high", "message", revision="r02", statement=sql)


def test_only_the_statement_a_finding_points_at_is_rewritten():
    risky = "CREATE INDEX ix_a ON t (a)"
    plan = plan_rewrite("r02", ["ALTER TABLE t ADD COLUMN z int", risky, "CREATE INDEX ix_b ON t (b)"],
                        [_finding("RH101", risky)])
    [release] = plan.releases
    assert [(s.mode, s.sql) for s in release.steps] == [
        ("transaction", "ALTER TABLE t ADD COLUMN z int"),
        ("autocommit", "CREATE INDEX CONCURRENTLY ix_a ON t (a)"),
        ("transaction", "CREATE INDEX ix_b ON t (b)"),
    ]


@pytest.mark.parametrize("sql, code", [
    ("ALTER TABLE t ALTER COLUMN a SET NOT NULL, ALTER COLUMN b SET NOT NULL", "RH113"),  # two subcommands
    ("ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0) NOT VALID", "RH131"),  # already safe
    ("ALTER TABLE t ALTER COLUMN a TYPE bigint USING a::bigint * 2", "RH114"),  # USING: not handled
    ("CREATE INDEX CONCURRENTLY ix ON t (a)", "RH101"),
])
def test_statements_without_a_safe_pattern_are_left_alone(sql, code):
    assert plan_rewrite("r02", [sql], [_finding(code, sql)]) is None


def test_no_finding_no_rewrite():
    assert plan_rewrite("r02", ["CREATE INDEX ix ON t (a)"], []) is None


def test_generated_files_chain_and_compile(tmp_path):
    original = tmp_path / "r02_change.py"
    original.write_text('"""change"""\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = "r02"\n'
                        'down_revision = "r01"\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n'
                        '    op.execute("SELECT 1")\n')
    sql = "ALTER TABLE t ALTER COLUMN a TYPE bigint"
    plan = plan_rewrite("r02", [sql], [_finding("RH114", sql)])
    files = render_files(plan, revision="r02", down_revision="r01", message="change", original_file=str(original))
    assert [f.down_revision for f in files] == ["r01", files[0].revision, files[1].revision, files[2].revision]
    assert files[-1].revision == "r02"
    for f in files:
        namespace: dict = {}
        exec(compile(f.text, f.filename, "exec"), namespace)  # imports alembic.op like Alembic does
        assert namespace["revision"] == f.revision and namespace["down_revision"] == f.down_revision
        assert "more than one release" in f.text
        assert max(len(line) for line in f.text.splitlines()) <= 100
    assert 'op.execute("SELECT 1")' in files[-1].text  # the original downgrade, on the last one


def test_every_pattern_and_code_is_documented():
    text = DOCS.read_text()
    for rewriter in REWRITERS:
        assert f"`{rewriter.pattern}`" in text, rewriter.pattern
        for code in rewriter.codes:
            assert code in text, (rewriter.pattern, code)


def test_a_backfill_keeps_its_condition_inside_every_batch():
    sql = "UPDATE t SET a = b * 2 WHERE a IS NULL"
    [release] = plan_rewrite("r02", [sql], [_finding("RH201", sql)]).releases
    [step] = release.steps
    assert (step.mode, step.sql, step.where, step.table) == ("batched", "UPDATE t SET a = b * 2", "a IS NULL", "t")


def test_a_kept_concurrent_statement_stays_outside_the_transaction():
    risky = "ALTER TABLE t ALTER COLUMN a SET NOT NULL"
    [release] = plan_rewrite("r02", ["CREATE INDEX CONCURRENTLY ix ON t (b)", risky],
                             [_finding("RH113", risky)]).releases
    assert release.steps[0].mode == "autocommit"
