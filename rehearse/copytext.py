"""PostgreSQL's text formats as COPY writes them: field escapes and array literals.

Shared by the snapshot (which streams COPY text without loading a table) and the anonymizer
(which rewrites fields and array elements): neither owns the format, both speak it.
"""

from __future__ import annotations

import re
from typing import Callable

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

