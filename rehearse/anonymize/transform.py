"""Keyed, deterministic value transforms: one secret turns each personal value into the same fake everywhere.

Every fake is chosen by keyed hashes of the original value (SipHash-2-4, a pseudo-random function
built for short inputs, with per-kind keys derived from the secret by HMAC-SHA256; see
keyed_hashes) into a pool of values Faker generated once, seeded from the secret. Values are
hashed a list at a time, in C: no per-value Python hashing object on the hot path. So the same input gives the same output across tables, columns and runs, a different
secret gives unrelated output, and nobody without the secret can go back from fake to original.
Kinds that must stay unique (email, username, uuid, url, hash) carry 64 bits of the keyed hash in
the value itself, so two different inputs collide only with probability ~n^2/2^65.

This module also speaks PostgreSQL's COPY text format (field escapes, array literals) because the
snapshot streams rows through it without ever loading a table.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import hmac
import importlib
import json
import re
import uuid as _uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .names import find_name_pairs

POOL_SIZE = 5_000

# person-like kinds are built from two pools (first x last names: 25M combinations) so pools
# stay small enough to generate in a second; phones and national ids take their digits from the
# keyed hash, their shape from a pooled Faker value
_COMPOSED = {"name": ("first_name", "last_name"), "email": ("first_name", "last_name"),
             "username": ("first_name", "last_name"), "address": ("street", "city", "postcode"),
             "url": ("word", "word")}
_DIGITS_FROM_HASH = frozenset({"phone", "ssn"})

# kinds whose fakes embed a 64-bit keyed hash: safe on unique columns and foreign keys
COLLISION_FREE = frozenset({"email", "username", "uuid", "url"})

# kinds a real value may share with a fake by chance (a real "John Smith" is in the name pool):
# the leak scan does not look for their originals, it would cry wolf
COMMON_VALUE_KINDS = frozenset({"name", "first_name", "last_name", "city", "country", "company",
                                "postcode", "date_of_birth", "word", "state"})

FAKE_KINDS = {
    "name": lambda f: f.name(),
    "first_name": lambda f: f.first_name(),
    "last_name": lambda f: f.last_name(),
    "email": lambda f: f.safe_email(),
    "phone": lambda f: f.phone_number(),
    "street": lambda f: f.street_address(),
    "city": lambda f: f.city(),
    "state": lambda f: f.state() if hasattr(f, "state") else f.city(),
    "postcode": lambda f: f.postcode(),
    "country": lambda f: f.country(),
    "address": lambda f: f.address().replace("\n", ", "),
    "company": lambda f: f.company(),
    "username": lambda f: f.user_name(),
    "iban": lambda f: f.iban(),
    "ssn": lambda f: f.ssn(),
    "credit_card": lambda f: f.credit_card_number(),
    "ipv4": lambda f: f.ipv4_private(),
    "ipv6": lambda f: f.ipv6(),
    "url": lambda f: f.url(),
    "date_of_birth": lambda f: f.date_of_birth(minimum_age=18, maximum_age=90).isoformat(),
    "text": lambda f: f.sentence(nb_words=10),
    "paragraph": lambda f: f.paragraph(nb_sentences=3),
    "word": lambda f: f.word(),
    "uuid": lambda f: "",  # built from the hash, no pool needed
}

STRATEGIES = ("keep", "null", "constant", "fake", "hash", "mask", "shift_date", "json", "scrub")

# --- COPY text format ---------------------------------------------------------------------

_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_COPY_UNESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.S)
_COPY_ENCODE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _unescape_one(m: re.Match) -> str:
    s = m.group(1)
    if s in _COPY_ESCAPES:
        return _COPY_ESCAPES[s]
    if s[0] == "x" and len(s) > 1:
        return chr(int(s[1:], 16))
    if s[0] in "01234567":
        return chr(int(s, 8))
    return s


def copy_decode(field_text: str) -> str:
    """A COPY text field (not \\N) as the value it stands for."""
    if "\\" not in field_text:
        return field_text
    return _COPY_UNESCAPE.sub(_unescape_one, field_text)


_COPY_UNSAFE = re.compile(r"[\\\t\n\r]+")
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")


def copy_encode(value: str) -> str:
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return value.translate(_COPY_ENCODE)


# --- array literals ------------------------------------------------------------------------


def parse_array(text: str) -> list:
    """A PostgreSQL array literal ({a,"b c",NULL,{x}}) as nested lists of str | None."""
    if text.startswith("["):  # explicit bounds: [0:2]={...}
        text = text[text.index("=") + 1:]
    pos = 0

    def parse_level() -> list:
        nonlocal pos
        assert text[pos] == "{"
        pos += 1
        items: list = []
        if text[pos] == "}":
            pos += 1
            return items
        while True:
            ch = text[pos]
            if ch == "{":
                items.append(parse_level())
            elif ch == '"':
                pos += 1
                buf = []
                while text[pos] != '"':
                    if text[pos] == "\\":
                        pos += 1
                    buf.append(text[pos])
                    pos += 1
                pos += 1
                items.append("".join(buf))
            else:
                start = pos
                while text[pos] not in ",}":
                    pos += 1
                raw = text[start:pos].strip()
                items.append(None if raw.upper() == "NULL" else raw)
            if text[pos] == ",":
                pos += 1
                continue
            if text[pos] == "}":
                pos += 1
                return items

    return parse_level()


def format_array(items: list) -> str:
    out = []
    for item in items:
        if item is None:
            out.append("NULL")
        elif isinstance(item, list):
            out.append(format_array(item))
        else:
            out.append('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(out) + "}"


def map_array(items: list, fn: Callable[[str], str | None]) -> list:
    return [None if v is None else map_array(v, fn) if isinstance(v, list) else fn(v) for v in items]


# --- JSON paths ----------------------------------------------------------------------------

_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\*|\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def parse_json_path(path: str) -> tuple[str, ...]:
    """'$.a.b[*].c' -> ('a', 'b', '[*]', 'c'); '*' matches any key, '[*]' any index, '**' any depth."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    if text and not text.startswith((".", "[")):
        text = "." + text
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _PATH_TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot read JSON path {path!r} at {text[pos:]!r}")
        key, idx, quoted = m.groups()
        tokens.append(key if key is not None else quoted if quoted is not None else f"[{idx}]")
        pos = m.end()
    return tuple(tokens)


def _walk_json(node: Any, path: tuple[str, ...], fn: Callable[[Any], Any]) -> Any:
    if not path:
        return _apply_leaves(node, fn)
    head, rest = path[0], path[1:]
    if head == "**":
        node = _walk_json(node, rest, fn)
        if isinstance(node, dict):
            return {k: _walk_json(v, path, fn) for k, v in node.items()}
        if isinstance(node, list):
            return [_walk_json(v, path, fn) for v in node]
        return node
    if isinstance(node, dict):
        if head == "*":
            return {k: _walk_json(v, rest, fn) for k, v in node.items()}
        if head in node:
            node = dict(node)
            node[head] = _walk_json(node[head], rest, fn)
        return node
    if isinstance(node, list) and head.startswith("["):
        if head == "[*]":
            return [_walk_json(v, rest, fn) for v in node]
        i = int(head[1:-1])
        if i < len(node):
            node = list(node)
            node[i] = _walk_json(node[i], rest, fn)
        return node
    return node


def _path_matches(pattern: tuple[str, ...], path: list[str]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_path_matches(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    step = path[0]
    if head == "*" and not step.startswith("["):
        return _path_matches(rest, path[1:])
    if head == "[*]" and step.startswith("["):
        return _path_matches(rest, path[1:])
    return head == step and _path_matches(rest, path[1:])


def _walk_all(node: Any, path: list[str], patterns: list, default: Callable[[Any], Any]) -> Any:
    """Every leaf gets the first pattern whose path covers it (a prefix match), else the default."""
    if isinstance(node, dict):
        return {k: _walk_all(v, path + [k], patterns, default) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk_all(v, path + [f"[{i}]"], patterns, default) for i, v in enumerate(node)]
    for tokens, leaf in patterns:
        for cut in range(len(path), -1, -1):  # a rule on an object covers every leaf under it
            if _path_matches(tokens, path[:cut]):
                return leaf(node)
    return default(node)


def _apply_leaves(node: Any, fn: Callable[[Any], Any]) -> Any:
    """A strategy aimed at an object or array scrubs every leaf under it."""
    if isinstance(node, dict):
        return {k: _apply_leaves(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [_apply_leaves(v, fn) for v in node]
    return fn(node)


# --- free-text scrubbing ---------------------------------------------------------------------

SCRUB_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")),
    ("credit_card", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("phone", re.compile(r"(?<![\w.])\+?\d{1,3}?[ .-]?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?:\s?x\d{1,5})?(?![\w])")),
    ("ipv4", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
)


# --- the anonymizer ------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnType:
    """What a value must fit: its type category and length limit (domains resolved to base)."""

    name: str = "text"  # format_type of the base type, e.g. "character varying(40)"
    category: str = "S"  # pg_type.typcategory of the base (element) type
    max_length: int | None = None
    is_array: bool = False
    is_json: bool = False
    numeric_bits: int | None = None  # 16/32/64 for integer columns
    not_null: bool = False
    unique: bool = False


@dataclass(frozen=True)
class Rule:
    """One column's (or JSON path's) strategy, as the policy states it."""

    strategy: str  # one of STRATEGIES
    kind: str | None = None  # for fake
    options: Mapping[str, Any] = field(default_factory=dict)
    paths: Mapping[str, "Rule"] = field(default_factory=dict)  # json: JSON path -> rule
    acknowledge: bool = False
    line: int | None = None
    origin: str = "policy"  # policy | auto | foreign-key
    why: str | None = None

    @property
    def label(self) -> str:
        return f"fake:{self.kind}" if self.strategy == "fake" else self.strategy

    @property
    def changes_values(self) -> bool:
        return self.strategy != "keep"

    @property
    def collision_free(self) -> bool:
        if self.strategy == "fake":
            return self.kind in COLLISION_FREE
        return self.strategy in ("keep", "hash", "null")

    @property
    def copy_safe(self) -> bool:
        """Outputs never hold a tab, newline or backslash (pools are cleaned), so COPY needs no escaping."""
        return self.strategy in ("fake", "hash", "null")

    @property
    def leak_checked(self) -> bool:
        """Whether the originals this rule replaces are looked for in the written snapshot."""
        if self.strategy in ("keep", "json", "shift_date"):
            return False
        return not (self.strategy == "fake" and self.kind in COMMON_VALUE_KINDS)


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _digit_template(sample: str) -> tuple[str, str, int]:
    """'+1-335-433-7406' -> ('+1', '-{}{}{}-...', 10): the shape, with digits to fill from a hash."""
    head = ""
    if sample.startswith("+"):  # keep the country code the locale's shape gives
        cut = next((i for i, ch in enumerate(sample[1:], 1) if not ch.isdigit()), len(sample))
        head, sample = sample[:cut], sample[cut:]
    body = sample.replace("{", "{{").replace("}", "}}")
    count = sum(ch.isdigit() for ch in body)
    return head, "".join("{}" if ch.isdigit() else ch for ch in body), min(count, 40)


def _shape_key(sample: str) -> str:
    """What _digit_filler depends on: the sample with every digit after the country code made 0."""
    head, fmt, _ = _digit_template(sample)
    return head + "\0" + fmt


def _digit_filler(sample: str) -> tuple[Callable[[str], str], int]:
    """The shape of ``sample`` compiled into one function of a digit string, and how many digits it takes.

    Same output as filling _digit_template's placeholders one by one, but each run of digits is
    one slice of an f-string: this is the per-value hot path of phone and ssn fakes.
    """
    head, fmt, count = _digit_template(sample)
    body = fmt.replace("{}", "\0")  # placeholders, as a character no Faker shape contains
    body = body.replace("{{", "{").replace("}}", "}")
    out: list[str] = []
    pos, i = 0, 0

    def literal(text: str) -> str:
        return (text.replace("\\", "\\\\").replace("'", "\\'").replace("{", "{{").replace("}", "}}")
                .replace("\n", "\\n").replace("\r", "\\r"))

    out.append(literal(head))
    while i < len(body):
        if body[i] == "\0":
            j = i
            while j < len(body) and body[j] == "\0":
                j += 1
            out.append(f"{{d[{min(pos, 40)}:{min(pos + j - i, 40)}]}}")
            pos += j - i
            i = j
        else:
            out.append(literal(body[i]))
            i += 1
    code = "lambda d: f'" + "".join(out) + "'"
    return eval(code, {"__builtins__": {}}), count  # noqa: S307 - escaped literals and slices only


@functools.lru_cache(maxsize=65536)
def _ascii(text: str) -> str:
    import unicodedata

    flat = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _NON_ALNUM.sub("", flat) or "x"


def derive_key(secret: bytes, label: str) -> bytes:
    return hmac.digest(secret, label.encode(), "sha256")


FAKES_VERSION = 2  # 1: per-value keyed BLAKE2b; 2: keyed SipHash-2-4, a list at a time (recorded in manifests)
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
    if len(values) >= HASH_ARRAY_MIN:
        from pandas.util import hash_array

        try:
            return hash_array(_np().array(values, dtype=object), hash_key=key, categorize=False).tolist()
        except UnicodeEncodeError:
            pass
    from siphash24 import siphash24

    k = key.encode()
    return [_mix64(siphash24(v.encode("utf-8", "surrogatepass"), key=k).intdigest() & _MASK64) for v in values]


def _np():
    import numpy

    return numpy


class Anonymizer:
    """Keyed fakes for one secret and locale; pools are built lazily, once per kind."""

    def __init__(self, secret: bytes, locale: str = "en_US", pool_size: int = POOL_SIZE) -> None:
        if not secret:
            raise ValueError("an anonymization secret is required")
        self._secret = secret
        self.locale = locale
        self.pool_size = pool_size
        self._pools: dict[str, list[str]] = {}
        self._keys: dict[str, bytes] = {}
        self._gens: dict[str, Callable[[str], str]] = {}
        # original personal values of this pull, removed from free text too (see dictionary.py)
        self.dictionary = None

    # keys and pools ----------------------------------------------------------------------

    def key(self, kind: str) -> bytes:
        k = self._keys.get(kind)
        if k is None:
            k = self._keys[kind] = derive_key(self._secret, "value:" + kind)[:32]
        return k

    def pool(self, kind: str) -> list[str]:
        pool = self._pools.get(kind)
        if pool is None:
            if kind not in FAKE_KINDS:
                raise ValueError(f"unknown fake kind {kind!r}")
            pool = self._pools[kind] = self._load_or_make(kind)
        return pool

    def _load_or_make(self, kind: str) -> list[str]:
        """Faker values for one kind; cached on disk under a name only this secret can derive."""
        import os
        from pathlib import Path

        tag = derive_key(self._secret, f"cache2:{kind}:{self.locale}:{self.pool_size}").hex()[:32]
        cache_dir = Path(os.environ.get("REHEARSE_CACHE_DIR") or Path.home() / ".cache" / "rehearse") / "pools"
        cached = cache_dir / f"{tag}.json"
        try:
            data = json.loads(cached.read_text())
            if isinstance(data, list) and len(data) == self.pool_size:
                return data
        except (OSError, ValueError):
            pass
        from faker import Faker

        faker = Faker(self.locale)
        faker.seed_instance(int.from_bytes(derive_key(self._secret, f"pool:{kind}:{self.locale}")[:8], "big"))
        make = FAKE_KINDS[kind]
        # single-line, no tabs or backslashes: fakes never need COPY escaping (see Rule.copy_safe)
        pool = [_COPY_UNSAFE.sub(" ", str(make(faker))) for _ in range(self.pool_size)]
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(pool))
            os.replace(tmp, cached)
        except OSError:
            pass  # a read-only home only costs time
        return pool

    def kinds_for(self, kind: str) -> tuple[str, ...]:
        return _COMPOSED.get(kind, () if kind == "uuid" else (kind,))

    def prepare(self, rules: list[Rule]) -> None:
        """Build every pool the rules need now (before worker processes fork and share them)."""
        if rules:
            importlib.import_module("pandas.util")  # imported once, before workers fork and share it
        for rule in rules:
            if rule.strategy == "fake" and rule.kind:
                for k in self.kinds_for(rule.kind):
                    self.pool(k)
                if rule.kind not in self._gens:  # compiled once, before workers fork and share it
                    self._gens[rule.kind] = self.generator(rule.kind)
            if rule.strategy == "scrub":
                for kind in [k for k, _ in SCRUB_PATTERNS] + ["name"]:
                    for k in self.kinds_for(kind):
                        self.pool(k)
                    if kind not in self._gens:
                        self._gens[kind] = self.generator(kind)
            self.prepare(list(rule.paths.values()))
            default = rule.options.get("default")
            if isinstance(default, Rule):
                self.prepare([default])

    def digest(self, kind: str, value: str) -> bytes:
        return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), key=self.key(kind),
                               digest_size=16).digest()

    # values ------------------------------------------------------------------------------

    def fake(self, kind: str, value: str) -> str:
        return self.fakes(kind)([value])[0]

    def fakes(self, kind: str) -> Callable[[list[str]], list[str]]:
        """The function values -> fakes for one kind, built once (see generator)."""
        gen = self._gens.get(kind)
        if gen is None:
            gen = self._gens[kind] = self.generator(kind)
        return gen

    def generator(self, kind: str) -> Callable[[list[str]], list[str]]:
        """A function from a list of values to their fakes of one kind (pools, keys and shape bound once).

        Every fake is a pure function of the value and the secret: keyed 64-bit hashes of the
        value (see keyed_hashes) pick pool entries and fill digits and tags. A list is hashed in
        one call; a single value costs a list of one, with the same result.
        """
        key1 = _sip_key(self._secret, f"fake:{kind}:1")
        key2 = _sip_key(self._secret, f"fake:{kind}:2")  # a second, independent 64 bits where needed

        if kind == "uuid":
            def many(values: list[str]) -> list[str]:
                return [str(_uuid.UUID(int=(a << 64) | b, version=4))
                        for a, b in zip(keyed_hashes(values, key1), keyed_hashes(values, key2))]
        elif kind in _COMPOSED:
            pools = [self.pool(k) for k in _COMPOSED[kind]]
            if kind in ("email", "username", "url"):
                pools = [[_ascii(v) for v in p] for p in pools]
            (p0, p1, *rest) = pools
            n0, n1 = len(p0), len(p1)
            p2 = rest[0] if rest else None

            if kind == "name":
                def many(values: list[str]) -> list[str]:
                    return [f"{p0[a % n0]} {p1[(a >> 21) % n1]}" for a in keyed_hashes(values, key1)]
            elif kind == "address":
                n2 = len(p2)

                def many(values: list[str]) -> list[str]:
                    return [f"{p0[a % n0]}, {p1[(a >> 21) % n1]}, {p2[(a >> 42) % n2]}"
                            for a in keyed_hashes(values, key1)]
            elif kind == "email":
                tlds = ("com", "net", "org")

                def many(values: list[str]) -> list[str]:
                    # 64 bits of tag on top of the picks: collision-free on unique columns
                    return [f"{p0[a % n0]}.{p1[(a >> 21) % n1]}.{b:016x}@example.{tlds[a % 3]}"
                            for a, b in zip(keyed_hashes(values, key1), keyed_hashes(values, key2))]
            elif kind == "username":
                def many(values: list[str]) -> list[str]:
                    return [f"{p0[a % n0][:1]}{p1[(a >> 21) % n1]}_{b:016x}"
                            for a, b in zip(keyed_hashes(values, key1), keyed_hashes(values, key2))]
            else:  # url
                def many(values: list[str]) -> list[str]:
                    return [f"https://{p0[a % n0]}-{p1[(a >> 21) % n1]}.example.com/{b:016x}"
                            for a, b in zip(keyed_hashes(values, key1), keyed_hashes(values, key2))]
        elif kind in _DIGITS_FROM_HASH:
            shapes: dict[str, tuple[Callable[[str], str], int]] = {}  # a locale has a few dozen shapes
            compiled = [shapes.get(k) or shapes.setdefault(k, _digit_filler(v))
                        for v, k in ((v, _shape_key(v)) for v in self.pool(kind))]
            fillers = [fill for fill, _ in compiled]
            wide = [count > 20 for _, count in compiled]  # shapes that need more than 20 digits
            nt = len(fillers)

            def one(shape: int, digits: str) -> str:
                return fillers[shape](digits + digits if wide[shape] else digits)

            def many(values: list[str]) -> list[str]:
                # the first hash picks the locale's shape, the second gives the digits
                return [one(a % nt, f"{b:020d}") for a, b in zip(keyed_hashes(values, key1), keyed_hashes(values, key2))]
        else:
            pool = self.pool(kind)
            npool = len(pool)

            def many(values: list[str]) -> list[str]:
                return [pool[a % npool] for a in keyed_hashes(values, key1)]

        return many

    def hashes(self, ctype: ColumnType, length: int) -> Callable[[list[str]], list[str]]:
        """The ``hash`` strategy for a list of values: keyed SipHash-2-4 as hex text (``length``
        characters, 8 to 32), or as a positive number that fits an integer column."""
        key1 = _sip_key(self._secret, "hash:1")
        if ctype.numeric_bits:
            top = 2 ** (ctype.numeric_bits - 1) - 1
            return lambda values: [str(a % top + 1) for a in keyed_hashes(values, key1)]
        key2 = _sip_key(self._secret, "hash:2")
        n = max(8, min(length, 32))
        return lambda values: [f"{a:016x}{b:016x}"[:n]
                               for a, b in zip(keyed_hashes(values, key1), keyed_hashes(values, key2))]

    def shift_date(self, value: str, days: int) -> str:
        if len(value) < 10 or not value[:4].isdigit():
            return value  # infinity, BC dates: left alone
        try:
            base = _dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
        n = int.from_bytes(self.digest("shift_date", value)[:4], "big")
        offset = n % (2 * days + 1) - days or (1 if days else 0)
        try:
            moved = base + _dt.timedelta(days=offset)
        except OverflowError:
            return value
        return moved.isoformat() + value[10:]

    def scrub(self, text: str) -> str:
        for kind, pattern in SCRUB_PATTERNS:
            if kind == "email" and "@" not in text:
                continue
            text = pattern.sub(lambda m, k=kind: self.fake(k, m.group(0)), text)
        spans = find_name_pairs(text)  # after the patterns: their fakes hold no capitalized pairs
        if spans:
            fake = self.fakes("name")
            out, pos = [], 0
            for a, b in spans:
                out.append(text[pos:a])
                out.append(fake([text[a:b]])[0])
                pos = b
            out.append(text[pos:])
            text = "".join(out)
        if self.dictionary is not None:  # last: what patterns and name pairs did not find
            text = self.dictionary.clean(text)
        return text

    # compiling rules ---------------------------------------------------------------------

    def compile(self, rule: Rule, ctype: ColumnType = ColumnType(), *,
                on_original: Callable[[str], None] | None = None,
                on_kept: Callable[[str], None] | None = None) -> Callable[[str], str | None]:
        """A function from one decoded value (never NULL) to its replacement (None = NULL).

        ``on_original`` is told every original value a json rule replaced inside a document;
        ``on_kept`` is told, for every document, the JSON text of what could still hold source
        values (the whole output, or, for top-level key rules, the document without the keys
        whose values rehearse made up): what the leak scan must read.
        """
        if rule.strategy == "json":
            return self._compile_json(rule, on_original, on_kept)
        fn = self._compile_scalar(rule, ctype)
        if ctype.is_array and rule.strategy not in ("null", "json"):
            inner = fn

            def fn(text: str) -> str | None:  # type: ignore[no-redef]
                return format_array(map_array(parse_array(text), inner))

        return fn

    def compile_many(self, rule: Rule, ctype: ColumnType = ColumnType()) -> Callable[[list[str]], list[str | None]]:
        """compile() for a whole list of values at once (scalar, non-json rules): a fake hashes
        the list in one call; other strategies map their scalar function."""
        if rule.strategy == "hash" and not ctype.is_array:
            return self._hash_many(rule, ctype)
        if rule.strategy == "fake" and not ctype.is_array:
            kind = rule.kind or "text"
            many = self.fakes(kind)
            if not ctype.max_length:
                return many
            fit = self._fit(lambda v: v, ctype.max_length, kind)
            return lambda values: [fit(v) for v in many(values)]
        fn = self.compile(rule, ctype)
        return lambda values: [fn(v) for v in values]

    def _hash_many(self, rule: Rule, ctype: ColumnType) -> Callable[[list[str]], list[str]]:
        length = int(rule.options.get("length", 16 if not ctype.unique else 32))
        if ctype.max_length:
            length = min(length, ctype.max_length)
        return self.hashes(ctype, length)

    def _compile_scalar(self, rule: Rule, ctype: ColumnType) -> Callable[[str], str | None]:
        s = rule.strategy
        limit = ctype.max_length
        opts = rule.options
        if s == "keep":
            return lambda v: v
        if s == "null":
            return lambda v: None
        if s == "constant":
            const = str(opts.get("value", ""))
            return lambda v: const
        if s == "hash":
            many = self._hash_many(rule, ctype)
            return lambda v: many([v])[0]
        if s == "mask":
            first = int(opts.get("keep_first", 0))
            last = int(opts.get("keep_last", 4))
            ch = str(opts.get("char", "*"))[:1] or "*"

            def mask(v: str) -> str:
                if len(v) <= first + last:
                    return ch * len(v)
                return v[:first] + ch * (len(v) - first - last) + (v[len(v) - last:] if last else "")

            return mask
        if s == "shift_date":
            days = int(opts.get("days", 30))
            return lambda v: self.shift_date(v, days)
        if s == "scrub":
            return self._fit(self.scrub, limit, None)
        if s == "fake":
            kind = rule.kind or "text"
            many = self.fakes(kind)
            return self._fit(lambda v: many([v])[0], limit, kind)
        if s == "json":
            return self._compile_json(rule)
        raise ValueError(f"unknown strategy {s!r}")

    def _fit(self, fn: Callable[[str], str], limit: int | None, kind: str | None) -> Callable[[str], str]:
        """Make values fit varchar(n)/char(n); unique kinds keep their hash tag, trimming the pool part."""
        if not limit:
            return fn
        if kind == "email":
            def fit_email(v: str) -> str:
                out = fn(v)
                if len(out) <= limit:
                    return out
                local, domain = out.rsplit("@", 1)
                name, tag = local.rsplit(".", 1)
                room = limit - len(domain) - len(tag) - 2
                if room >= 1:
                    return f"{name[:room]}.{tag}@{domain}"
                return out[-limit:]
            return fit_email
        if kind in ("username", "url"):
            def fit_tagged(v: str) -> str:
                out = fn(v)
                return out if len(out) <= limit else out[len(out) - limit:]
            return fit_tagged

        def fit(v: str) -> str:
            out = fn(v)
            return out if len(out) <= limit else out[:limit]

        return fit

    def _compile_json(self, rule: Rule, on_original: Callable[[str], None] | None = None,
                      on_kept: Callable[[str], None] | None = None) -> Callable[[str], str | None]:
        """A json/jsonb document transformer; ``on_original`` hears every leaf value a rule replaced."""
        simple: list[tuple[str, Callable[[Any], Any]]] = []  # "$.key": the common case, no walking
        walked: list[tuple[tuple[str, ...], Callable[[Any], Any]]] = []
        patterns = []
        for path, sub in rule.paths.items():
            tokens = parse_json_path(path)
            leaf = self._json_leaf(sub, on_original if sub.leak_checked else None)
            patterns.append((tokens, leaf))
            if len(tokens) == 1 and tokens[0] not in ("*", "**") and not tokens[0].startswith("["):
                simple.append((tokens[0], leaf))
            else:
                walked.append((tokens, leaf))
        default = rule.options.get("default")
        default_leaf = None
        if isinstance(default, Rule) and default.strategy != "keep":
            default_leaf = self._json_leaf(default, on_original if default.leak_checked else None)
        loads, dumps = _json_codec()
        # keys whose whole value rehearse makes up (not mask/scrub/shift_date, which keep a part)
        made_up = frozenset(tokens[0] for tokens, _ in patterns
                            if len(tokens) == 1 and rule.paths[next(p for p in rule.paths
                                                                     if parse_json_path(p) == tokens)].strategy
                            in ("fake", "hash", "constant", "null"))

        def transform(text: str) -> str | None:
            try:
                doc = loads(text)
            except ValueError:
                if on_kept is not None:
                    on_kept(text)
                return text
            if default_leaf is not None:  # every leaf: the first matching path's rule, else the default
                out = dumps(_walk_all(doc, [], patterns, default_leaf))
                if on_kept is not None:
                    on_kept(out)
                return out
            if simple and type(doc) is dict:
                for key, leaf in simple:
                    if key in doc:
                        v = doc[key]
                        doc[key] = _apply_leaves(v, leaf) if isinstance(v, (dict, list)) else leaf(v)
            for tokens, leaf in walked:
                doc = _walk_json(doc, tokens, leaf)
            out = dumps(doc)
            if on_kept is not None:
                if not walked and type(doc) is dict:
                    kept = {k: v for k, v in doc.items() if k not in made_up}
                    if kept:
                        on_kept(dumps(kept))
                else:
                    on_kept(out)
            return out

        return transform

    def compile_json_split(self, rule: Rule, on_original: Callable[[str], None] | None = None,
                           on_kept: Callable[[str], None] | None = None
                           ) -> Callable[[list[str | None], list[list[str | None]]], list[str | None]]:
        """The json transform for a batch of documents PostgreSQL already split (see json_top_keys).

        The returned function takes, for a batch of rows, ``rests`` (jsonb text of each document
        without the rule's keys; None: a NULL document) and, per key in json_top_keys order, a
        column of that key's values as JSON text (None: the key is absent), and returns the
        documents' text. Only the extracted values are parsed, column by column: the rest is
        spliced back as text, so a big document costs no more than its anonymized keys. Same
        values, originals and kept text as compile() would give (jsonb restores key order). A
        ``rest`` that is not an object (an array or scalar document) goes through compile().
        """
        keys = json_top_keys(rule)
        if keys is None:
            raise ValueError("compile_json_split needs a json rule on top-level keys only")
        whole = self._compile_json(rule, on_original, on_kept)
        loads, dumps = _json_codec()
        by_key = {parse_json_path(p)[0]: sub for p, sub in rule.paths.items()}
        prefixes, value_columns, made_up = [], [], []
        for key in keys:
            sub = by_key[key]
            record = on_original if sub.leak_checked else None
            leaf = self._json_leaf(sub, record)
            # a string value in, a string out: the scalar rule, with no JSON round trip
            many = None if sub.strategy in ("keep", "null", "json") else self.compile_many(sub)
            prefixes.append(dumps(key) + ": ")
            value_columns.append(_value_column(leaf, many, record, loads, dumps))
            made_up.append(sub.strategy in ("fake", "hash", "constant", "null"))
        all_made_up = all(made_up)

        def transform(rests: list[str | None], values: list[list[str | None]]) -> list[str | None]:
            # each key's values, column by column; then "key": value pairs row by row
            pairs = [[None if r is None else prefix + r for r in column(texts)]
                     for prefix, column, texts in zip(prefixes, value_columns, values)]
            out: list[str | None] = []
            append = out.append
            if all_made_up:  # what may still hold source values is the rest alone
                if on_kept is not None:
                    for rest in set(rests):  # recorded once per distinct text: the scan compares sets
                        if rest is not None and rest != "{}" and rest[0] == "{":
                            on_kept(rest)
                for rest, joined in zip(rests, map(", ".join, map(functools.partial(filter, None), zip(*pairs)))):
                    if rest is None:
                        append(None)
                    elif rest[0] != "{":
                        append(whole(rest))
                    elif not joined:
                        append(rest)
                    else:
                        append("{" + joined + ("}" if rest == "{}" else ", " + rest[1:]))
                return out
            for rest, *row in zip(rests, *pairs):
                if rest is None:
                    append(None)
                elif rest[0] != "{":
                    append(whole(rest))
                else:
                    kept = [p for p, made in zip(row, made_up) if p is not None and not made]
                    if on_kept is not None:
                        text = _splice(rest, kept)
                        if text != "{}":
                            on_kept(text)
                    append(_splice(rest, kept + [p for p, made in zip(row, made_up) if p is not None and made]))
            return out

        return transform

    def _json_leaf(self, rule: Rule, on_original: Callable[[str], None] | None = None) -> Callable[[Any], Any]:
        if rule.strategy == "keep":
            return lambda v: v
        scalar = (lambda v: None) if rule.strategy == "null" else self._compile_scalar(rule, ColumnType())
        numbers_too = rule.strategy in ("constant", "hash", "null")

        def leaf(v: Any) -> Any:
            if v is None or v is True or v is False:
                return v
            if type(v) is not str:
                if not numbers_too or not isinstance(v, (int, float)):
                    return v
                v = str(v)
            out = scalar(v)
            if on_original is not None and out != v:
                on_original(v)
            return out

        return leaf


def json_top_keys(rule: Rule) -> tuple[str, ...] | None:
    """The keys of a json rule whose paths are all plain top-level keys ($.key) and that has no
    default rule, in path order; None when the document must be walked (compile())."""
    if rule.strategy != "json" or not rule.paths:
        return None
    default = rule.options.get("default")
    if isinstance(default, Rule) and default.strategy != "keep":
        return None
    keys: list[str] = []
    for path in rule.paths:
        try:
            tokens = parse_json_path(path)
        except ValueError:
            return None
        if len(tokens) != 1 or tokens[0] in ("*", "**") or tokens[0].startswith("[") or tokens[0] in keys:
            return None
        keys.append(tokens[0])
    return tuple(keys)


def _splice(rest: str, pairs: list[str]) -> str:
    """Put ``"key": value`` pairs into the text of a JSON object (jsonb normalises key order)."""
    if not pairs:
        return rest
    if rest == "{}":
        return "{" + ", ".join(pairs) + "}"
    return "{" + ", ".join(pairs) + ", " + rest[1:]


def _value_column(leaf: Callable[[Any], Any], many: Callable[[list[str]], list[str | None]] | None,
                  on_original: Callable[[str], None] | None, loads: Callable[[str], Any],
                  dumps: Callable[[Any], str], size: int = 16_384) -> Callable[[list[str | None]], list[str | None]]:
    """A column of extracted values as JSON text (None: key absent) -> their replacements' JSON text.

    Plain string values (the common case) are replaced all at once through ``many`` (when the
    rule has one) without a JSON round trip; anything else goes through ``leaf`` on the parsed
    value. A bounded memo skips repeats (flat memory; a repeat adds nothing to the leak scan,
    which compares sets)."""
    memo: dict[str, str] = {}
    get = memo.get

    def other(text: str) -> str:
        if text[0] == '"' and "\\" not in text:
            return dumps(leaf(text[1:-1]))
        try:
            v = loads(text)
        except ValueError:
            return text
        return dumps(_apply_leaves(v, leaf) if isinstance(v, (dict, list)) else leaf(v))

    def column(texts: list[str | None]) -> list[str | None]:
        out: list[str | None] = []
        append = out.append
        todo: list[int] = []  # positions of plain strings not seen lately
        for text in texts:
            if text is None:
                append(None)
                continue
            r = get(text)
            if r is None:
                if many is not None and text[0] == '"' and "\\" not in text:  # its text is its value
                    todo.append(len(out))
                else:
                    r = other(text)
                    memo[text] = r
            append(r)
        if todo:
            values = [texts[i][1:-1] for i in todo]
            for i, v, s in zip(todo, values, many(values)):
                if on_original is not None and s != v:
                    on_original(v)
                r = "null" if s is None else f'"{s}"' if '"' not in s and "\\" not in s and s.isprintable() else dumps(s)
                out[i] = memo[texts[i]] = r
        if len(memo) >= size:
            memo.clear()
        return out

    return column


def _json_codec() -> tuple[Callable[[str], Any], Callable[[Any], str]]:
    """orjson when installed (5x faster on jsonb columns), else the standard library."""
    try:
        import orjson
    except ImportError:
        return json.loads, lambda doc: json.dumps(doc, ensure_ascii=False)
    return orjson.loads, lambda doc: orjson.dumps(doc).decode()


def json_leaf_strings(doc: Any, path: tuple[str, ...]) -> list[str]:
    """The string/number leaves a JSON path reaches (for the leak scan's originals)."""
    found: list[str] = []

    def grab(v: Any) -> Any:
        if isinstance(v, str):
            found.append(v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            found.append(str(v))
        return v

    _walk_json(doc, path, grab)
    return found
