"""The leak scan: prove that no original personal value reached the written snapshot.

While rows stream, workers record a keyed 64-bit digest (SipHash, see _digest) of every original value an
anonymizing rule replaced, and of every text field (and every token of free text) they write.
Digests go to bucket files on disk (by their low bits), never into one big in-memory set, so memory
stays flat however large the tables are. At the end each bucket's originals are loaded and the
written digests checked against them: any match is a leak. The key is random per process, so the
digest files say nothing about the data to anyone who finds them (they are deleted anyway).
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass
from pathlib import Path

BUCKETS = 32
_FLUSH = 16_384
MIN_LENGTH = 6  # shorter originals ("Bob", "NY") are too common to be evidence of a leak
# tokens of at least MIN_LENGTH characters: shorter ones (JSON keys like "lang") never reach Python
_TOKENS = re.compile(r"[^\s,;<>()\[\]{}\"'|\\=]{6,}")


@dataclass(frozen=True)
class Leak:
    original_column: str
    written_column: str


class LeakRecorder:
    """One worker's digests, bucketed on disk. Not shared between processes."""

    def __init__(self, directory: Path, tag: str, key: bytes) -> None:
        self.dir = directory
        self.tag = tag
        self.key = key
        self._orig = [array("Q") for _ in range(BUCKETS)]
        self._out = [array("Q") for _ in range(BUCKETS)]
        directory.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _digest(text: str) -> int:
        # Python's str hash is SipHash keyed with a random per-process key, 64 bits, computed in C
        # and cached on the string; every worker is forked from the pull process, so all of them
        # share that key. The digests never outlive the pull.
        return hash(text) & 0xFFFFFFFFFFFFFFFF

    def original(self, text: str, column_id: int) -> None:
        # no strip(): the hot path in the pull records values inline exactly as they are
        if len(text) < MIN_LENGTH:
            return
        d = self._digest(text)
        b = d % BUCKETS
        buf = self._orig[b]
        buf.append(d)
        buf.append(column_id)
        if len(buf) >= _FLUSH:
            self._flush("o", b, buf)

    def written(self, text: str, column_id: int) -> None:
        """Record a written value, and each token of it when it is free text, JSON or an array."""
        if len(text) < MIN_LENGTH:
            return
        items = [text]
        if " " in text or "\n" in text or "," in text or '"' in text or "{" in text:
            items.append(text.strip())
            items.extend([t.rstrip(".:") if t[-1] in ".:" else t for t in _TOKENS.findall(text)])
        bufs, n = self._out, BUCKETS
        for t in items:
            if len(t) >= MIN_LENGTH:
                d = hash(t) & 0xFFFFFFFFFFFFFFFF  # the digest _digest computes, inlined: this runs per token
                b = d % n
                buf = bufs[b]
                buf.append(d)
                buf.append(column_id)
                if len(buf) >= _FLUSH:
                    self._flush("w", b, buf)

    def _flush(self, kind: str, bucket: int, buf: array) -> None:
        with open(self.dir / f"{kind}{bucket:02d}-{self.tag}.bin", "ab") as f:
            buf.tofile(f)
        del buf[:]

    def close(self) -> None:
        for b in range(BUCKETS):
            if self._orig[b]:
                self._flush("o", b, self._orig[b])
            if self._out[b]:
                self._flush("w", b, self._out[b])


def find_leaks(directory: Path, column_names: list[str], *, limit: int = 20) -> tuple[list[Leak], int, int]:
    """Match written digests against originals bucket by bucket; (leaks, originals, written) counts."""
    leaks: dict[tuple[int, int], Leak] = {}
    originals = written = 0
    for b in range(BUCKETS):
        seen: dict[int, int] = {}
        for f in sorted(directory.glob(f"o{b:02d}-*.bin")):
            a = array("Q")
            a.frombytes(f.read_bytes())
            originals += len(a) // 2
            it = iter(a)
            for d, col in zip(it, it):
                seen.setdefault(d, col)
        if not seen:
            for f in directory.glob(f"w{b:02d}-*.bin"):
                written += f.stat().st_size // 16
            continue
        for f in sorted(directory.glob(f"w{b:02d}-*.bin")):
            a = array("Q")
            a.frombytes(f.read_bytes())
            written += len(a) // 2
            it = iter(a)
            for d, col in zip(it, it):
                orig = seen.get(d)
                if orig is not None and (orig, col) not in leaks and len(leaks) < limit:
                    leaks[(orig, col)] = Leak(column_names[orig], column_names[col])
    return list(leaks.values()), originals, written
