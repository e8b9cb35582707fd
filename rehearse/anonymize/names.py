"""Person names found by their values: first- and last-name dictionaries of several locales.

The dictionaries are Faker's own provider lists (the names Faker draws fakes from), casefolded,
for the locales below; words that are also ordinary English words ("May", "Bill", "Summer")
are left out of the single-word test, where they would make ordinary text look personal. A
value is a person name when it reads "First Last" (optionally a middle name or initial) or
"Last, First" with both parts in the dictionaries: a pair is rare in text that names no one.
"""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass
from typing import Iterable

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE", "da_DK",
           "tr_TR")
# a column is names when at least this share of its sampled values are (name pairs, or single names)
PAIR_RATE = 0.5
SINGLE_RATE = 0.8

_WORD = r"[^\W\d_][\w'’-]*"
_VALUE = re.compile(rf"^\s*({_WORD})(?:\s+(?:{_WORD}|[^\W\d_]\.))?\s+({_WORD})\s*$")
_REVERSED = re.compile(rf"^\s*({_WORD}),\s*({_WORD})\s*$")
# a capitalized word followed by another (non-consuming, so "Called John Smith" still finds the pair)
_PAIR_IN_TEXT = re.compile(r"(?<![\w@.])([A-ZÀ-ÖØ-Þ][\w'’-]+)(?=[ ]+((?:[A-Z]\.[ ]+)?)([A-ZÀ-ÖØ-Þ][\w'’-]+)(?![\w@]))")


@dataclass(frozen=True)
class Dictionaries:
    first: frozenset[str]
    last: frozenset[str]
    common_words: frozenset[str]  # names that are also ordinary words: no evidence on their own


@functools.cache
def dictionaries() -> Dictionaries:
    first: set[str] = set()
    last: set[str] = set()
    for locale in LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in ("first_names", "first_names_male", "first_names_female"):
            first.update(n.casefold() for n in getattr(provider, attr, ()) or ())
        for attr in ("last_names", "last_names_male", "last_names_female"):
            last.update(n.casefold() for n in getattr(provider, attr, ()) or ())
    from faker.providers.lorem.en_US import Provider as Lorem

    words = frozenset(w.casefold() for w in Lorem.word_list)
    return Dictionaries(frozenset(first), frozenset(last), words)


def is_name_pair(first: str, last: str) -> bool:
    d = dictionaries()
    return first.casefold() in d.first and last.casefold() in d.last


def looks_like_person_name(value: str) -> bool:
    """'Anna Schmidt', 'Anna M. Schmidt', 'Schmidt, Anna'."""
    if len(value) > 80:
        return False
    m = _VALUE.match(value)
    if m and is_name_pair(m.group(1), m.group(2)):
        return True
    m = _REVERSED.match(value)
    return bool(m and is_name_pair(m.group(2), m.group(1)))


def _single_name(value: str) -> str | None:
    v = value.strip().casefold()
    if not v or " " in v:
        return None
    d = dictionaries()
    if v in d.common_words:
        return None
    if v in d.first:
        return "first_name"
    if v in d.last:
        return "last_name"
    return None


@dataclass(frozen=True)
class NameEvidence:
    """How many sampled values read as person names: the scan's evidence, printed in the policy."""

    kind: str | None  # "name", "first_name", "last_name" or None (not names)
    hits: int
    total: int

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0

    def describe(self) -> str:
        what = {"first_name": "first names", "last_name": "last names"}.get(self.kind or "", "person names")
        return (f"{self.hits} of {self.total} sampled values ({self.rate:.0%}) are {what} "
                f"in the name dictionaries of {len(LOCALES)} locales")


def name_evidence(values: Iterable[str]) -> NameEvidence:
    sample = [v for v in values if v and v.strip()]
    if not sample:
        return NameEvidence(None, 0, 0)
    pairs = sum(1 for v in sample if looks_like_person_name(v))
    if pairs / len(sample) >= PAIR_RATE:
        return NameEvidence("name", pairs, len(sample))
    singles: dict[str, int] = {}
    for v in sample:
        k = _single_name(v)
        if k:
            singles[k] = singles.get(k, 0) + 1
    if singles:
        kind, n = max(singles.items(), key=lambda kv: kv[1])
        total = sum(singles.values())
        if total / len(sample) >= SINGLE_RATE:
            return NameEvidence(kind, total, len(sample))
    return NameEvidence(None, pairs, len(sample))


def find_name_pairs(text: str) -> list[tuple[int, int]]:
    """(start, end) of every "First Last" pair quoted in free text, left to right, not overlapping."""
    spans: list[tuple[int, int]] = []
    last_end = -1
    for m in _PAIR_IN_TEXT.finditer(text):
        if m.start() < last_end:
            continue
        if is_name_pair(m.group(1), m.group(3)):
            end = m.end(3)  # groups inside the lookahead keep their positions
            spans.append((m.start(), end))
            last_end = end
    return spans
