"""The anonymizer's face: keyed, deterministic value transforms, one import away.

The code lives where its concern does: keyed hashing (keyed.py), Faker pools and keyed fakes
(fakes.py), rules compiled into value functions (compile.py), JSON paths (jsonpath.py), the COPY
text format (rehearse/copytext.py) and the policy's types (rehearse/policytypes.py). This module
re-exports them for callers that want one name to import from.
"""

from __future__ import annotations

from ..copytext import copy_decode, copy_encode, format_array, map_array, parse_array
from ..policytypes import COLLISION_FREE, COMMON_VALUE_KINDS, STRATEGIES, ColumnType, Rule
from .compile import Anonymizer, json_top_keys
from .fakes import FAKE_KINDS, POOL_SIZE, SCRUB_PATTERNS, Fakes
from .jsonpath import json_leaf_strings, parse_json_path
from .keyed import FAKES_VERSION, HASH_ARRAY_MIN, _mix64, _sip_key, derive_key, keyed_hashes

__all__ = ["Anonymizer", "COLLISION_FREE", "COMMON_VALUE_KINDS", "ColumnType", "FAKES_VERSION", "FAKE_KINDS",
           "Fakes", "HASH_ARRAY_MIN", "POOL_SIZE", "Rule", "SCRUB_PATTERNS", "STRATEGIES", "copy_decode",
           "copy_encode", "derive_key", "format_array", "json_leaf_strings", "json_top_keys", "keyed_hashes",
           "map_array", "parse_array", "parse_json_path", "_mix64", "_sip_key"]
