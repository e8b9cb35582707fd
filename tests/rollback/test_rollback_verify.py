"""compare_step's verdicts on real fingerprints: reversible, data-loss, irreversible, passed-in ones."""

from __future__ import annotations

import pytest

from rehearse.rollback.data import data_fingerprint
from rehearse.rollback.fingerprint import schema_fingerprint
from rehearse.rollback.verify import compare_step

TABLES = """
CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, plan text);
INSERT INTO accounts (name, plan) SELECT 'a' || i, 'free' FROM generate_series(1, 300) i;
"""


@pytest.fixture()
def accounts(run):
    run(TABLES)


def _step(conn, run, upgrade_and_downgrade: str, **kwargs):
    schema_before, data_before = schema_fingerprint(conn), data_fingerprint(conn)
    run(upgrade_and_downgrade)
    return compare_step(schema_before, schema_fingerprint(conn), data_before,
                        data_fingerprint(conn, since=data_before), **kwargs)


def test_a_step_that_reverses_exactly_is_reversible(conn, accounts, run):
    result = _step(conn, run, "ALTER TABLE accounts ADD COLUMN email text; CREATE INDEX ix_a ON accounts (email); "
                              "DROP INDEX ix_a; ALTER TABLE accounts DROP COLUMN email")
    assert (result.ok, result.classification, result.schema_diff, result.data_diff) == (True, "reversible", (), ())


def test_a_sequence_that_only_advanced_is_shown_but_not_a_failure(conn, accounts, run):
    result = _step(conn, run, "INSERT INTO accounts (name) VALUES ('x'), ('y'); DELETE FROM accounts WHERE id > 300")
    assert result.ok and result.classification == "reversible"
    assert [d.message for d in result.schema_diff] == ["sequence accounts_id_seq advanced from 300 to 302"]


def test_a_sequence_that_went_back_is_a_failure(conn, accounts, run):
    result = _step(conn, run, "SELECT setval('accounts_id_seq', 10)")
    assert not result.ok and result.classification == "irreversible"


def test_a_column_left_behind_is_irreversible(conn, accounts, run):
    result = _step(conn, run, "ALTER TABLE accounts ADD COLUMN email text")
    assert (result.ok, result.classification) == (False, "irreversible")
    assert "column accounts.email was added and is still there after the downgrade" in result.error


def test_values_not_brought_back_are_data_loss(conn, accounts, run):
    result = _step(conn, run, "ALTER TABLE accounts DROP COLUMN plan; ALTER TABLE accounts ADD COLUMN plan text")
    assert (result.ok, result.classification) == (False, "data-loss")
    assert result.data_diff[0].message == "column accounts.plan is back empty: 300 non-null values lost"


@pytest.mark.parametrize("given, expected", [("broken", "broken"), ("missing", "missing"),
                                             ("not-run", "not-run"), ("raises", "irreversible")])
def test_verdicts_the_pipeline_passes_in_win(conn, accounts, given, expected):
    fingerprint = schema_fingerprint(conn)
    result = compare_step(fingerprint, fingerprint, None, None, classification=given)
    assert (result.ok, result.classification) == (False, expected)
    assert result.error


def test_an_empty_downgrade_is_judged_by_what_it_left(conn, accounts, run):
    result = _step(conn, run, "ALTER TABLE accounts ADD COLUMN tag text", classification="pass")
    assert result.classification == "irreversible"
    assert "its downgrade() body is empty" in result.error
