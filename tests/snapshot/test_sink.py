"""The batch path restores every value exactly: escapes, NULLs and a literal backslash-N included.

Batches are worked column by column, and a batch without escapes skips decoding and encoding; a
table mixing both kinds of batch (small batches here) must restore kept values byte for byte,
keep NULL as NULL and a literal ``\\N`` as text, and give each anonymized value the same fake
it gets on its own.
"""

from __future__ import annotations

import json

import psycopg2
import pytest

from rehearse.anonymize.transform import FAKES_VERSION, Anonymizer, Rule
from rehearse.snapshot import sink
from rehearse.snapshot.pull import pull_snapshot
from rehearse.snapshot.restore import restore_snapshot

SECRET = b"s" * 32

POLICY = """\
version: 1
tables:
  public.people:
    columns:
      id: keep
      email: fake:email
      city: fake:city
      note: keep
      code:
        strategy: mask
        keep_last: 2
      profile:
        strategy: json
        paths: {"$.email": fake:email}
      nothing: null
      fixed:
        strategy: constant
        value: '\\N'
"""

TRICKY = ["plain", "tab\there", "new\nline", "back\\slash", "\\N", "ends with \\", "\\", "cr\rhere", None, ""]


def _rows(n: int) -> list[tuple]:
    rows = []
    for i in range(n):
        t = TRICKY[i % len(TRICKY)] if i % 7 == 0 else f"ordinary value {i}"  # most batches have no escapes
        email = None if i % 11 == 0 else (f"p{i}\\{t}@x.org" if i % 13 == 0 and t else f"person{i}@example.org")
        profile = None if i % 17 == 0 else ('{"email": "q\\\\%d@x.org", "k": "%s"}' % (i, "v\\tv") if i % 5 == 0
                                             else '{"email": "q%d@x.org", "k": "v"}' % i)
        pre = (lambda tag: None if t is None else tag + t)  # distinct per column: no value is copied across
        rows.append((i, email, pre("c:"), pre("n:"), pre("m:"), profile, t))
    return rows


@pytest.fixture()
def people(source_db):
    name, url, dsn = source_db
    rows = _rows(300)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE, city text, note text, code text,"
                    " profile jsonb, nothing text, fixed text)")
        cur.executemany("INSERT INTO people VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, 'fixed')", rows)
    return url, rows


def test_mixed_batches_restore_exactly(people, tmp_path, make_staging, monkeypatch):
    url, rows = people
    monkeypatch.setattr(sink, "BATCH_ROWS", 16)
    policy = tmp_path / "rehearse.yaml"
    policy.write_text(POLICY)
    snap = pull_snapshot(url, tmp_path / "snap", policy_path=policy, secret=SECRET, jobs=1)
    assert json.loads((snap.path / "manifest.json").read_text())["fakes_version"] == FAKES_VERSION
    staging = make_staging()
    restore_snapshot(snap, staging, jobs=1)
    with psycopg2.connect(staging.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, email, city, note, code, profile, nothing FROM people ORDER BY id")
        got = cur.fetchall()
        cur.execute("SELECT DISTINCT fixed FROM people")
        assert cur.fetchall() == [("\\N",)]  # a constant that reads like COPY's NULL marker is text
    anon = Anonymizer(SECRET)
    mask = anon.compile(Rule("mask", options={"keep_last": 2}))
    assert len(got) == len(rows)
    for (i, email, city, note, code, profile, nothing), src in zip(got, rows):
        _, s_email, s_city, s_note, s_code, s_profile, _ = src
        assert note == s_note  # kept text, byte for byte (a literal \N stays text, NULL stays NULL)
        assert nothing is None
        assert email == (None if s_email is None else anon.fake("email", s_email))
        assert city == (None if s_city is None else anon.fake("city", s_city))
        assert code == (None if s_code is None else mask(s_code))
        if s_profile is None:
            assert profile is None
        else:
            src_doc = json.loads(s_profile)
            assert profile["k"] == src_doc["k"]
            assert profile["email"] == anon.fake("email", src_doc["email"])


def test_name_pairs_are_counted_as_often_as_their_text_is_in_the_batch():
    from rehearse.anonymize.names import find_name_pairs
    from rehearse.snapshot.sink import count_name_pairs

    texts = ["Met Anna Schmidt", "walk-in", "Zoë Müller rang, then Anna Schmidt", "walk-in", "Met Anna Schmidt",
             "Grüße an Pierre Dubois"] * 7 + ["Met Anna Schmidt"]
    one_by_one = sum(len(find_name_pairs(t)) for t in texts)
    assert one_by_one >= 30  # the dictionaries know these people
    assert count_name_pairs(texts) == one_by_one
    assert count_name_pairs([t.encode() for t in texts]) == one_by_one  # bytes: offsets in characters
    assert count_name_pairs(list(dict.fromkeys(texts))) == sum(len(find_name_pairs(t)) for t in dict.fromkeys(texts))
    assert count_name_pairs([]) == 0 and count_name_pairs(["walk-in"] * 3) == 0
