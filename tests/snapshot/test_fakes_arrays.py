"""The fakes made with array operations equal the formulas they replaced, written with Python integers.

Snapshots pulled with the same secret must give every value the same fake (FAKES_VERSION): the
numpy route (keyed.keyed_arrays, picks, hex16, dec20) is only a faster way to the same strings.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from rehearse.anonymize.fakes import _COMPOSED, _ascii
from rehearse.anonymize.keyed import _sip_key, dec20, hex16, keyed_hashes
from rehearse.anonymize.transform import Anonymizer, ColumnType

random.seed(12)
CHARS = "abcXYZ019 @.-_éü€ñ"
VALUES = ["".join(random.choice(CHARS) for _ in range(random.randint(0, 24))) for _ in range(600)]


@pytest.fixture(scope="module")
def anon(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REHEARSE_CACHE_DIR", str(tmp_path_factory.mktemp("pools")))
        a = Anonymizer(b"fakes-array-test-secret-0123456789", pool_size=300)
        for kind in ("first_name", "last_name", "street"):
            a.pool(kind)  # built (and cached) while the variable is set
        yield a


def _hashes(anon, kind, n, values):
    return keyed_hashes(values, _sip_key(anon._secret, f"fake:{kind}:{n}"))


@pytest.mark.parametrize("values", [VALUES[:3], VALUES], ids=["value by value", "a list at a time"])
def test_email_name_username_as_with_integers(anon, values):
    p0, p1 = (anon.pool(k) for k in _COMPOSED["name"])
    a1 = _hashes(anon, "name", 1, values)
    assert anon.fakes("name")(values) == [f"{p0[a % len(p0)]} {p1[(a >> 21) % len(p1)]}" for a in a1]
    e0, e1 = ([_ascii(v) for v in anon.pool(k)] for k in _COMPOSED["email"])
    a1, a2 = _hashes(anon, "email", 1, values), _hashes(anon, "email", 2, values)
    tlds = ("com", "net", "org")
    assert anon.fakes("email")(values) == [f"{e0[a % len(e0)]}.{e1[(a >> 21) % len(e1)]}.{b:016x}@example.{tlds[a % 3]}"
                                           for a, b in zip(a1, a2)]
    a1, a2 = _hashes(anon, "username", 1, values), _hashes(anon, "username", 2, values)
    assert anon.fakes("username")(values) == [f"{e0[a % len(e0)][:1]}{e1[(a >> 21) % len(e1)]}_{b:016x}"
                                              for a, b in zip(a1, a2)]


@pytest.mark.parametrize("values", [VALUES[:3], VALUES], ids=["value by value", "a list at a time"])
def test_pooled_kinds_and_hashes_as_with_integers(anon, values):
    pool = anon.pool("street")
    assert anon.fakes("street")(values) == [pool[a % len(pool)] for a in _hashes(anon, "street", 1, values)]
    a1 = keyed_hashes(values, _sip_key(anon._secret, "hash:1"))
    a2 = keyed_hashes(values, _sip_key(anon._secret, "hash:2"))
    for n in (8, 16, 20, 32):
        assert anon.hashes(ColumnType(), n)(values) == [f"{a:016x}{b:016x}"[:n] for a, b in zip(a1, a2)]


def test_hex_and_decimal_digits_of_uint64_arrays():
    xs = [0, 1, 9, 10, 2**63, 2**64 - 1, 12345678901234567890]
    arr = np.array(xs, dtype=np.uint64)
    assert hex16(arr) == [f"{x:016x}" for x in xs]
    assert dec20(arr) == [f"{x:020d}" for x in xs]


@pytest.mark.parametrize("locale", ["en_US", "de_DE", "fr_FR", "pt_BR", "ja_JP"])
@pytest.mark.parametrize("kind", ["phone", "ssn"])
def test_digit_fakes_laid_out_with_arrays_equal_the_shape_by_shape_strings(tmp_path, monkeypatch, locale, kind):
    """Phones and national ids fill a pooled shape with digits of the keyed hash: the C route
    (_fast.fill_digits) and the array route (every shape's characters laid out once) give the
    strings the per-value fillers give."""
    import rehearse.anonymize.fakes as fakes

    monkeypatch.setenv("REHEARSE_CACHE_DIR", str(tmp_path))
    anon = Anonymizer(b"digit-layout-test-secret-0123456789", locale=locale, pool_size=400)
    compiled = anon.generator(kind)
    monkeypatch.setattr(fakes, "_fast", None)
    laid = anon.generator(kind)
    assert compiled(VALUES) == laid(VALUES)
    layouts_of = fakes._digit_layouts
    monkeypatch.setattr(fakes, "_digit_layouts", lambda fills: None)  # the per-value fillers
    one_by_one = anon.generator(kind)
    assert laid(VALUES) == one_by_one(VALUES)
    assert laid(VALUES[:1]) == one_by_one(VALUES[:1])
    assert len(set(laid(VALUES))) > 500  # digits from the hash: distinct values get distinct fakes
    # wide shapes (over 20 digits) repeat the 20 digits; a shape with no digits is copied as is
    fills = [lambda d: "+44 " + d[:4] + " " + d[4:10], lambda d: "n/a", lambda d, f=lambda x: x[15:25]: f(d + d)]
    layout_of, layouts, templates = layouts_of(fills)
    assert layout_of.tolist() == [0, 1, 2] and layouts[1][1].tolist() == []
    assert templates[0] == "+44 " + fakes._PROBE[:4] + " " + fakes._PROBE[4:10] and templates[1] == "n/a"
    assert layouts[2][2].tolist() == [15, 16, 17, 18, 19, 0, 1, 2, 3, 4]
