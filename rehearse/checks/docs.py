"""Writes docs/rules/: one Markdown page per rule plus an index (`python -m rehearse.checks.docs DIR`)."""

from __future__ import annotations

import sys
from pathlib import Path

from .base import all_rules, render_rule_doc


def write_rule_pages(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    lines = ["# Rules", "", "| code | name | severity | kind | summary |", "|---|---|---|---|---|"]
    for rule in all_rules():
        page = directory / f"{rule.code}.md"
        page.write_text(render_rule_doc(rule))
        written.append(page)
        lines.append(f"| [{rule.code}]({rule.code}.md) | {rule.name} | {rule.severity} | {rule.kind} | {rule.summary} |")
    index = directory / "README.md"
    index.write_text("\n".join(lines) + "\n")
    return [index, *written]


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/rules")
    print(f"wrote {len(write_rule_pages(out))} files to {out}")
