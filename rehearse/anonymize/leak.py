"""The leak scan: prove that no original personal value reached the written snapshot.

While rows stream, workers collect every original value an anonymizing rule replaced, and every
text field (and every token of free text) they write, per column, in plain lists (one C-level
append on the hot path). Every few thousand values a list becomes a *run*: the sorted, distinct
64-bit digests (see _digest) of its values, written to a small file. At the end the digest space
is cut into ranges small enough to hold in memory; per range, each column's written digests
become one sorted array and every original run's slice of that range is searched in it (binary
search into the run files with pread, then numpy's searchsorted): any common digest is a leak. Memory stays flat
however large the tables are: a list holds at most _FLUSH values, a range ~_RANGE written digests.
Digests are keyed per process family, so the files say nothing about the data to anyone who finds
them (they are deleted anyway).
"""

from __future__ import annotations

import os
import re
import struct
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .keyed import _fast

_FLUSH = 32_768  # values per column list before it becomes a run
_RANGE = 1 << 20  # written digests per in-memory range at the end (a sorted array of 8 MB)
_Q = struct.Struct("=q")
_SEEN = 8_192
MIN_LENGTH = 6  # shorter originals ("Bob", "NY") are too common to be evidence of a leak
# tokens of at least MIN_LENGTH characters: shorter ones (JSON keys like "lang") never reach Python
_TOKENS = re.compile(r"[^\s,;<>()\[\]{}\"'|\\=]{6,}")


@dataclass(frozen=True)
class Leak:
    original_column: str
    written_column: str
    count: int = 1  # distinct original values of the one column found in the other (never the values)


class LeakRecorder:
    """One worker's values, turned into sorted digest runs on disk. Not shared between processes."""

    def __init__(self, directory: Path, tag: str, key: bytes) -> None:
        self.dir = directory
        self.tag = tag
        self.key = key
        self._orig: dict[int, list[str]] = {}
        self._out: dict[int, list[str]] = {}
        self._seen: dict[int, set[str]] = {}  # recently written texts per column (bounded: flat memory)
        self._runs = 0
        directory.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _digest(text: str) -> int:
        # Python's str hash is SipHash keyed with a random per-process key, 64 bits, computed in C
        # and cached on the string; every worker is forked from the pull process, so all of them
        # share that key. The digests never outlive the pull.
        return hash(text)

    def originals_list(self, column_id: int) -> list[str]:
        """The list a hot loop appends originals of one column to (only those of MIN_LENGTH or more)."""
        return self._orig.setdefault(column_id, [])

    def original(self, text: str, column_id: int) -> None:
        if len(text) >= MIN_LENGTH:
            self.originals_list(column_id).append(text)

    def written(self, text: str, column_id: int) -> None:
        """Record a written value, and each token of it when it is free text, JSON or an array."""
        if len(text) < MIN_LENGTH:
            return
        out = self._out.get(column_id)
        if out is None:
            out = self._out[column_id] = []
            self._seen[column_id] = set()
        seen = self._seen[column_id]
        if text in seen:  # already recorded for this column: the scan compares sets, a repeat adds nothing
            return
        if len(seen) >= _SEEN:
            seen.clear()
        seen.add(text)
        out.append(text)
        if " " in text or "\n" in text or "," in text or '"' in text or "{" in text:
            stripped = text.strip()
            if len(stripped) >= MIN_LENGTH:
                out.append(stripped)
            for t in _TOKENS.findall(text):
                if t[-1] in ".:":
                    t = t.rstrip(".:")
                    if len(t) < MIN_LENGTH:
                        continue
                out.append(t)

    def maybe_flush(self) -> None:
        """Turn full lists into runs (called between batches)."""
        for kind, lists in (("o", self._orig), ("w", self._out)):
            for cid, values in lists.items():
                if len(values) >= _FLUSH:
                    self._write_run(kind, cid, values)

    def _write_run(self, kind: str, cid: int, values: list[str]) -> None:
        # hashed, sorted and deduplicated in C (values are already MIN_LENGTH or more)
        if _fast is not None:
            digests = sorted_unique(np.frombuffer(_fast.digests(values), dtype=np.int64))
        else:
            digests = sorted_unique(np.fromiter(map(hash, values), dtype=np.int64, count=len(values)))
        del values[:]  # the same list object: hot loops hold its append / extend
        if not len(digests):
            return
        self._runs += 1
        with open(self.dir / f"{kind}-{cid}-{self.tag}-{self._runs}.bin", "wb") as f:
            digests.tofile(f)

    def close(self) -> None:
        for kind, lists in (("o", self._orig), ("w", self._out)):
            for cid, values in lists.items():
                if values:
                    self._write_run(kind, cid, values)


def sorted_unique(digests: np.ndarray) -> np.ndarray:
    """The distinct digests, sorted, in the array's own memory. What np.unique gives, 20-30x faster
    for 64-bit integers on numpy 2.3+, whose np.unique goes through a hash table before it sorts."""
    digests.sort()
    if len(digests) < 2:
        return digests
    keep = np.empty(len(digests), dtype=bool)
    keep[0] = True
    np.not_equal(digests[1:], digests[:-1], out=keep[1:])
    return digests[keep]


class _Run:
    """One run file, indexable by position through pread (no mapping: nothing stays resident)."""

    __slots__ = ("fd", "n")

    def __init__(self, fd: int, n: int) -> None:
        self.fd, self.n = fd, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return _Q.unpack(os.pread(self.fd, 8, i * 8))[0]

    def read(self, a: int, b: int) -> np.ndarray:
        return np.frombuffer(os.pread(self.fd, (b - a) * 8, a * 8), dtype=np.int64)


def _open_runs(directory: Path) -> tuple[list, list, list]:
    runs: dict[str, list] = {"o": [], "w": []}
    handles = []
    for f in sorted(directory.glob("*.bin")):
        kind, cid, _ = f.name.split("-", 2)
        size = f.stat().st_size
        if kind not in runs or size < 8:
            continue
        fh = open(f, "rb")
        handles.append(fh)
        runs[kind].append([int(cid), _Run(fh.fileno(), size // 8), 0])  # [2]: where the next range starts
    return runs["o"], runs["w"], handles


def _upper(run: _Run, start: int, value: int) -> int:
    """The first index from ``start`` whose digest is >= ``value``, probing outward from ``start``
    (ranges are read in ascending order, so each search is short)."""
    n = len(run)
    if start >= n or run[start] >= value:
        return start
    below, step = start, 1
    while True:
        probe = start + step
        if probe >= n:
            return bisect_left(run, value, below + 1, n)
        if run[probe] >= value:
            return bisect_left(run, value, below + 1, probe)
        below, step = probe, step * 2


_FILTER_BITS = 22  # a 4 MB table of low digest bits per written column and range (_RANGE digests at most)


def _low_bits(sorted_digests: np.ndarray) -> np.ndarray:
    """Which values of the low _FILTER_BITS bits the digests take: one lookup per original digest
    leaves only the few that may match for the binary search (at most 1 in 4 when the range is
    full, about 1 in 20 for 200,000 written values)."""
    table = np.zeros(1 << _FILTER_BITS, dtype=bool)
    table[sorted_digests & ((1 << _FILTER_BITS) - 1)] = True
    return table


def _common(sorted_digests: np.ndarray, part: np.ndarray, low_bits: np.ndarray | None = None) -> int:
    """How many digests of ``part`` are in ``sorted_digests`` (binary searches, in C), looking up
    only those whose low bits some written digest has, when ``low_bits`` (see _low_bits) is given."""
    if low_bits is not None:
        part = part[low_bits[part & ((1 << _FILTER_BITS) - 1)]]
        if not len(part):
            return 0
    at = np.searchsorted(sorted_digests, part)
    np.minimum(at, len(sorted_digests) - 1, out=at)
    return int(np.count_nonzero(sorted_digests[at] == part))


def find_leaks(directory: Path, column_names: list[str], *, limit: int = 20) -> tuple[list[Leak], int, int]:
    """Match written digests against originals range by range; (leaks, originals, written) counts."""
    counts: dict[tuple[int, int], int] = {}
    originals, outs, handles = _open_runs(directory)
    try:
        n_orig = sum(len(entry[1]) for entry in originals)
        n_written = sum(len(entry[1]) for entry in outs)
        if not originals or not outs:
            return [], n_orig, n_written
        ranges = 1  # the written side is held in memory, one range of the digest space at a time
        while ranges * _RANGE < n_written:
            ranges *= 2
        shift = 64 - (ranges.bit_length() - 1)
        for r in range(ranges):
            hi = ((r + 1) << shift) - (1 << 63)  # signed 64-bit digests, ranges in ascending order
            slices: dict[int, list[np.ndarray]] = {}
            for entry in outs:
                wcid, run, a = entry
                b = entry[2] = _upper(run, a, hi)
                if a < b:
                    slices.setdefault(wcid, []).append(run.read(a, b))
            written = {cid: sorted_unique(np.concatenate(parts)) for cid, parts in slices.items()}
            del slices
            # the low-bits table pays when many originals are looked up in this range
            filters = {cid: _low_bits(d) if n_orig >= 8 * len(d) and n_orig > 1 << 16 else None
                       for cid, d in written.items()}
            for entry in originals:
                ocid, run, a = entry
                b = entry[2] = _upper(run, a, hi)
                if a >= b or not written:
                    continue
                part = run.read(a, b)  # sorted already: each run was written sorted
                for wcid, digests in written.items():
                    if (ocid, wcid) not in counts and len(counts) >= limit:
                        continue
                    n = _common(digests, part, filters[wcid])
                    if n:
                        counts[(ocid, wcid)] = counts.get((ocid, wcid), 0) + n
            del written, filters
        # by column order: stable messages. A value in several original runs may count more than once
        leaks = [Leak(column_names[o], column_names[w], n) for (o, w), n in sorted(counts.items())]
        return leaks, n_orig, n_written
    finally:
        for fh in handles:
            fh.close()
