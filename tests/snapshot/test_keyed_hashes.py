"""Fakes come from keyed SipHash-2-4: a list is hashed in one array call, a single value on its own.

Both routes must give the same numbers, or the same email would get two different fakes
depending on whether it sat in a column (hashed with its batch) or inside free text (alone).
"""

from __future__ import annotations

import pytest

from rehearse.anonymize.transform import (FAKE_KINDS, HASH_ARRAY_MIN, Anonymizer, ColumnType, Rule, _sip_key,
                                         keyed_hashes)

VALUES = ["customer1@mail-1.com", "", "é€𝄞 ünïcödé", "a" * 300, "x\x00y", "O'Brien \"Bob\"", "tab\there"]


def test_array_and_value_by_value_give_the_same_hashes():
    key = _sip_key(b"s" * 32, "test")
    many = VALUES * (HASH_ARRAY_MIN // len(VALUES) + 2)
    assert len(many) >= HASH_ARRAY_MIN
    batch = keyed_hashes(many, key)
    singles = [keyed_hashes([v], key)[0] for v in many]
    assert batch == singles
    assert all(0 <= h < 2 ** 64 for h in batch)


def test_known_vector_pins_the_construction():
    # a dependency upgrade that changed these numbers would silently change every fake
    key = "".join(chr(b & 0x7F) for b in bytes(range(200, 216)))
    assert keyed_hashes(["customer1@mail-1.com", ""], key) == [15931858737291563908, 8949128145358992564]
    assert keyed_hashes(["customer1@mail-1.com"] * HASH_ARRAY_MIN, key)[0] == 15931858737291563908


def test_text_that_is_not_utf8_falls_back_to_value_by_value():
    key = _sip_key(b"s" * 32, "test")
    odd = ["ok value", "bad \udcff byte"] * HASH_ARRAY_MIN  # surrogateescape'd bytes of a SQL_ASCII database
    assert keyed_hashes(odd, key) == [keyed_hashes([v], key)[0] for v in odd]


def test_different_keys_give_unrelated_hashes():
    a = keyed_hashes(VALUES, _sip_key(b"s" * 32, "one"))
    b = keyed_hashes(VALUES, _sip_key(b"t" * 32, "one"))
    c = keyed_hashes(VALUES, _sip_key(b"s" * 32, "two"))
    assert not set(a) & set(b) and not set(a) & set(c)


@pytest.mark.parametrize("kind", sorted(FAKE_KINDS))
def test_a_kind_gives_each_value_the_same_fake_alone_or_in_a_list(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("REHEARSE_CACHE_DIR", str(tmp_path))
    anon = Anonymizer(b"k" * 32, pool_size=200)
    values = [f"value {i} {v}" for i, v in enumerate(VALUES * 5)]
    together = anon.fakes(kind)(values)
    assert together == [anon.fake(kind, v) for v in values]
    assert all(isinstance(f, str) and f for f in together)
    again = Anonymizer(b"k" * 32, pool_size=200).fakes(kind)(values)
    assert again == together  # deterministic across instances (and runs) with one secret


@pytest.mark.parametrize("ctype", [ColumnType(), ColumnType(max_length=10), ColumnType(unique=True),
                                   ColumnType(name="bigint", category="N", numeric_bits=64),
                                   ColumnType(name="integer", category="N", numeric_bits=32)])
def test_hash_strategy_is_the_same_alone_or_in_a_list(ctype):
    anon = Anonymizer(b"k" * 32)
    rule = Rule("hash")
    values = [f"token-{i}" for i in range(HASH_ARRAY_MIN * 2)]
    together = anon.compile_many(rule, ctype)(values)
    one = anon.compile(rule, ctype)
    assert together == [one(v) for v in values]
    assert len(set(together)) == len(values)
    if ctype.numeric_bits:
        assert all(0 < int(h) < 2 ** (ctype.numeric_bits - 1) for h in together)
    else:
        assert all(len(h) == min(ctype.max_length or 99, 32 if ctype.unique else 16) for h in together)
