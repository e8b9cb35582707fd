"""The rollback verdict of one step: compare fingerprints before the upgrade and after the downgrade.

``compare_step`` turns two schema fingerprints and two data fingerprints into a
``model.RollbackResult``: "reversible" when nothing differs, "data-loss" when data did not come
back (columns dropped or emptied, values changed, rows or whole tables gone), "irreversible"
when only the schema differs. The pipeline passes "broken" (the downgrade raised), "missing"
(there is none) or "not-run" when there is nothing to compare; those win over the diffs.
A sequence that merely moved forward is shown but does not fail the step (see
``fingerprint.is_benign``).
"""

from __future__ import annotations

from rehearse import model
from rehearse.rollback.data import DataFingerprint, diff_data
from rehearse.rollback.fingerprint import SchemaFingerprint, diff_schema, is_benign

# Verdicts the pipeline decides itself (the downgrade did not run, or did not finish).
PIPELINE_VERDICTS = ("broken", "missing", "not-run")


def compare_step(schema_before: SchemaFingerprint | None, schema_after: SchemaFingerprint | None,
                 data_before: DataFingerprint | None, data_after: DataFingerprint | None, *,
                 compare_generated_names: bool = False,
                 classification: str = "ok") -> model.RollbackResult:
    """Decide whether a downgrade put schema and data back as they were.

    ``classification`` is what the pipeline already knows: "ok" (the downgrade ran), "pass"
    (it ran but its body is empty, from ``classify_downgrade``), "raises" (it deliberately
    refuses), or one of "broken" / "missing" / "not-run". Fingerprints may be None when a step
    was not reached; the diffs then are empty.
    """
    schema_diff: tuple[model.SchemaDiff, ...] = ()
    data_diff: tuple[model.DataDiff, ...] = ()
    if schema_before is not None and schema_after is not None:
        schema_diff = diff_schema(schema_before, schema_after,
                                  compare_generated_names=compare_generated_names)
    if data_before is not None and data_after is not None:
        data_diff = diff_data(data_before, data_after)
    duration = sum(fp.duration_s for fp in (schema_before, schema_after, data_before, data_after)
                   if fp is not None)

    if classification in PIPELINE_VERDICTS:
        return model.RollbackResult(False, classification, schema_diff, data_diff, duration,
                                    _verdict_error(classification))
    if classification == "raises":
        return model.RollbackResult(False, "irreversible", schema_diff, data_diff, duration,
                                    "the downgrade only raises: the revision declares itself irreversible")

    harmful = [d for d in schema_diff if not is_benign(d)]
    empty = " (its downgrade() body is empty)" if classification == "pass" else ""
    if data_diff:
        tables = ", ".join(d.table for d in data_diff[:3]) + (" ..." if len(data_diff) > 3 else "")
        return model.RollbackResult(False, "data-loss", schema_diff, data_diff, duration,
                                    f"the downgrade did not bring the data back in {tables}{empty}")
    if harmful:
        return model.RollbackResult(False, "irreversible", schema_diff, data_diff, duration,
                                    f"the downgrade left {len(harmful)} schema "
                                    f"difference{'s' if len(harmful) != 1 else ''}: {harmful[0].message}{empty}")
    return model.RollbackResult(True, "reversible", schema_diff, data_diff, duration, None)


def _verdict_error(classification: str) -> str:
    return {
        "broken": "the downgrade failed with an error; see the downgrade step for the statement",
        "missing": "the revision has no downgrade() function, so it cannot be rolled back",
        "not-run": "the downgrade was not run (an earlier step failed)",
    }[classification]
