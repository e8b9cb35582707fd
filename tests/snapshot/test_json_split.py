"""jsonb documents split on top-level key rules (in C, or by PostgreSQL without the extension)
restore to the same values as the walked path; the C split gives PostgreSQL's own text."""

from __future__ import annotations

import io

import psycopg2
import pytest

from rehearse.anonymize.transform import Anonymizer
from rehearse.errors import LeakDetected
from rehearse.snapshot import sink
from rehearse.snapshot.pull import pull_snapshot
from rehearse.snapshot.restore import restore_snapshot

POLICY = """\
version: 1
tables:
  public.people:
    columns:
      id: keep
      note: keep
      profile:
        strategy: json
        paths: {"$.nickname": fake:username, "$.ip": fake:ipv4, "$.secret_code": mask}
      raw:
        strategy: json
        paths: {"$.nickname": fake:username, "$.ip": fake:ipv4, "$.secret_code": mask}
"""

DOCS = [
    '{"nickname": "alice_wonder", "ip": "10.1.2.3", "lang": "en"}',  # both keys
    '{"nickname": "bob_builder", "prefs": {"lang": "fr", "tags": ["a", "b"]}}',  # one key missing, nested
    '{"nickname": null, "ip": "192.168.0.77"}',  # a JSON null stays null
    '{"nickname": {"first": "carol_first", "alias": ["cc_alias", 7]}, "ip": 12345678}',  # nested/non-string
    '{"ip": true, "count": 3, "ratio": 0.5, "deep": {"nickname": "not_top_level"}}',
    '{"secret_code": "AB1234567890", "x": "tab\\there \\\\ back"}',  # escapes survive COPY
    '{"nickname": "quote\\"d \\\\ name", "ip": "1.2.3.4"}',
    '{}',  # empty object
    None,  # SQL NULL document
    '["nickname", "ip"]',  # an array document is not an object
    '"just a string"',
    '{"nickname": 42.5, "ip": [1, "10.0.0.1", null]}',
]


def _fill(dsn: str) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE people (id int PRIMARY KEY, note text, profile jsonb, raw json)")
        for n, doc in enumerate(DOCS):
            cur.execute("INSERT INTO people VALUES (%s, %s, %s::jsonb, %s::json)", (n, f"row {n}", doc, doc))


def _restored(snap, staging) -> list[tuple]:
    restore_snapshot(snap, staging, jobs=1)
    with psycopg2.connect(staging.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, note, profile, raw::text FROM people ORDER BY id")
        return cur.fetchall()


@pytest.fixture()
def people(source_db, tmp_path):
    name, url, dsn = source_db
    _fill(dsn)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return url, policy, dsn


@pytest.mark.parametrize("split_by", ["c", "postgresql"])
def test_split_and_walked_paths_restore_identical_values(people, tmp_path, make_staging, monkeypatch, split_by):
    url, policy, _ = people
    if split_by == "postgresql":  # what a pull does where the extension is not built
        monkeypatch.setattr(sink, "SPLIT_IN_C", False)
    else:
        assert sink._fast is not None and sink.SPLIT_IN_C
    monkeypatch.setattr(sink, "JSON_SPLIT", False)
    old = _restored(pull_snapshot(url, tmp_path / "old", policy_path=policy, secret=b"s" * 32, jobs=1),
                    make_staging())
    monkeypatch.setattr(sink, "JSON_SPLIT", True)
    calls = []
    real = Anonymizer.compile_json_split
    monkeypatch.setattr(Anonymizer, "compile_json_split", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    new = _restored(pull_snapshot(url, tmp_path / "new", policy_path=policy, secret=b"s" * 32, jobs=1),
                    make_staging())
    assert calls == [1]  # profile (jsonb) was split; raw (json) was walked
    assert new == old
    by_id = {r[0]: r[2] for r in new}
    assert by_id[0]["nickname"] != "alice_wonder" and by_id[0]["ip"] != "10.1.2.3" and by_id[0]["lang"] == "en"
    assert "ip" not in by_id[1] and by_id[1]["prefs"] == {"lang": "fr", "tags": ["a", "b"]}
    assert by_id[2]["nickname"] is None and by_id[2]["ip"] != "192.168.0.77"
    assert by_id[3]["nickname"]["first"] != "carol_first" and by_id[3]["nickname"]["alias"][1] == 7
    assert by_id[4]["deep"] == {"nickname": "not_top_level"} and by_id[4]["ip"] is True
    assert by_id[5]["x"] == "tab\there \\ back" and by_id[5]["secret_code"].endswith("7890")
    assert by_id[7] == {} and by_id[8] is None and by_id[9] == ["nickname", "ip"]


def test_split_path_still_records_originals(people, tmp_path, monkeypatch):
    """A kept column that copies an anonymized key's value is caught as before."""
    url, policy, dsn = people
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("UPDATE people SET note = 'alice_wonder' WHERE id = 5")
    monkeypatch.setattr(sink, "JSON_SPLIT", True)
    with pytest.raises(LeakDetected):
        pull_snapshot(url, tmp_path / "leaky", policy_path=policy, secret=b"s" * 32, jobs=1)


def test_c_split_gives_the_text_postgresql_gives(people):
    """_fast.json_split against the server's own `doc - keys` and `doc -> key` on the same
    documents: equal text, or the document is left whole (a backslash in it)."""
    _, _, dsn = people
    keys = ("ip", "nickname", "secret_code")
    extra = ['{"a": "é日", "ip": "ü", "z": [1, "x,}", {"ip": "n"}]}', '{"nickname": {}, "zz": 1.5e3}',
             '{"ip": "only"}', '{"ipx": "no", "i": true}']
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE docs (n int, d jsonb)")
        for n, doc in enumerate(DOCS + extra):
            cur.execute("INSERT INTO docs VALUES (%s, %s::jsonb)", (n, doc))
        arr = "ARRAY['ip', 'nickname', 'secret_code']::text[]"
        out = io.StringIO()
        cur.copy_expert(f"COPY (SELECT d, CASE WHEN jsonb_typeof(d) = 'object' THEN d - {arr} ELSE d END, "
                        f"d -> 'ip', d -> 'nickname', d -> 'secret_code' FROM docs ORDER BY n) TO STDOUT", out)
    rows = [line.split("\t") for line in out.getvalue().splitlines()]
    rests, values, unsplit = sink._fast.json_split([r[0] for r in rows], keys)
    field = lambda v: None if v == "\\N" else v  # noqa: E731
    for i, r in enumerate(rows):
        if i in unsplit:
            assert "\\" in r[0] and rests[i] == "{}" and all(v[i] is None for v in values)
            continue
        assert (rests[i], values[0][i], values[1][i], values[2][i]) == tuple(map(field, r[1:])), r[0]
    assert sorted(unsplit) == [i for i, r in enumerate(rows) if "\\" in r[0] and r[0] != "\\N"] == [5, 6]
