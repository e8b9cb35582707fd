"""Writes docs/rules/: one Markdown page per rule plus an index (`python -m rehearse.checks.docs DIR`)."""

from __future__ import annotations

import sys
from pathlib import Path

from .base import all_rules, render_rule_doc


IGNORING = [
    "",
    "## Silencing a finding",
    "",
    "A reviewed exception is written next to the statement, so it stays visible in review:",
    "",
    "- SQL: `-- rehearse-ignore: RH101, RH150` on the line above the statement (or at the end of",
    "  its last line); `-- rehearse-ignore-file: RH150` anywhere for the whole file. Codes or",
    "  rule names; no code at all ignores every rule; an unknown code ignores nothing.",
    "- Alembic revisions: `# rehearse-ignore: RH101` at the end of the `op.` call's line or in",
    "  the comment lines just above it; `# rehearse-ignore-file: RH115` anywhere in the revision",
    "  file covers that revision only.",
    "- Squawk's `-- squawk-ignore rule-name` and `-- squawk-ignore-file rule-name` work too: each",
    "  Squawk rule name maps to the rehearse rules that cover it (see docs/lint-vs-squawk.md).",
    "",
    "Findings a whole team accepts for a revision belong in the baseline file (`--baseline`).",
]


def write_rule_pages(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    lines = ["# Rules", "", "| code | name | severity | kind | summary |", "|---|---|---|---|---|"]
    for rule in all_rules():
        page = directory / f"{rule.code}.md"
        page.write_text(render_rule_doc(rule))
        written.append(page)
        lines.append(f"| [{rule.code}]({rule.code}.md) | {rule.name} | {rule.severity} | {rule.kind} | {rule.summary} |")
    lines += IGNORING
    index = directory / "README.md"
    index.write_text("\n".join(lines) + "\n")
    return [index, *written]


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/rules")
    print(f"wrote {len(write_rule_pages(out))} files to {out}")
