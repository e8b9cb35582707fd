"""The value dictionary: every original personal value the pull read, removed from all other kept text.

Patterns find e-mails and phones that look like e-mails and phones; this finds the *actual* values
of the source's personal columns (its customers' names, e-mails, phones) wherever they were
copied: a ``notes`` field, a kept JSON document, an array, a column whose name says nothing.
Each occurrence is replaced by the fake its column gives the same value, so a copied e-mail
still equals the customer's (faked) e-mail, and joins by value keep holding.

Matching is one pass per field, or one per column of a batch: an Aho-Corasick automaton
(pyahocorasick, in C) over ASCII-lowercased values, with word boundaries checked on each hit.

Memory stays bounded however many values there are: the automaton takes at most
``AUTOMATON_CAP`` values (~0.75 KB each for e-mails: ~190 MB at the cap), fewer when the source's
row estimates predict millions (``automaton_cap``: what a 200 MB budget leaves after the hashes of
the rest, so the pull's peak stays flat); values beyond it are
kept only as 64-bit hashes, one array per kind sorted in place (8 bytes a value: 80 MB at 10M
values; measured: 10M e-mails peak at +344 MB, built in ~11 s on a busy 2-core machine), and found by hashing the candidate spans of a text (e-mail- and
phone-shaped spans, and every run of one to three capitalized words), all looked up in one call per kind.
A value past the cap whose shape is none of those (a street address) is then only the leak
scan's to find. Python's string hash keys the digests; the pull's workers are forked from the
process that built them, so they share its key.
"""

from __future__ import annotations

import bisect
import re
from array import array
from typing import Callable

import numpy as np

from .keyed import _fast

AUTOMATON_CAP = 250_000
MIN_AUTOMATON_CAP = 25_000
# the memory the dictionary may take, and what a value costs in each form (measured: ~0.75 KB an
# automaton entry for e-mails; 8 bytes a hash, held up to 1.5x the distinct count between compactions)
MEMORY_BUDGET = 200 << 20
AUTOMATON_BYTES = 768
HASH_BYTES = 12
# the kinds whose originals identify a person wherever they are copied (a city or a country does not)
DICTIONARY_KINDS = frozenset({"name", "first_name", "last_name", "email", "phone", "username", "ssn", "iban",
                              "credit_card", "street", "address", "url", "hash"})
COMPACT_AT = 1 << 20  # hashes of one kind (8 MB) before repeats are first dropped
MIN_LENGTH = 4  # shorter values ("Li", "NY") would match inside ordinary words and text
_ASCII_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(65, 91)})
# spans of free text an overflow value (one not in the automaton) could be: hashed and looked up
_SHAPED = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}|\+?\d[\d ().-]{5,}\d")  # e-mail, phone
# capitalized words, for names (the lookahead first lets the engine skip to capitals: 2x faster)
_WORDS = re.compile(r"(?=[A-ZÀ-ÖØ-Þ])(?<![\w@.])[A-ZÀ-ÖØ-Þ][\w'’-]*")


def automaton_cap(expected_values: int) -> int:
    """How many values the automaton takes when the personal columns hold about ``expected_values``
    (the source's row estimates): what the budget leaves after the hashes of the rest, between
    MIN_AUTOMATON_CAP and AUTOMATON_CAP. Past a few million values the automaton holds a small
    share of them at any cap (250,000 of 4 million), so shrinking it there loses little and keeps
    the pull's memory flat; a small database keeps every value in the automaton."""
    room = (MEMORY_BUDGET - HASH_BYTES * max(expected_values - AUTOMATON_CAP, 0)) // AUTOMATON_BYTES
    return int(min(AUTOMATON_CAP, max(MIN_AUTOMATON_CAP, room)))


def _lower(text: str) -> str:
    """ASCII-only lowercasing: it never changes the length, so positions stay valid."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _bounded(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is a whole word: not inside a longer word or number."""
    if start > 0:
        before = text[start - 1]
        if before == "\\":  # right after an escape's backslash: the hit would cut the escape in two
            i = start - 1
            while i >= 0 and text[i] == "\\":
                i -= 1
            if (start - 1 - i) % 2:
                return False
        # a COPY escape (\n, \t) right before the hit is a separator, not a letter
        if before.isalnum() and not (before in "ntrvbf" and start > 1 and text[start - 2] == "\\"):
            return False
    return end >= len(text) or not text[end].isalnum()


def _sort_unique_in_place(hashes: array, drop: np.ndarray | None = None) -> None:
    """Sort a C array of 64-bit hashes and drop repeats (and the hashes in the sorted ``drop``),
    in its own memory (one temporary of the values kept)."""
    view = np.frombuffer(hashes, dtype=np.int64)
    view.sort()
    keep = np.concatenate(([True], view[1:] != view[:-1])) if len(view) else np.zeros(0, dtype=bool)
    if drop is not None and len(view):
        at = np.minimum(np.searchsorted(drop, view), len(drop) - 1)
        keep &= drop[at] != view
        del at
    n = int(np.count_nonzero(keep))
    view[:n] = view[keep]
    del view, keep
    del hashes[n:]


class ValueDictionary:
    """Original personal values -> the fake their column gives them, found in any text."""

    def __init__(self, replace: Callable[[list[str], str], list[str]], cap: int = AUTOMATON_CAP) -> None:
        import ahocorasick

        self._replace = replace  # (original values, kind) -> their fakes
        self._automaton = ahocorasick.Automaton()
        self._cap = cap
        # past the cap: per kind, 64-bit hashes only (8 bytes a value, in a C array, then sorted)
        self._overflow: dict[str, array] = {}
        self._hashes: dict[str, np.ndarray] = {}
        self._compact_at: dict[str, int] = {}
        self.values = 0
        self._built = False

    def add(self, values: list[str], kind: str) -> None:
        """Original values of one personal column, and the fake kind that replaces them.

        Worked a list at a time: lowercasing, stripping, length tests and hashing run in C over
        the whole list; only values that go into the automaton are added one by one.
        """
        if not values:
            return
        if self._fast_overflow(values, kind):
            return
        joined = "\n".join(values)
        if joined.count("\n") != len(values) - 1 or "\\" in joined or "\t" in joined or "\r" in joined:
            # matching runs on COPY text, where these are escaped: such values (rare in names,
            # e-mails and phones) are left to the patterns and the leak scan
            values = [v for v in values if not ("\\" in v or "\t" in v or "\n" in v or "\r" in v)]
            joined = "\n".join(values)
            if not values:
                return
        keys = list(map(str.strip, _lower(joined).split("\n")))
        a = self._automaton
        i = 0
        if len(a) < self._cap:
            room = self._cap - len(a)
            originals = list(map(str.strip, values))
            while i < len(keys) and room > 0:
                key = keys[i]
                if not (len(key) < MIN_LENGTH or (len(key) < 7 and key.isdigit())):  # ids and short codes are not evidence
                    if a.add_word(key, (len(key), originals[i], kind)):  # False: the word was there already
                        self.values += 1
                        room -= 1
                i += 1
        if i < len(keys):  # past the cap: 64-bit hashes only (duplicates go when the array is sorted)
            rest = keys[i:] if i else keys
            n = len(rest)
            digests = np.frombuffer(_fast.digests(rest), dtype=np.int64) if _fast is not None else \
                np.fromiter(map(hash, rest), dtype=np.int64, count=n)
            if min(map(len, rest)) < 7:  # else no value is short, or a short number: all are kept
                lengths = np.fromiter(map(len, rest), dtype=np.int64, count=n)
                digits = np.fromiter(map(str.isdigit, rest), dtype=bool, count=n)
                digests = digests[(lengths >= MIN_LENGTH) & ~(digits & (lengths < 7))]
            self._add_hashes(kind, digests.tobytes())

    def _fast_overflow(self, values: list[str], kind: str) -> bool:
        """Once the automaton is full, a list of ASCII values is hashed in one C call (the same
        keys and tests as below); False when the C path does not apply."""
        if _fast is None or len(self._automaton) < self._cap or type(values) is not list:
            return False
        raw = _fast.dictionary_digests(values, MIN_LENGTH, 7)
        if raw is None:  # a value is not ASCII: lowercased and stripped by Python below
            return False
        self._add_hashes(kind, raw)
        return True

    def _add_hashes(self, kind: str, digests) -> None:
        hashes = self._overflow.setdefault(kind, array("q"))
        before = len(hashes)
        hashes.frombytes(digests)
        self.values += len(hashes) - before
        if len(hashes) >= self._compact_at.get(kind, COMPACT_AT):
            # the pull reads without DISTINCT: drop repeats now and then, so memory follows
            # the distinct values, not the rows
            before = len(hashes)
            _sort_unique_in_place(hashes)
            self.values -= before - len(hashes)
            self._compact_at[kind] = max(COMPACT_AT, len(hashes) * 3 // 2)

    def build(self) -> None:
        if len(self._automaton):
            self._automaton.make_automaton()
        self._hashes = {}
        # repeats of values the automaton holds (the pull reads columns without DISTINCT) are
        # dropped from the hashes: counted once, found once
        held = None
        if self._overflow and len(self._automaton):
            held = np.fromiter(map(hash, self._automaton.keys()), dtype=np.int64, count=len(self._automaton))
            held.sort()
        for kind in list(self._overflow):
            hashes = self._overflow.pop(kind)
            before = len(hashes)
            _sort_unique_in_place(hashes, drop=held)  # in the array's own memory
            self.values -= before - len(hashes)
            if len(hashes):
                self._hashes[kind] = np.frombuffer(hashes, dtype=np.int64)  # a view: no second copy
        self._built = True

    def __bool__(self) -> bool:
        return self.values > 0

    @property
    def overflow(self) -> int:
        return sum(len(h) for h in self._hashes.values())

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, replacement) of every original value in ``text``, left to right, not overlapping."""
        low = _lower(text)
        hits: list[tuple[int, int, str, str]] = []
        if len(self._automaton) and self._built:
            for end, (n, value, kind) in self._automaton.iter(low):
                start = end - n + 1
                if _bounded(low, start, end + 1):
                    hits.append((start, end + 1, value, kind))
        if self._hashes:
            hits.extend(self._overflow_hits(text, low))
        if not hits:
            return []
        hits.sort(key=lambda h: (h[0], -h[1]))  # leftmost, then longest
        chosen: list[tuple[int, int, str, str]] = []
        pos = -1
        for hit in hits:
            if hit[0] >= pos:
                chosen.append(hit)
                pos = hit[1]
        # the fakes of one kind in one call (a list is hashed at once)
        by_kind: dict[str, list[str]] = {}
        for _, _, value, kind in chosen:
            by_kind.setdefault(kind, []).append(value)
        fakes = {kind: iter(self._replace(values, kind)) for kind, values in by_kind.items()}
        return [(start, end, next(fakes[kind])) for start, end, _, kind in chosen]

    def _overflow_hits(self, text: str, low: str) -> list[tuple[int, int, str, str]]:
        """Values past the cap: every candidate span of the text hashed, all looked up in one call per kind."""
        spans = [(m.start(), m.end()) for m in _SHAPED.finditer(low)]
        # every run of one to three capitalized words joined by single spaces ("Called Anna Schmidt"
        # holds "Anna Schmidt"): names are written capitalized, and ordinary words then cost nothing
        words = [(m.start(), m.end()) for m in _WORDS.finditer(text)]
        for i, (a, b) in enumerate(words):
            spans.append((a, b))
            for j in range(i + 1, min(i + 3, len(words))):
                if words[j][0] != words[j - 1][1] + 1 or low[words[j - 1][1]] != " ":
                    break
                spans.append((a, words[j][1]))
        if not spans:
            return []
        digests = np.fromiter((hash(low[a:b]) for a, b in spans), dtype=np.int64, count=len(spans))
        found: list[tuple[int, int, str, str]] = []
        for kind, table in self._hashes.items():
            at = np.minimum(np.searchsorted(table, digests), len(table) - 1)
            for i in np.flatnonzero(table[at] == digests).tolist():
                a, b = spans[i]
                if _bounded(low, a, b):
                    found.append((a, b, text[a:b], kind))
        return found

    def clean(self, text: str) -> str:
        """``text`` with every original value replaced by its fake."""
        spans = self.spans(text)
        if not spans:
            return text
        out, pos = [], 0
        for start, end, fake in spans:
            out.append(text[pos:start])
            out.append(fake)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def clean_many(self, fields: list[str]) -> tuple[list[str], int]:
        """A column of a batch, matched in one pass over the joined text; (fields, how many changed).

        Fields never hold a raw newline (COPY text escapes it), so newline joins them safely.
        """
        if not fields:
            return fields, 0
        distinct = list(dict.fromkeys(fields))
        if len(distinct) < len(fields):  # repeated texts (statuses, boilerplate notes) are matched once
            out, n = self._clean_distinct(distinct)
            if not n:
                return fields, 0
            made = {f: o for f, o in zip(distinct, out) if o is not f}
            get = made.get
            cleaned = [get(f, f) for f in fields]
            return cleaned, sum(1 for f in fields if f in made)
        return self._clean_distinct(fields)

    def _clean_distinct(self, fields: list[str]) -> tuple[list[str], int]:
        joined = "\n".join(fields)
        spans = self.spans(joined)
        if not spans:
            return fields, 0
        starts = []
        pos = 0
        for f in fields:
            starts.append(pos)
            pos += len(f) + 1
        out = list(fields)
        by_field: dict[int, list[tuple[int, int, str]]] = {}
        for start, end, fake in spans:
            i = bisect.bisect_right(starts, start) - 1
            if end <= starts[i] + len(fields[i]):  # a hit across two fields is no hit
                by_field.setdefault(i, []).append((start - starts[i], end - starts[i], fake))
        for i, hits in by_field.items():
            f, parts, p = fields[i], [], 0
            for a, b, fake in hits:
                parts.append(f[p:a])
                parts.append(fake)
                p = b
            parts.append(f[p:])
            out[i] = "".join(parts)
        return out, len(by_field)
