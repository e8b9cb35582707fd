"""Checks: the rule registry and the entry points the pipeline and the CLI call.

Static rules read executed SQL (pglast), measured rules read traces, graph rules read the
revision files, schema rules read the migrated database. Every rule lives in its own module
under ``sql/``, ``measured/``, ``graph/`` or ``schema_rules/`` and registers itself.
"""

from .base import DatabaseContext, Hit, Rule, Thresholds, all_rules, get_rule, render_rule_doc
from .engine import check_database, check_graph, check_step, lint_sql
from .schema import check_row_counts, check_schema

__all__ = [
           "DatabaseContext",
           "Hit",
           "Rule",
           "Thresholds",
           "all_rules",
           "check_database",
           "check_graph",
           "check_row_counts",
           "check_schema",
           "check_step",
           "get_rule",
           "lint_sql",
           "render_rule_doc",
]
