"""Rollback judgements: pure functions from fingerprints and step results to RollbackResults.

The pipeline measures (fingerprints before and after each step); this module decides what
the measurements mean. Nothing here touches a database, so every verdict can be tested
from data alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from rehearse import model
from rehearse.rollback.data import DataFingerprint, diff_data
from rehearse.rollback.fingerprint import SchemaFingerprint, is_benign
from rehearse.rollback.verify import compare_step

# What a downgrade left behind, as keys: (object, kind, after) for schema differences and
# (table, columns, rows added or lost) for data differences. In release mode the residue of a
# later revision's downgrade is still there when earlier revisions are compared; rows it left are
# matched by how many, since every older step sees the table at another absolute count.
Residue = frozenset


def judge_downgrade(*, schema_before: SchemaFingerprint | None, schema_after: SchemaFingerprint | None,
                    data_before: DataFingerprint | None, data_after: DataFingerprint | None,
                    data_upgraded: DataFingerprint | None, downgrade: model.StepResult,
                    classification: str, compare_generated_names: bool = False,
                    residue: Residue = Residue()) -> tuple[model.RollbackResult, Residue]:
    """The verdict of a downgrade that ran, and the residue known after it.

    ``data_upgraded`` is the data right after the upgrade: what the upgrade wrote and the
    downgrade discards (``RollbackResult.discarded``) is information beside the verdict. Only
    data that existed before the upgrade and did not come back is a loss.
    """
    result = compare_step(schema_before, schema_after, data_before, data_after,
                          compare_generated_names=compare_generated_names, classification=classification)
    result, residue = without_residue(result, residue)
    result = _one_way_changes_apart(result, data_before, data_upgraded)
    discarded = lost_since_upgrade(data_upgraded, data_after)
    return dataclasses.replace(result, duration_s=downgrade.duration_s, discarded=discarded), residue


def _one_way_changes_apart(result: model.RollbackResult, data_before: DataFingerprint | None,
                           data_upgraded: DataFingerprint | None) -> model.RollbackResult:
    """Values of a column the downgrade left alone, changed by the upgrade itself (a backfill's
    UPDATE that also moved an ``updated_at``, a one-way data fix): the downgrade did not lose
    them. They are set apart as ``one_way`` (the upgrade's risk), not the downgrade's data loss.

    A diff stays a loss when the column came back with values the upgrade did not give it, when
    rows are missing, or when the fingerprints cannot say (no data checks).
    """
    if data_before is None or data_upgraded is None or not result.data_diff:
        return result
    kept: list[model.DataDiff] = []
    one_way: list[model.DataDiff] = []
    for diff in result.data_diff:
        old, up = data_before.by_table.get(diff.table), data_upgraded.by_table.get(diff.table)
        if (old is None or up is None or diff.rows_after is None or diff.rows_after != diff.rows_before
                or not diff.columns_changed):
            kept.append(diff)
            continue
        by_upgrade = [c for c in diff.columns_changed
                      if c in up.by_column and c in old.by_column
                      and (up.by_column[c].checksum, up.by_column[c].non_null)
                      != (old.by_column[c].checksum, old.by_column[c].non_null)]
        if len(by_upgrade) == len(diff.columns_changed):
            one_way.append(dataclasses.replace(diff, message=f"the upgrade changed existing values and the "
                                                             f"downgrade does not change them back: {diff.message}"))
        else:
            kept.append(diff)
    if not one_way:
        return result
    return _set_apart(result, kept, one_way)


def _set_apart(result: model.RollbackResult, kept: list[model.DataDiff],
               one_way: list[model.DataDiff]) -> model.RollbackResult:
    """``result`` with ``one_way`` moved out of its data loss, and the verdict that leaves."""
    harmful_schema = [d for d in result.schema_diff if not is_benign(d)]
    ok = not kept and not harmful_schema
    classification = result.classification
    if not kept and classification == "data-loss":
        classification = "irreversible" if harmful_schema else "reversible"
    return dataclasses.replace(result, ok=ok, data_diff=tuple(kept), one_way=tuple(one_way),
                               classification=classification, error=None if ok else result.error)


def without_residue(result: model.RollbackResult, residue: Residue) -> tuple[model.RollbackResult, Residue]:
    """Leave out what a later revision's imperfect downgrade left behind; it is that revision's
    fault, not this one's. Returns the result and the residue grown by this result's own diffs."""
    own = tuple(d for d in result.schema_diff if (d.object, d.kind, d.after) not in residue)
    own_data = tuple(d for d in result.data_diff if _data_key(d) not in residue)
    grown = Residue(residue | {(d.object, d.kind, d.after) for d in own} | {_data_key(d) for d in own_data})
    if own == result.schema_diff and own_data == result.data_diff:
        return result, grown
    ok = not own and not own_data
    classification = result.classification
    if ok:
        classification = "reversible"
    elif not own_data and classification == "data-loss":
        classification = "irreversible"
    return dataclasses.replace(result, ok=ok, schema_diff=own, data_diff=own_data, classification=classification,
                               error=None if ok else result.error), grown


def _data_key(diff: model.DataDiff) -> tuple:
    moved = None if diff.rows_after is None else diff.rows_after - diff.rows_before
    return (diff.table, tuple(diff.columns_changed), moved)


def lost_since_upgrade(data_upgraded: DataFingerprint | None,
                       data_after: DataFingerprint | None) -> tuple[model.DataDiff, ...]:
    """Values the upgrade wrote that the downgrade throws away (information, not a failure)."""
    if data_upgraded is None or data_after is None:
        return ()
    diffs = []
    for d in diff_data(data_upgraded, data_after):
        if d.rows_after is None and d.rows_before == 0:
            continue  # an empty table the upgrade created and the downgrade dropped: nothing lost
        if d.columns_changed or d.rows_after is None or d.rows_after != d.rows_before:
            diffs.append(dataclasses.replace(
                d, message=f"values written by the upgrade are discarded by the downgrade: {d.message}"))
    return tuple(diffs)


_FAILED_KINDS = {"missing": "missing", "pass": "irreversible", "raises": "irreversible"}


def judge_failed_downgrade(downgrade: model.StepResult, classification: str,
                           tables_with_rows: Mapping[str, int]) -> model.RollbackResult:
    """The verdict of a downgrade that raised: ``missing``/``irreversible`` when its source says
    so, else ``broken``; the error names the tables it touched that hold data."""
    kind = _FAILED_KINDS.get(classification, "broken")
    error = downgrade.error
    if tables_with_rows:
        error = (f"{error} (tables it touched hold data: "
                 f"{', '.join(f'{t} {n:,} rows' for t, n in tables_with_rows.items())})")
    return model.RollbackResult(ok=False, classification=kind, duration_s=downgrade.duration_s, error=error)


def judge_whole_range(*, schema_start: SchemaFingerprint, schema_end: SchemaFingerprint,
                      data_start: DataFingerprint | None, data_end: DataFingerprint | None,
                      compare_generated_names: bool = False,
                      one_way: Iterable[model.DataDiff] = ()) -> model.RollbackResult:
    """Release mode: is the database after the full downgrade the one before the upgrade?

    ``one_way`` are the revisions' own one-way data changes (see ``_one_way_changes_apart``):
    columns they name are set apart here too, with the same words.
    """
    result = compare_step(schema_start, schema_end, data_start, data_end,
                          compare_generated_names=compare_generated_names)
    owned: dict[str, set[str]] = {}
    for diff in one_way:
        owned.setdefault(diff.table, set()).update(diff.columns_changed)
    if not owned or not result.data_diff:
        return result
    kept = [d for d in result.data_diff
            if not (d.rows_after == d.rows_before and d.columns_changed
                    and set(d.columns_changed) <= owned.get(d.table, set()))]
    apart = [d for d in result.data_diff if d not in kept]
    if not apart:
        return result
    return _set_apart(result, kept, apart)


def stopped_whole_range(result: model.RollbackResult, why: list[str]) -> model.RollbackResult:
    """Release mode, when a downgrade failed: run as one command, the full downgrade would stop."""
    return dataclasses.replace(result, ok=False, classification="broken", error="; ".join(why))


def combine_stairway(rollbacks: Iterable[model.RollbackResult | None],
                     downgrades: Iterable[model.StepResult | None]) -> model.RollbackResult:
    """Stairway mode: the overall rollback is reversible when every revision's is."""
    results = [r for r in rollbacks if r is not None]
    ok = all(r.ok for r in results)
    return model.RollbackResult(
        ok=ok, classification="reversible" if ok else "irreversible",
        schema_diff=tuple(d for r in results for d in r.schema_diff),
        data_diff=tuple(d for r in results for d in r.data_diff),
        duration_s=round(sum(s.duration_s for s in downgrades if s is not None), 6))


def failure_line(revision: str, result: model.RollbackResult, residue_from: str | None = None) -> str | None:
    """The report's one-line reason when a downgrade ran but did not restore the database."""
    if result.ok:
        return None
    why = "; ".join(d.message for d in (*result.schema_diff, *result.data_diff)[:3])
    note = f" (compared after the failed downgrade of {residue_from})" if residue_from else ""
    return f"downgrade of {revision} does not restore the database{note}: {why}"
