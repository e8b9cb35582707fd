"""JSON paths of a policy ($.a.b[*].c, *, **) and walking documents along them."""

from __future__ import annotations

import re
from typing import Any, Callable

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
