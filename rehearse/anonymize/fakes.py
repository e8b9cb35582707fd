"""Keyed, deterministic value transforms: one secret turns each personal value into the same fake everywhere.

Every fake is chosen by keyed hashes of the original value (SipHash-2-4, a pseudo-random function
built for short inputs, with per-kind keys derived from the secret by HMAC-SHA256; see
keyed_hashes) into a pool of values Faker generated once, seeded from the secret. Values are
hashed a list at a time, in C: no per-value Python hashing object on the hot path. So the same input gives the same output across tables, columns and runs, a different
secret gives unrelated output, and nobody without the secret can go back from fake to original.
Kinds that must stay unique (email, username, uuid, url, hash) carry 64 bits of the keyed hash in
the value itself, so two different inputs collide only with probability ~n^2/2^65.

Free text is scrubbed here too: patterns (e-mails, phones, cards, IBANs, national ids, IPs),
then "First Last" name pairs, then the pull's value dictionary (dictionary.py).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import importlib
import json
import re
import uuid as _uuid

import numpy as np
from typing import Callable

from ..copytext import _COPY_UNSAFE
from ..policytypes import ColumnType, Rule
from .keyed import _fast, _sip_key, dec20, dec20_digits, derive_key, hex16, keyed_arrays, keyed_hashes, picks
from .names import find_name_pairs

POOL_SIZE = 5_000

# person-like kinds are built from two pools (first x last names: 25M combinations) so pools
# stay small enough to generate in a second; phones and national ids take their digits from the
# keyed hash, their shape from a pooled Faker value
_COMPOSED = {"name": ("first_name", "last_name"), "email": ("first_name", "last_name"),
             "username": ("first_name", "last_name"), "address": ("street", "city", "postcode"),
             "url": ("word", "word")}
_DIGITS_FROM_HASH = frozenset({"phone", "ssn"})

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


SCRUB_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")),
    ("credit_card", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("phone", re.compile(r"(?<![\w.])\+?\d{1,3}?[ .-]?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?:\s?x\d{1,5})?(?![\w])")),
    ("ipv4", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
)



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


_PROBE = "".join(chr(0xE000 + k) for k in range(20))  # 20 private-use characters: digit k is chr(0xE000 + k)


def _digit_layouts(fills: list[Callable[[str], str]]):
    """Per pool entry, its layout's number; each layout as (characters, digit slots, which digit
    fills each slot), read off what its filler makes of 20 marker characters, so the array path
    gives exactly its strings; and those marked strings themselves (the C path fills them). None
    when a shape holds a marker character itself (never seen)."""
    layouts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    templates: list[str] = []  # what each layout makes of the markers: the C path's input (_fast.fill_digits)
    known: dict[str, int] = {}
    layout_of = []
    for fill in fills:
        made = fill(_PROBE)
        t = known.get(made)
        if t is None:
            if any(0xE014 <= ord(ch) <= 0xF8FF for ch in made):
                return None
            codes = np.array([ord(ch) for ch in made], dtype=np.uint32)
            marked = (codes >= 0xE000) & (codes < 0xE014)
            slots = np.flatnonzero(marked)
            t = known[made] = len(layouts)
            layouts.append((np.where(marked, 0, codes).astype(np.uint32), slots,
                            (codes[slots] - 0xE000).astype(np.intp)))
            templates.append(made)
        layout_of.append(t)
    return np.array(layout_of, dtype=np.intp), layouts, templates


@functools.lru_cache(maxsize=65536)
def _ascii(text: str) -> str:
    import unicodedata

    flat = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _NON_ALNUM.sub("", flat) or "x"


class Fakes:
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
        if rules and _fast is None:  # pandas hashes when the extension is not built (0.16 s to import)
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
        ext = _fast  # the C extension, when built, makes the strings (the same ones)

        if kind == "uuid":
            def many(values: list[str]) -> list[str]:
                return [str(_uuid.UUID(int=(a << 64) | b, version=4))
                        for a, b in zip(keyed_hashes(values, key1), keyed_hashes(values, key2))]
        elif kind in _COMPOSED:
            # the same picks as indexing with Python integers, made with array operations: the
            # pools as object arrays, indexed by uint64 hashes in one call each
            pools = [self.pool(k) for k in _COMPOSED[kind]]
            if kind in ("email", "username", "url"):
                pools = [[_ascii(v) for v in p] for p in pools]
            p0, p1, *rest = (np.array(p, dtype=object) for p in pools)
            n0, n1 = len(p0), len(p1)
            p2 = rest[0] if rest else None

            if kind == "username":
                p0 = np.array([v[:1] for v in p0.tolist()], dtype=object)
            l0, l1, l2 = p0.tolist(), p1.tolist(), p2.tolist() if p2 is not None else None
            if kind == "name":
                def many(values: list[str]) -> list[str]:
                    (a,) = keyed_arrays(values, key1)
                    if ext is not None:
                        return ext.compose(len(values), ((l0, picks(a, n0)), " ", (l1, picks(a, n1, 21))))
                    return [f"{x} {y}" for x, y in zip(p0[picks(a, n0)].tolist(), p1[picks(a, n1, 21)].tolist())]
            elif kind == "address":
                n2 = len(p2)

                def many(values: list[str]) -> list[str]:
                    (a,) = keyed_arrays(values, key1)
                    if ext is not None:
                        return ext.compose(len(values), ((l0, picks(a, n0)), ", ", (l1, picks(a, n1, 21)), ", ",
                                                           (l2, picks(a, n2, 42))))
                    return [f"{x}, {y}, {z}" for x, y, z in zip(p0[picks(a, n0)].tolist(), p1[picks(a, n1, 21)].tolist(),
                                                               p2[picks(a, n2, 42)].tolist())]
            elif kind == "email":
                tlds = np.array(["com", "net", "org"], dtype=object)
                tld_list = tlds.tolist()

                def many(values: list[str]) -> list[str]:
                    # 64 bits of tag on top of the picks: collision-free on unique columns
                    a, b = keyed_arrays(values, key1, key2)
                    if ext is not None:
                        return ext.compose(len(values), ((l0, picks(a, n0)), ".", (l1, picks(a, n1, 21)), ".", b,
                                                           "@example.", (tld_list, picks(a, 3))))
                    return [f"{x}.{y}.{h}@example.{t}" for x, y, h, t in
                            zip(p0[picks(a, n0)].tolist(), p1[picks(a, n1, 21)].tolist(), hex16(b),
                                tlds[picks(a, 3)].tolist())]
            elif kind == "username":
                def many(values: list[str]) -> list[str]:
                    a, b = keyed_arrays(values, key1, key2)
                    if ext is not None:
                        return ext.compose(len(values), ((l0, picks(a, n0)), (l1, picks(a, n1, 21)), "_", b))
                    return [f"{x}{y}_{h}" for x, y, h in zip(p0[picks(a, n0)].tolist(), p1[picks(a, n1, 21)].tolist(),
                                                            hex16(b))]
            else:  # url
                def many(values: list[str]) -> list[str]:
                    a, b = keyed_arrays(values, key1, key2)
                    if ext is not None:
                        return ext.compose(len(values), ("https://", (l0, picks(a, n0)), "-", (l1, picks(a, n1, 21)),
                                                           ".example.com/", b))
                    return [f"https://{x}-{y}.example.com/{h}" for x, y, h in
                            zip(p0[picks(a, n0)].tolist(), p1[picks(a, n1, 21)].tolist(), hex16(b))]
        elif kind in _DIGITS_FROM_HASH:
            shapes: dict[str, tuple[Callable[[str], str], int]] = {}  # a locale has a few dozen shapes
            compiled = [shapes.get(k) or shapes.setdefault(k, _digit_filler(v))
                        for v, k in ((v, _shape_key(v)) for v in self.pool(kind))]
            # wide shapes (more than 20 digits) take the 20 digits twice
            fills = [(lambda d, f=fill: f(d + d)) if count > 20 else fill for fill, count in compiled]
            fillers = np.array(fills, dtype=object)
            nt = len(fillers)
            laid = _digit_layouts(fills)

            if laid is None:
                def many(values: list[str]) -> list[str]:
                    # the first hash picks the locale's shape, the second gives the digits
                    a, b = keyed_arrays(values, key1, key2)
                    return [fill(d) for fill, d in zip(fillers[picks(a, nt)].tolist(), dec20(b))]
            elif ext is not None:
                layout_of, templates = laid[0], laid[2]

                def many(values: list[str]) -> list[str]:
                    # the same strings, made in C: each value's shape with its digit markers filled
                    a, b = keyed_arrays(values, key1, key2)
                    return ext.fill_digits(templates, layout_of[picks(a, nt)], b)
            else:
                layout_of, layouts = laid[0], laid[1]

                def many(values: list[str]) -> list[str]:
                    # the same strings, made a shape at a time with array operations: each shape's
                    # characters laid out once, the digits copied into their places for all its values
                    a, b = keyed_arrays(values, key1, key2)
                    which = layout_of[picks(a, nt)]
                    digits = dec20_digits(b)
                    out = np.empty(len(values), dtype=object)
                    for t in np.unique(which).tolist():
                        rows = np.flatnonzero(which == t)
                        chars, slots, sources = layouts[t]
                        if not len(chars):
                            out[rows] = ""
                            continue
                        grid = np.empty((len(rows), len(chars)), dtype=np.uint32)
                        grid[:] = chars
                        if len(slots):
                            grid[:, slots] = digits[rows[:, None], sources]
                        out[rows] = grid.view(f"<U{len(chars)}").ravel()
                    return out.tolist()
        else:
            pool = np.array(self.pool(kind), dtype=object)
            npool = len(pool)

            def many(values: list[str]) -> list[str]:
                (a,) = keyed_arrays(values, key1)
                return pool[picks(a, npool)].tolist()

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

        def many(values: list[str]) -> list[str]:
            a, b = keyed_arrays(values, key1, key2)
            if n <= 16:
                return [h[:n] for h in hex16(a)]
            return [(x + y)[:n] for x, y in zip(hex16(a), hex16(b))]

        return many

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
