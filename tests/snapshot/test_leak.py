"""The leak scan's digest runs: a written original is found in whichever range and run it falls."""

from __future__ import annotations

import pytest

from rehearse.anonymize import leak


@pytest.mark.parametrize("range_size", [262_144, 64])  # one range, or many (memory-bounded path)
def test_find_leaks_matches_across_runs_and_ranges(tmp_path, monkeypatch, range_size):
    monkeypatch.setattr(leak, "_RANGE", range_size)
    monkeypatch.setattr(leak, "_FLUSH", 100)  # many small runs per column
    names = ["t.email", "t.phone", "u.note", "u.status"]
    a = leak.LeakRecorder(tmp_path, "a", b"k")
    b = leak.LeakRecorder(tmp_path, "b", b"k")
    keep = a.originals_list(0).append
    for i in range(3000):
        keep(f"person{i}@example.org")
        a.original(f"+1 555 {i:06d}", 1)
        a.maybe_flush()
    a.original("tiny", 1)  # too short to be evidence: never recorded
    for i in range(2000):
        b.written(f"a kept note number {i:05d}", 2)
        b.written("shipped", 3)
        b.maybe_flush()
    b.written("call me at person2999@example.org, thanks", 2)  # a token of free text
    b.written("tiny and more", 3)
    a.close()
    b.close()
    leaks, originals, written = leak.find_leaks(tmp_path, names)
    assert [(x.original_column, x.written_column) for x in leaks] == [("t.email", "u.note")]
    assert originals == 6000 and written > 2000


def test_no_leak_when_nothing_matches(tmp_path):
    rec = leak.LeakRecorder(tmp_path, "x", b"k")
    rec.original("alice@example.org", 0)
    rec.written("bob@example.org", 1)
    rec.close()
    assert leak.find_leaks(tmp_path, ["a", "b"])[0] == []


def test_sorted_unique_is_what_np_unique_gives():
    import numpy as np

    from rehearse.anonymize.leak import sorted_unique

    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 7, 5000):
        digests = rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64)
        digests = np.concatenate([digests, digests[: n // 3]])  # repeats, as the lists hold them
        assert sorted_unique(digests.copy()).tolist() == np.unique(digests).tolist()
