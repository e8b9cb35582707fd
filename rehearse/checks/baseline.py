"""Baseline: findings a team has reviewed and accepted, matched by code and revision."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import BadInput
from ..model import Finding


@dataclasses.dataclass(frozen=True)
class Accepted:
    code: str  # rule code or name
    revision: str | None  # None or "*": any revision
    reason: str


def load_baseline(path: str | Path) -> list[Accepted]:
    """Read a baseline YAML file: ``accepted: [{code, revision, reason}]`` (or a bare list)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise BadInput(f"baseline file {path} does not exist", hint="create it or drop --baseline") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"baseline file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    entries = data.get("accepted", []) if isinstance(data, Mapping) else data
    if not isinstance(entries, list):
        raise BadInput(f"{path}: 'accepted' must be a list", hint="write accepted: [{code: RH101, revision: abc, reason: ...}]")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not entry.get("code") or not entry.get("reason"):
            raise BadInput(f"{path}: entry {i + 1} needs a code and a reason",
                           hint="write {code: RH101, revision: abc123, reason: why this is fine}")
        rev = entry.get("revision")
        out.append(Accepted(str(entry["code"]), None if rev in (None, "*") else str(rev), str(entry["reason"])))
    return out


def apply_baseline(findings: Iterable[Finding], baseline: Iterable[Accepted | Mapping[str, Any]]) -> list[Finding]:
    """Findings with ``accepted`` set to the reason of the first matching baseline entry."""
    entries = [b if isinstance(b, Accepted) else Accepted(str(b["code"]), b.get("revision"), str(b["reason"]))
               for b in baseline]
    out = []
    for f in findings:
        reason = next((e.reason for e in entries
                       if e.code.lower() in (f.code.lower(), f.name)
                       and (e.revision is None or (f.revision or "").startswith(e.revision))), None)
        out.append(dataclasses.replace(f, accepted=reason) if reason else f)
    return out
