"""The policy's vocabulary: what a column is (its type, as the anonymizer sees it) and what a rule says.

Shared by the snapshot (which reads column types from the catalog and plans a pull) and the
anonymizer (which compiles rules into value functions), so neither imports the other for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

STRATEGIES = ("keep", "null", "constant", "fake", "hash", "mask", "shift_date", "json", "scrub")

# kinds whose fakes embed a 64-bit keyed hash: safe on unique columns and foreign keys
COLLISION_FREE = frozenset({"email", "username", "uuid", "url"})

# kinds a real value may share with a fake by chance (a real "John Smith" is in the name pool):
# the leak scan does not look for their originals, it would cry wolf
COMMON_VALUE_KINDS = frozenset({"name", "first_name", "last_name", "city", "country", "company",
                                "postcode", "date_of_birth", "word", "state"})


@dataclass(frozen=True)
class ColumnType:
    """What a value must fit: its type category and length limit (domains resolved to base)."""

    name: str = "text"  # format_type of the base type, e.g. "character varying(40)"
    category: str = "S"  # pg_type.typcategory of the base (element) type
    max_length: int | None = None
    is_array: bool = False
    is_json: bool = False
    numeric_bits: int | None = None  # 16/32/64 for integer columns
    not_null: bool = False
    unique: bool = False


@dataclass(frozen=True)
class Rule:
    """One column's (or JSON path's) strategy, as the policy states it."""

    strategy: str  # one of STRATEGIES
    kind: str | None = None  # for fake
    options: Mapping[str, Any] = field(default_factory=dict)
    paths: Mapping[str, "Rule"] = field(default_factory=dict)  # json: JSON path -> rule
    acknowledge: bool = False
    line: int | None = None
    origin: str = "policy"  # policy | auto | foreign-key
    why: str | None = None

    @property
    def label(self) -> str:
        return f"fake:{self.kind}" if self.strategy == "fake" else self.strategy

    @property
    def changes_values(self) -> bool:
        return self.strategy != "keep"

    @property
    def collision_free(self) -> bool:
        if self.strategy == "fake":
            return self.kind in COLLISION_FREE
        return self.strategy in ("keep", "hash", "null")

    @property
    def copy_safe(self) -> bool:
        """Outputs never hold a tab, newline or backslash (pools are cleaned), so COPY needs no escaping."""
        return self.strategy in ("fake", "hash", "null")

    @property
    def leak_checked(self) -> bool:
        """Whether the originals this rule replaces are looked for in the written snapshot."""
        if self.strategy in ("keep", "json", "shift_date"):
            return False
        return not (self.strategy == "fake" and self.kind in COMMON_VALUE_KINDS)

