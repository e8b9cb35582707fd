"""Keyed hashing: the secret's derived keys and keyed SipHash-2-4 over lists of values.

SipHash is a pseudo-random function built for short inputs; per-purpose keys are derived from
the secret by HMAC-SHA256. Values are hashed a list at a time, in C: by this package's own
extension (_fast.c) when it is built, else by pandas.util.hash_array, or value by value
(siphash24) for short lists. All three give the same numbers, and are tested against the
reference vectors (tests/snapshot/test_siphash_reference.py, tests/snapshot/test_fast_paths.py).
"""

from __future__ import annotations

import hmac

try:  # optional: built by `pip install` where a C compiler is (setup.py); the same numbers either way
    from . import _fast
except ImportError:  # pragma: no cover - exercised by tests/snapshot/test_fast_paths.py
    _fast = None

def derive_key(secret: bytes, label: str) -> bytes:
    return hmac.digest(secret, label.encode(), "sha256")


# recorded in manifests. 1: per-value keyed BLAKE2b; 2: keyed SipHash-2-4, a list at a time; 3: scrubbed
# text also loses name pairs and the value dictionary's originals (the same text scrubs differently)
FAKES_VERSION = 3
_MASK64 = (1 << 64) - 1
HASH_ARRAY_MIN = 16  # from this many values on, one array call beats hashing value by value


def _sip_key(secret: bytes, label: str) -> str:
    """A SipHash key derived from the secret: 16 ASCII characters (112 key bits), the form pandas takes."""
    return "".join(chr(b & 0x7F) for b in derive_key(secret, label)[:16])


def _mix64(x: int) -> int:
    """The 64-bit finalizer pandas applies after SipHash (splitmix64's), for single values."""
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def keyed_hashes(values: list[str], key: str) -> list[int]:
    """Keyed SipHash-2-4 of each value's UTF-8 bytes, finalized to 64 unsigned bits.

    SipHash is a pseudo-random function made for short inputs: without the key nothing links a
    value to its hash. A list is hashed in one C call (pandas.util.hash_array, the same
    SipHash-2-4 plus a fixed finalizer); a short list, or one holding text that is not valid
    UTF-8 (surrogates from a SQL_ASCII database), value by value with the siphash24 module
    and the same finalizer. Both give the same numbers (tests/snapshot/test_keyed_hashes.py).
    """
    if _fast is not None:
        return _np().frombuffer(_fast.sip_hashes(list(values), key.encode()), dtype=_np().uint64).tolist()
    if len(values) >= HASH_ARRAY_MIN:
        from pandas.util import hash_array

        try:
            return hash_array(_np().array(values, dtype=object), hash_key=key, categorize=False).tolist()
        except UnicodeEncodeError:
            pass
    from siphash24 import siphash24

    k = key.encode()
    return [_mix64(siphash24(v.encode("utf-8", "surrogatepass"), key=k).intdigest() & _MASK64) for v in values]


def keyed_arrays(values: list[str], *keys: str) -> list:
    """keyed_hashes for each key, as numpy uint64 arrays (the same numbers): the fakes index
    pools and format tags with array operations instead of Python integers."""
    np = _np()
    if _fast is not None:  # no object array, no bytes object per value
        values = values if type(values) is list else list(values)
        return [np.frombuffer(_fast.sip_hashes(values, k.encode()), dtype=np.uint64) for k in keys]
    if len(values) >= HASH_ARRAY_MIN:
        from pandas.util import hash_array

        objects = np.array(values, dtype=object)
        try:
            return [hash_array(objects, hash_key=k, categorize=False) for k in keys]
        except UnicodeEncodeError:
            pass
    return [np.array(keyed_hashes(values, k), dtype=np.uint64) for k in keys]


def hex16(a) -> list[str]:
    """Each uint64 of an array as 16 lowercase hex digits (what f"{x:016x}" gives), in one C call."""
    text = a.astype(">u8").tobytes().hex()
    return [text[i:i + 16] for i in range(0, len(text), 16)]


def dec20_digits(a):
    """Each uint64 of an array as 20 decimal digits, zero-padded, one row of ASCII codes per value."""
    np = _np()
    digits = np.empty((len(a), 20), dtype=np.uint8)
    rest = a.copy()
    ten = np.uint64(10)
    for i in range(19, -1, -1):
        digits[:, i] = rest % ten
        rest //= ten
    digits += 48
    return digits


def dec20(a) -> list[str]:
    """Each uint64 of an array as 20 decimal digits, zero-padded (what f"{x:020d}" gives)."""
    text = dec20_digits(a).tobytes().decode("ascii")
    return [text[i:i + 20] for i in range(0, len(text), 20)]


def picks(a, n: int, shift: int = 0):
    """(a >> shift) % n of a uint64 array, as indexes."""
    np = _np()
    if shift:
        a = a >> np.uint64(shift)
    return (a % np.uint64(n)).astype(np.intp)


def _np():
    import numpy

    return numpy

