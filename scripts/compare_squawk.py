"""Measure rehearse's static rules against Squawk on Squawk's own rule examples.

Every test of Squawk's linter rules (crates/squawk_linter/src/rules/*.rs) holds an SQL
example; each one is linted by the installed squawk-cli (the reference, measured, not read
from its test expectations) and by rehearse's `lint_sql`, with the same PostgreSQL version
and transaction assumption the test sets. Per Squawk rule: the rehearse codes that cover it
(from each rule's ``references``) and how many examples both tools agree on (both report the
rule, or neither does). Writes docs/lint-vs-squawk.md.

    pip install squawk-cli
    python scripts/compare_squawk.py PATH_TO_SQUAWK_REPO [--out docs/lint-vs-squawk.md]

PATH may be a checkout or a bare git directory (read with ``git show``). Nothing of Squawk is
copied into this repository: only the counts.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

RULES_DIR = "crates/squawk_linter/src/rules"
LIB = "crates/squawk_linter/src/lib.rs"
_SQL = re.compile(r'let\s+sql\s*=\s*(?:r#"(?P<raw>.*?)"#|"(?P<plain>(?:[^"\\]|\\.)*)")\s*;', re.S)
_TEST = re.compile(r"#\[test\]\s*fn\s+(?P<name>\w+)\s*\(\)\s*\{", re.S)


@dataclass
class Example:
    rule: str  # Squawk rule name
    test: str
    sql: str
    pg_version: str | None
    in_transaction: bool


class Source:
    """Squawk's files from a checkout or a bare git directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.git = not (path / RULES_DIR).is_dir()

    def read(self, rel: str) -> str:
        if not self.git:
            return (self.path / rel).read_text(encoding="utf-8")
        return subprocess.run(["git", "--git-dir", str(self.path), "show", f"HEAD:{rel}"], check=True,
                              capture_output=True, text=True).stdout

    def rule_files(self) -> list[str]:
        if not self.git:
            return sorted(f"{RULES_DIR}/{p.name}" for p in (self.path / RULES_DIR).glob("*.rs"))
        out = subprocess.run(["git", "--git-dir", str(self.path), "ls-tree", "--name-only", f"HEAD:{RULES_DIR}/"],
                             check=True, capture_output=True, text=True).stdout
        return sorted(f"{RULES_DIR}/{n}" for n in out.split() if n.endswith(".rs") and n != "mod.rs")


def rule_names(src: Source) -> dict[str, str]:
    """Rule enum variant -> Squawk's rule name, from lib.rs."""
    return {variant: name for name, variant in
            re.findall(r'"([a-z-]+)"\s*=>\s*Ok\(Rule::(\w+)\)', src.read(LIB))}


def examples(src: Source) -> list[Example]:
    names = rule_names(src)
    out: list[Example] = []
    for rel in src.rule_files():
        text = src.read(rel)
        everywhere = collections.Counter(re.findall(r"Rule::(\w+)", text))
        default = names.get(everywhere.most_common(1)[0][0]) if everywhere else None
        default = default or Path(rel).stem.replace("_", "-")
        tests = list(_TEST.finditer(text))
        for i, test in enumerate(tests):
            body = text[test.end(): tests[i + 1].start() if i + 1 < len(tests) else len(text)]
            variants = re.findall(r"Rule::(\w+)", body)
            rule = names.get(variants[0], default) if variants else default
            pg = re.search(r'pg_version:\s*"(\d+(?:\.\d+)?)"', body) or re.search(r"\bpg(\d+)\(\)", body)
            for match in _SQL.finditer(body):
                sql = match["raw"] if match["raw"] is not None else \
                    bytes(match["plain"], "utf-8").decode("unicode_escape")
                out.append(Example(rule=rule, test=test["name"], sql=sql, pg_version=pg.group(1) if pg else None,
                                   in_transaction="assume_in_transaction: true" in body))
    return out


# Known, deliberate differences (kept here so the generated page explains its own numbers).
DIFFERENCES = [
    "`require-table-schema` (opt-in in Squawk) and `ban-uncommitted-transaction` have no rehearse "
    "rule: Alembic qualifies tables itself and owns the transaction; a file-level BEGIN left open "
    "is not a per-statement property.",
    "`require-timeout-settings`: rehearse asks for timeouts before statements that lock an "
    "existing object; Squawk also before CREATE TYPE on a new type and a plain VACUUM.",
    "`ban-concurrent-index-creation-in-transaction` with `assume_in_transaction`: Squawk accepts a "
    "CONCURRENTLY statement alone in a file (it expects a standalone migration); rehearse reports "
    "it, since Alembic would run it inside its transaction.",
    "`prefer-robust-stmts`, `prefer-repack`, `prefer-bigint-*`, `require-concurrent-reindex`: rehearse "
    "reports some examples Squawk's own tests call fine (e.g. the `-- instead of` half of a "
    "before/after pair, or the server version the example leaves unset).",
    "`ban-duplicate-column-assignments` on a view whose unnamed columns PostgreSQL would both call "
    "`?column?`: not reported by rehearse.",
]


# Squawk's repository and its released CLI name some rules differently.
ALIASES = {"require-timeout-settings": {"require-lock-timeout", "require-statement-timeout"}}


def squawk_reports(squawk: str, ex: Example, workdir: Path) -> set[str]:
    path = workdir / "example.sql"
    path.write_text(ex.sql, encoding="utf-8")
    args = [squawk, "--reporter", "json"]
    if ex.pg_version:
        args.append(f"--pg-version={ex.pg_version}")
    if ex.in_transaction:
        args.append("--assume-in-transaction")
    for include in ([f"--include={ex.rule}"], []):  # opt-in rules; older squawk-cli may not know the name
        proc = subprocess.run(args + include + [str(path)], capture_output=True, text=True)
        try:
            return {v["rule_name"] for v in json.loads(proc.stdout or "[]")}
        except json.JSONDecodeError:
            continue
    return set()


def rehearse_reports(ex: Example) -> set[str]:
    from rehearse.checks import lint_sql

    version = int(float(ex.pg_version) * 10000) if ex.pg_version else 180000
    return {f.code for f in lint_sql(ex.sql, server_version_num=version, assume_in_transaction=ex.in_transaction)}


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from rehearse.checks import get_rule
    from rehearse.checks.ignores import squawk_codes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("squawk_repo", type=Path)
    parser.add_argument("--squawk", default=shutil.which("squawk") or "squawk")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "lint-vs-squawk.md")
    args = parser.parse_args()
    version = subprocess.run([args.squawk, "--version"], capture_output=True, text=True).stdout.strip()
    src = Source(args.squawk_repo)
    commit = subprocess.run(["git", "--git-dir" if src.git else "-C", str(args.squawk_repo), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    mapping = squawk_codes()
    rows: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    with tempfile.TemporaryDirectory() as tmp:
        for ex in examples(src):
            codes = mapping.get(ex.rule, set())
            sq = bool(({ex.rule} | ALIASES.get(ex.rule, set())) & squawk_reports(args.squawk, ex, Path(tmp)))
            rh = bool(codes & rehearse_reports(ex))
            row = rows[ex.rule]
            row["examples"] += 1
            row["squawk"] += sq
            row["rehearse"] += rh
            row["agree"] += sq == rh
            row["missed"] += sq and not rh
            row["extra"] += rh and not sq

    total = collections.Counter()
    lines = [
        "# rehearse lint vs Squawk, measured on Squawk's rule examples",
        "",
        "Generated by `python scripts/compare_squawk.py PATH_TO_SQUAWK_REPO` "
        f"(Squawk repository at `{commit}`, {version}). Each SQL example of Squawk's rule tests is "
        "linted by squawk-cli and by rehearse with the PostgreSQL version and transaction setting the "
        "test uses (PostgreSQL 18 when it sets none). *Agree*: both report the rule, or neither does. "
        "*Missed*: Squawk reports it and rehearse's equivalent does not; *extra*: the reverse "
        "(often on purpose: rehearse also flags what the example's comment calls the fix, or judges "
        "the PostgreSQL version differently).",
        "",
        "| Squawk rule | rehearse | examples | Squawk reports | rehearse reports | agree | missed | extra |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in sorted(rows):
        row = rows[name]
        total.update(row)
        codes = sorted(mapping.get(name, ()))
        equiv = ", ".join(f"[{c}](rules/{c}.md) {get_rule(c).name}" for c in codes) or "—"
        lines.append(f"| {name} | {equiv} | {row['examples']} | {row['squawk']} | {row['rehearse']} | "
                     f"{row['agree']} | {row['missed']} | {row['extra']} |")
    covered = sum(1 for n in rows if mapping.get(n))
    lines += [
        f"| **all** | {covered} of {len(rows)} rules covered | {total['examples']} | {total['squawk']} | "
        f"{total['rehearse']} | {total['agree']} | {total['missed']} | {total['extra']} |",
        "",
        f"Agreement: {total['agree']} of {total['examples']} examples "
        f"({100 * total['agree'] / max(total['examples'], 1):.0f}%).",
        "",
        "Rules without an equivalent are listed with —. rehearse also has rules Squawk lacks "
        "(measured locks and rewrites, rollback proof, the migration graph): `rehearse rules`.",
        "",
        "## Where they differ, and why",
        "",
        *[f"- {note}" for note in DIFFERENCES],
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"{total['agree']}/{total['examples']} examples agree; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
