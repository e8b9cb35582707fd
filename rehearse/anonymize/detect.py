"""Telling personal data from the rest: by column name, type and a bounded sample of values.

Used by ``rehearse scan`` to write a policy, and by the pull to guard columns the policy does not
cover (non-strict: anonymize what looks personal; strict: refuse). Detectors are deliberately
eager: a false alarm costs one line in the policy, a miss leaks a person.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

from .names import name_evidence
from ..policytypes import Rule

# columns whose name says "a name" of anything: personal only when their values are person names
# (countries, products and work queues have names too, and their joins must keep working)
_AMBIGUOUS = re.compile(r"^(name|title|label|display_?name)$", re.I)

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}(?:\s?x\d{1,5})?$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9 ]{11,30}$")
_SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_IPV4 = re.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:/\d+)?$")
_IPV6 = re.compile(r"^[0-9a-fA-F:]{2,39}(?:/\d+)?$")
_CARD = re.compile(r"^(?:\d[ -]?){12,18}\d$")
_ADDRESS = re.compile(r"^\d+\s+\w+.*\b(?:st|street|ave|avenue|rd|road|blvd|lane|ln|dr|drive|way|court|ct|"
                      r"pl|place|suite|apt|straße|strasse|rue|via)\b", re.I)
_IN_TEXT = (
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    ("phone", re.compile(r"\+?\d{1,3}?[ .-]?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}")),
    ("ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("credit_card", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
)

# (name pattern, fake kind or strategy, why)
_NAMES: tuple[tuple[re.Pattern, str, str], ...] = tuple((re.compile(p, re.I), k, w) for p, k, w in (
    (r"e?mail", "fake:email", "name says email"),
    (r"phone|mobile|tel(ephone)?$|fax|msisdn", "fake:phone", "name says phone number"),
    (r"^(first|given|fore)_?name$", "fake:first_name", "name says first name"),
    (r"^(last|family|sur)_?name$|^surname$", "fake:last_name", "name says last name"),
    (r"^(full_?|display_?|contact_?|customer_?|user_?|person_?)name$", "fake:name", "name says a person's name"),
    (r"^name$", "fake:name", "name says a person's name (no values sampled)"),
    (r"user_?name|login|handle|nick", "fake:username", "name says username"),
    (r"street|address|addr(_?line)?\d?$", "fake:street", "name says street address"),
    (r"^city$|town", "fake:city", "name says city"),
    (r"zip|post(al)?_?code", "fake:postcode", "name says postal code"),
    (r"birth|dob$", "fake:date_of_birth", "name says date of birth"),
    (r"ssn|social_?sec|national_?id|tax_?id|passport|driver", "fake:ssn", "name says national id"),
    (r"iban|account_?(number|no)|bank_?account", "fake:iban", "name says bank account"),
    (r"card_?(number|no)|^pan$|cc_?num", "fake:credit_card", "name says card number"),
    (r"(^|_)ip(_?addr(ess)?)?$|remote_addr", "fake:ipv4", "name says IP address"),
    (r"password|passwd|secret|token|api_?key|salt", "hash", "name says credential"),
    (r"note|comment|bio$|about|description|message|body|remark", "scrub", "free text may quote personal data"),
))


@dataclass(frozen=True)
class Verdict:
    """What a column looks like: the rule to give it and why; personal=False means keep."""

    rule: Rule
    why: str
    personal: bool


def _luhn(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if alt:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        alt = not alt
    return total % 10 == 0


def value_kind(value: str) -> str | None:
    """The personal kind one value looks like, or None."""
    v = value.strip()
    if not v or len(v) > 200:
        return None
    if "@" in v and _EMAIL.match(v):
        return "email"
    if _SSN.match(v):
        return "ssn"
    if _IBAN.match(v.replace(" ", "")) and len(v.replace(" ", "")) >= 15:
        return "iban"
    if _CARD.match(v):
        digits = re.sub(r"\D", "", v)
        if 13 <= len(digits) <= 19 and _luhn(digits):
            return "credit_card"
    if _IPV4.match(v):
        return "ipv4"
    if ":" in v and v.count(":") >= 2 and _IPV6.match(v):
        return "ipv6"
    if _PHONE.match(v) and 7 <= sum(c.isdigit() for c in v) <= 15 and not v.isdigit() and not re.match(r"^\d{4}-\d{2}-\d{2}", v):
        return "phone"
    if _ADDRESS.match(v):
        return "street"
    return None


def text_kinds(value: str) -> set[str]:
    """Personal kinds quoted inside free text."""
    return {kind for kind, pattern in _IN_TEXT if pattern.search(value)}


def _majority(values: list[str], threshold: float = 0.5) -> str | None:
    counts: dict[str, int] = {}
    for v in values:
        k = value_kind(v)
        if k:
            counts[k] = counts.get(k, 0) + 1
    if not counts or not values:
        return None
    kind, n = max(counts.items(), key=lambda kv: kv[1])
    return kind if n / len(values) >= threshold else None


def json_paths(samples: Iterable[str]) -> dict[str, tuple[str, str]]:
    """JSON path -> (rule label, why) for string leaves that look personal in sampled documents."""
    leaves: dict[str, list[str]] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                key = k if re.match(r"^[A-Za-z_][\w]*$", k) else None
                walk(v, f"{path}.{key}" if key else f"{path}[\"{k}\"]")
        elif isinstance(node, list):
            for v in node:
                walk(v, f"{path}[*]")
        elif isinstance(node, (str, int, float)) and not isinstance(node, bool):
            leaves.setdefault(path, []).append(str(node))

    for text in samples:
        try:
            walk(json.loads(text), "$")
        except ValueError:
            continue
    found: dict[str, tuple[str, str]] = {}
    for path, values in leaves.items():
        leaf = path.rsplit(".", 1)[-1].rstrip("[*]")
        kind = _majority(values, 0.3)
        if kind:
            found[path] = (f"fake:{kind}", f"values look like {kind}")
            continue
        evidence = name_evidence(v for v in values if not v.replace(".", "").isdigit())
        if evidence.kind is not None:
            found[path] = (f"fake:{evidence.kind}", evidence.describe())
            continue
        if _AMBIGUOUS.match(leaf) and evidence.total:
            continue  # the name of a thing, not of a person
        for pattern, label, why in _NAMES:
            if pattern.search(leaf) and any(not v.replace(".", "").isdigit() for v in values):
                found[path] = (label, why)
                break
        else:
            if any(text_kinds(v) for v in values if " " in v):
                found[path] = ("scrub", "free text quoting personal data")
    return found


def classify(name: str, type_name: str, category: str, samples: list[str], *,
             is_json: bool = False, is_array: bool = False) -> Verdict:
    """Look at one column and say what to do with it."""
    if is_json:
        paths = json_paths(samples)
        if paths:
            rule = Rule("json", paths={p: _label_rule(lbl) for p, (lbl, _) in paths.items()},
                        origin="auto", why="JSON holds " + ", ".join(sorted({w for _, w in paths.values()})))
            return Verdict(rule, rule.why or "", True)
        return Verdict(Rule("keep", origin="auto"), "no personal values found in sampled JSON", False)
    if category not in ("S", "I", "D", "A") and not is_array:
        return Verdict(Rule("keep", origin="auto"), f"{type_name}: not text", False)
    values = [v for v in samples if v is not None]
    if is_array:
        from ..copytext import parse_array

        flat: list[str] = []
        for v in values:
            try:
                flat.extend(x for x in _flatten(parse_array(v)) if x is not None)
            except (IndexError, AssertionError, ValueError):
                continue
        values = flat
    kind = _majority(values) if values else None
    if category == "I" and kind not in ("ipv4", "ipv6"):
        kind = "ipv4"  # inet/cidr columns hold addresses by definition
    if kind:
        return Verdict(_label_rule(f"fake:{kind}", why=f"sampled values look like {kind}"),
                       f"sampled values look like {kind}", True)
    if values and category == "S":
        evidence = name_evidence(values)
        if evidence.kind is not None:
            why = evidence.describe()
            return Verdict(_label_rule(f"fake:{evidence.kind}", why=why), why, True)
        if _AMBIGUOUS.match(name):
            why = (f"not person names: {evidence.describe()}; names of things (countries, products, "
                   f"queues) are kept so joins on them hold")
            return Verdict(Rule("keep", origin="auto", why=why), why, False)
    for pattern, label, why in _NAMES:
        if pattern.search(name):
            if category == "D" and label != "fake:date_of_birth":
                continue
            return Verdict(_label_rule(label, why=why), why, True)
    if values and category == "S":
        with_pii = sum(1 for v in values if text_kinds(v))
        if with_pii and with_pii / len(values) >= 0.02:
            why = "free text quoting " + ", ".join(sorted(set().union(*(text_kinds(v) for v in values))))
            return Verdict(Rule("scrub", origin="auto", why=why), why, True)
    return Verdict(Rule("keep", origin="auto"), "nothing personal found by name or sample", False)


def _flatten(items: list) -> Iterable[Any]:
    for item in items:
        if isinstance(item, list):
            yield from _flatten(item)
        else:
            yield item


def _label_rule(label: str, why: str | None = None) -> Rule:
    if label.startswith("fake:"):
        return Rule("fake", label[5:], origin="auto", why=why)
    return Rule(label, origin="auto", why=why)
