"""Without a policy entry, a personal-looking UNIQUE column gets a collision-free strategy, so a
non-strict snapshot of a real schema (e.g. unique `name` columns) does not refuse to run."""

from __future__ import annotations

import psycopg2

from rehearse.snapshot.format import read_snapshot
from rehearse.snapshot.pull import pull_snapshot


def test_unique_personal_column_is_hashed_not_refused(tmp_path, source_db):
    _, url, dsn = source_db
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE experiments (id int PRIMARY KEY, name varchar(200) UNIQUE NOT NULL);"
                    "INSERT INTO experiments SELECT g, (ARRAY['Alice','Bruno','Carol','David','Emma'])[g % 5 + 1] || ' ' || "
                    "(ARRAY['Walker','Schmidt','Jones','Brown','Miller','Davis','Moore','Taylor','Clark','Hall'])"
                    "[(g - 1) / 5 + 1] FROM generate_series(1, 50) g")
    conn.close()
    snap = pull_snapshot(url, tmp_path / "s", secret=b"k" * 16, strict=False)
    snap = read_snapshot(snap.path)
    assert snap.total_rows == 50
    raw = b"".join(p.read_bytes() for p in (tmp_path / "s").rglob("*.zst"))
    import zstandard
    text = b"".join(zstandard.ZstdDecompressor().decompressobj().decompress(p.read_bytes())
                    for p in (tmp_path / "s").rglob("*.zst"))
    assert raw and b"Alice Walker" not in text and b"Emma Hall" not in text
