"""Inline ignore comments: which rules a statement (or a whole file) asks not to be reported.

Written in SQL comments (``-- rehearse-ignore: RH101, ban-drop-column`` just above or on the
statement, ``-- rehearse-ignore-file`` anywhere for the whole file) or, in an Alembic
revision, as a Python comment on the ``op.`` call or just above it. Squawk's comments
(``-- squawk-ignore rule-name``, ``-- squawk-ignore-file``) are honoured too, so a project
moving from Squawk keeps its accepted exceptions: their rule names map to rehearse codes
through each rule's ``references``.

A directive without codes ignores every rule; an unknown code is kept as written and simply
matches nothing (a typo must not silence everything).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ALL = "*"

_DIRECTIVE = re.compile(
    r"(?P<tool>rehearse|squawk)-ignore(?P<file>-file)?\b(?P<rest>[^\n]*)", re.IGNORECASE)
_CODE = re.compile(r"[A-Za-z][\w-]*")


@dataclass
class Ignores:
    """Rule codes to drop (``ALL`` for every rule)."""

    statement: set[str] = field(default_factory=set)
    file: set[str] = field(default_factory=set)

    def covers(self, code: str) -> bool:
        return bool({ALL, code} & (self.statement | self.file))


def directives(text: str) -> list[tuple[bool, set[str]]]:
    """(is_file_wide, codes) for each ignore directive in comment text."""
    out = []
    for match in _DIRECTIVE.finditer(text):
        rest = match["rest"].split("--")[0].split("*/")[0].lstrip(" :")
        words = [w for w in _CODE.findall(rest)]
        squawk = match["tool"].lower() == "squawk"
        codes = set().union(*(resolve(w, squawk=squawk) for w in words)) if words else {ALL}
        out.append((bool(match["file"]), codes))
    return out


def resolve(word: str, *, squawk: bool = False) -> set[str]:
    """Rehearse codes for RH101, a rehearse rule name or (in a squawk comment) a Squawk rule name."""
    from .base import all_rules

    key = word.strip().lower()
    for rule in all_rules():
        if rule.code.lower() == key or rule.name == key:
            return {rule.code}
    if squawk and key in squawk_codes():
        return squawk_codes()[key]
    return {word}  # unknown: matches nothing


def squawk_codes() -> dict[str, set[str]]:
    """Squawk rule name -> rehearse codes that cover it (from each rule's references)."""
    from .base import all_rules

    out: dict[str, set[str]] = {}
    for rule in all_rules():
        for ref in rule.references:
            if ref.startswith("squawk:"):
                name = ref.removeprefix("squawk:").strip().split()[0]
                out.setdefault(name, set()).add(rule.code)
    return out
