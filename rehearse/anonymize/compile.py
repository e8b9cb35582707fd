"""Compiling a policy's rules into functions over values: what Anonymizer adds to the fakes.

A rule becomes a function from one decoded value to its replacement (compile), or from a list of
values to theirs (compile_many, one hash call per list), or, for jsonb split by the server, from
columns of extracted values to documents (compile_json_split).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable

from ..copytext import format_array, map_array, parse_array
from ..policytypes import ColumnType, Rule
from .fakes import Fakes
from .keyed import _fast
from .jsonpath import _apply_leaves, _walk_all, _walk_json, parse_json_path


class Anonymizer(Fakes):
    """Keyed fakes (see fakes.py) and the rules compiled over them."""

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
                           on_kept: Callable[[str], None] | None = None,
                           on_originals: Callable[[list[str]], None] | None = None
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
            value_columns.append(_value_column(leaf, many, record, loads, dumps, prefix=dumps(key) + ": ",
                                               record_many=on_originals if sub.leak_checked else None))
            made_up.append(sub.strategy in ("fake", "hash", "constant", "null"))
        all_made_up = all(made_up)

        def transform(rests: list[str | None], values: list[list[str | None]]) -> list[str | None]:
            # each key's values, column by column; then "key": value pairs row by row
            pairs = [column(texts) for column, texts in zip(value_columns, values)]
            out: list[str | None] = []
            append = out.append
            if all_made_up:  # what may still hold source values is the rest alone
                if on_kept is not None:
                    for rest in set(rests):  # recorded once per distinct text: the scan compares sets
                        if rest is not None and rest != "{}" and rest[0] == "{":
                            on_kept(rest)
                if _all_objects(rests) and not any(None in p for p in pairs):
                    # the common batch: every document an object that had every key: one pass, no tests
                    if _fast is not None and "{}" not in rests:
                        parts: list = ["{"]
                        for p in pairs:
                            parts += [(p, 0, 0), ", "]
                        return _fast.compose(len(rests), (*parts, (rests, 1, 0)))
                    return [f"{{{j}, {r[1:]}" if r != "{}" else f"{{{j}}}"
                            for j, r in zip(map(", ".join, zip(*pairs)), rests)]
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
                  dumps: Callable[[Any], str], size: int = 16_384, *, prefix: str = "",
                  record_many: Callable[[list[str]], None] | None = None
                  ) -> Callable[[list[str | None]], list[str | None]]:
    """A column of extracted values as JSON text (None: key absent) -> ``prefix`` + their
    replacements' JSON text (None: key absent).

    Plain string values (the common case) are replaced all at once through ``many`` (when the
    rule has one) without a JSON round trip, and their originals go to ``record_many`` in one
    call when given (else to ``on_original`` one by one); anything else goes through ``leaf`` on
    the parsed value. A bounded memo skips repeats (flat memory; a repeat adds nothing to the
    leak scan, which compares sets), and is dropped when a trial shows it rarely hits (unique
    values such as e-mails only pay for it)."""
    memo: dict[str, str] = {}
    seen = [0, 0]  # values looked up, memo hits (the trial)
    use_memo = [True]

    def other(text: str) -> str:
        if text[0] == '"' and "\\" not in text:
            return prefix + dumps(leaf(text[1:-1]))
        try:
            v = loads(text)
        except ValueError:
            return prefix + text
        return prefix + dumps(_apply_leaves(v, leaf) if isinstance(v, (dict, list)) else leaf(v))

    def replaced(values: list[str]) -> list[str]:
        """Plain string values -> ``prefix`` + their replacements' JSON text, originals recorded."""
        made = many(values)
        if record_many is not None:
            record_many(_fast.changed(values, made) if _fast is not None and type(values) is list and type(made) is list
                        else [v for v, s in zip(values, made) if s != v])
        elif on_original is not None:
            for v, s in zip(values, made):
                if s != v:
                    on_original(v)
        if None not in made:
            joined = "".join(made)
            if '"' not in joined and "\\" not in joined and joined.isprintable():
                # fakes from the pools: quoting is all the JSON encoding they need
                if _fast is not None and type(made) is list:
                    return _fast.compose(len(made), (prefix + '"', (made, 0, 0), '"'))
                return [f'{prefix}"{s}"' for s in made]
        return [prefix + ("null" if s is None else f'"{s}"' if '"' not in s and "\\" not in s and s.isprintable()
                          else dumps(s)) for s in made]

    def column(texts: list[str | None]) -> list[str | None]:
        if many is not None and not use_memo[0] and _all_plain_strings(texts):
            # the common batch once the memo is off (unique values): every value a JSON string with
            # nothing to unescape, its text its value: one list in, one list out
            return replaced(_fast.compose(len(texts), ((texts, 1, 1),)) if _fast is not None else
                            [t[1:-1] for t in texts])
        out: list[str | None] = [None] * len(texts)
        todo: list[int] = []  # positions of plain strings not seen lately
        memo_on = use_memo[0]
        get = memo.get
        hits = 0
        for i, text in enumerate(texts):
            if text is None:
                continue
            if memo_on:
                r = get(text)
                if r is not None:
                    out[i] = r
                    hits += 1
                    continue
            if many is not None and text[0] == '"' and "\\" not in text:  # its text is its value
                todo.append(i)
            else:
                out[i] = r = other(text)
                if memo_on:
                    memo[text] = r
        if todo:
            rs = replaced([texts[i][1:-1] for i in todo])
            for i, r in zip(todo, rs):
                out[i] = r
            if memo_on:
                memo.update(zip((texts[i] for i in todo), rs))
        if memo_on:
            seen[0] += len(texts)
            seen[1] += hits
            if seen[0] >= 8_192 and seen[1] < 0.2 * seen[0]:
                use_memo[0] = False
                memo.clear()
        if len(memo) >= size:
            memo.clear()
        return out

    return column


def _all_plain_strings(texts: list[str | None]) -> bool:
    """Whether every text is a JSON string with no escape (``"abc"``), tested in C: joined by NUL
    (which JSON text never holds), every boundary is ``"NUL"``, the ends are quotes and there are
    no other quotes and no backslash."""
    if not texts or None in texts:
        return False
    joined = "\0".join(texts)
    n = len(texts)
    return (joined[0] == '"' and joined[-1] == '"' and "\\" not in joined
            and joined.count('"') == 2 * n and joined.count('"\0"') == n - 1)


def _all_objects(rests: list[str | None]) -> bool:
    """Whether every text is a JSON object's (starts with a brace), tested in C."""
    if not rests or None in rests:
        return False
    joined = "\0".join(rests)
    return joined[0] == "{" and joined.count("\0{") == len(rests) - 1 and joined.count("\0") == len(rests) - 1


def _json_codec() -> tuple[Callable[[str], Any], Callable[[Any], str]]:
    """orjson when installed (5x faster on jsonb columns), else the standard library."""
    try:
        import orjson
    except ImportError:
        return json.loads, lambda doc: json.dumps(doc, ensure_ascii=False)
    return orjson.loads, lambda doc: orjson.dumps(doc).decode()
