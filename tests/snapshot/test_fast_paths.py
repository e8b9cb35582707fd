"""The C extension (rehearse/anonymize/_fast.c) makes exactly the fakes the pure Python path makes.

Every kind whose values the extension builds (composed names, e-mails, usernames, URLs and
addresses; phone and national-id digits; plain pools through the hashes) is made twice from the
same secret, locale and values: once with the extension, once with it switched off, so keyed.py
and fakes.py take their pandas and numpy route. Values include non-ASCII text, the empty string,
lone surrogates (text of a SQL_ASCII database) and lengths across SipHash's 8-byte blocks.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

import rehearse.anonymize.fakes as fakes
import rehearse.anonymize.keyed as keyed
from rehearse.anonymize.fakes import Fakes

SECRET = b"fast-path-test-secret-0123"
KINDS = ["name", "email", "username", "url", "address", "phone", "ssn", "street", "city", "iban", "uuid"]


def _values() -> list[str]:
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyzÄÖÜßéøł日本語Жж @.-_0123456789"
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 70))) for _ in range(3000)]
    values += ["", "x", "a\udcffb", "\udc80", "Zoë Ünal", "customer17@mail-3.com"]
    values += ["".join(map(chr, range(97, 97 + n))) for n in range(26)]  # every tail length of a block
    return values


VALUES = _values()


def _made(locale: str, kinds: list[str]) -> dict[str, list[str]]:
    f = Fakes(SECRET, locale=locale)
    return {k: f.generator(k)(VALUES) for k in kinds}


@pytest.fixture(scope="module")
def with_extension() -> dict[str, dict[str, list[str]]]:
    assert keyed._fast is not None, "rehearse.anonymize._fast is not built (pip install -e . with a C compiler)"
    return {loc: _made(loc, KINDS) for loc in ("en_US", "de_DE", "ja_JP", "ru_RU")}


@pytest.mark.parametrize("locale", ["en_US", "de_DE", "ja_JP", "ru_RU"])
def test_every_kind_is_the_same_without_the_extension(with_extension, locale, monkeypatch):
    monkeypatch.setattr(keyed, "_fast", None)
    monkeypatch.setattr(fakes, "_fast", None)
    without = _made(locale, KINDS)
    for kind in KINDS:
        assert with_extension[locale][kind] == without[kind], kind


def test_hashes_match_pandas_and_siphash24_on_every_value(monkeypatch):
    key = "k" * 8 + "0123456_"
    fast = keyed.keyed_hashes(VALUES, key)
    monkeypatch.setattr(keyed, "_fast", None)
    assert fast == keyed.keyed_hashes(VALUES, key)  # pandas, or siphash24 (the list holds surrogates)
    plain = [v for v in VALUES if not any(0xD800 <= ord(c) < 0xE000 for c in v)]
    assert keyed.keyed_hashes(plain, key) == [h for v, h in zip(VALUES, fast) if v in set(plain)]


def test_short_and_empty_lists():
    f = Fakes(SECRET)
    for kind in ("name", "email", "phone"):
        assert f.generator(kind)([]) == []
        one = f.generator(kind)(["Anna Berg"])
        assert one == f.generator(kind)(["Anna Berg", "other"])[:1]


def test_bad_input_raises_instead_of_reading_out_of_bounds():
    fast = keyed._fast
    with pytest.raises(TypeError):
        fast.sip_hashes(["ok", 3], b"0123456789abcdef")
    with pytest.raises(ValueError):
        fast.sip_hashes(["ok"], b"short")
    pool = ["a", "b"]
    with pytest.raises(IndexError):
        fast.compose(2, ((pool, np.array([0, 2], dtype=np.intp)),))
    with pytest.raises(ValueError):
        fast.compose(3, ((pool, np.array([0, 1], dtype=np.intp)),))
    with pytest.raises(ValueError):
        fast.compose(2, (np.zeros(1, dtype=np.uint64),))
    with pytest.raises(IndexError):
        fast.fill_digits(["\ue000"], np.array([1], dtype=np.intp), np.zeros(1, dtype=np.uint64))
    assert fast.compose(2, ("<", (pool, np.array([1, 0], dtype=np.intp)), np.array([255, 1], dtype=np.uint64))) == [
        "<b00000000000000ff", "<a0000000000000001"]
    assert fast.fill_digits(["+\ue013-\ue000é"], np.array([0], dtype=np.intp), np.array([12], dtype=np.uint64)) == [
        "+2-0é"]


def _python_split(data: bytes, nf: int):
    """What the sink did before split_rows: decode, count escapes, split, slice."""
    text = data.decode("utf-8", "surrogateescape")
    fields = text.replace("\n", "\t").split("\t")
    fields.pop()
    return [fields[i::nf] for i in range(nf)], text.count("\\") != text.count("\\N")


@pytest.mark.parametrize("data", [
    b"1\tanna\t\\N\n2\t\t\\N\n",  # NULL markers only: not escaped
    b"1\ta\\\\N\tx\n",  # a backslash before N (escaped as \\\\): escaped
    b"1\ttab\\there\tx\n2\tnew\\nline\t\\N\n",  # \\t and \\n escapes
    b"1\tends with backslash \\\\\t\\N\n",
    b"",
])
def test_split_rows_gives_what_decoding_and_splitting_gives(data):
    nf = 3
    split = keyed._fast.split_rows(data, nf)
    if not data:
        assert split == ([[], [], []], False)
        return
    assert split == _python_split(data, nf)


def test_split_rows_declines_what_it_cannot_split():
    fast = keyed._fast
    assert fast.split_rows("é\tx\n".encode(), 2) is None  # not ASCII: decoded by the caller
    assert fast.split_rows(b"a\tb\tc\nd\n", 2) is None  # a long line beside a short one
    assert fast.split_rows(b"a\tb", 2) is None  # no final newline


def test_join_rows_is_the_inverse_and_declines_non_ascii():
    cols = [["1", "2"], ["a\\tb", ""], ["\\N", "x"]]
    assert keyed._fast.join_rows(cols) == b"1\ta\\tb\t\\N\n2\t\tx\n"
    assert keyed._fast.split_rows(keyed._fast.join_rows(cols), 3)[0] == cols
    assert keyed._fast.join_rows([["é"]]) is None


def test_small_helpers():
    fast = keyed._fast
    assert fast.changed(["a", "b", "c"], ["a", "x", "c"]) == ["b"]
    assert fast.shortest(["abc", "de"]) == 2 and fast.shortest([]) == 0
    assert np.frombuffer(fast.digests(["abc", "x"]), dtype=np.int64).tolist() == [hash("abc"), hash("x")]
    cut = fast.compose(2, ((["éa", "日x"], 1, 0),))
    assert cut == ["a", "x"] and all(c.isascii() for c in cut)  # the narrowest form, as Python makes it


def test_dictionary_overflow_hashes_the_same_keys_in_c(monkeypatch):
    """Past the automaton's cap, ValueDictionary.add hashes whole lists in C: the same digests
    (stripped, lowercased keys; short values, short numbers and escaped text left out) as the
    Python route."""
    import rehearse.anonymize.dictionary as dictionary

    values = ["  Anna.Berg@Example.COM ", "12345", "1234567", "abc", "abcd", "tab\there", "back\\slash",
              "\x1cspaced\x1f", "Mixed Case Street 7", "", "    ", "0000000"] + [f"User{i}@MAIL.test" for i in range(500)]

    def overflow(fast_on: bool) -> dict[str, list[int]]:
        if not fast_on:
            monkeypatch.setattr(dictionary, "_fast", None)
        d = dictionary.ValueDictionary(lambda vs, kind: vs, cap=1)
        d.add(["first value"], "email")  # fills the automaton: what follows overflows
        d.add(values, "email")
        d.add(values[:7], "street")
        monkeypatch.undo()
        return {k: sorted(np.frombuffer(v, dtype=np.int64).tolist()) for k, v in d._overflow.items()}, d.values

    assert overflow(True) == overflow(False)
    # a list holding a non-ASCII value goes the Python way (Unicode whitespace, ASCII-only lowering)
    assert keyed._fast.dictionary_digests(["Zoë Ünal"], 4, 7) is None
