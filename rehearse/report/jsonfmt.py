"""The json format: ``model.to_dict(report)``, the form report.json is stored and re-read in.

Its shape is published as a JSON Schema (report.schema.json next to this module, a copy in
docs/); the schema's ``$id`` carries ``model.REPORT_FORMAT_VERSION``.
"""

from __future__ import annotations

import json
from importlib import resources

from rehearse import model
from rehearse.report._common import RenderOptions

SCHEMA_ID = f"https://rehearse.dev/schemas/report/v{model.REPORT_FORMAT_VERSION}/report.schema.json"


def render(report: model.Report, options: RenderOptions | None = None) -> str:
    return json.dumps(model.to_dict(report), indent=2, ensure_ascii=False, default=str) + "\n"


def schema() -> dict:
    """The published JSON Schema of report.json (for validators and editors)."""
    text = resources.files("rehearse.report").joinpath("report.schema.json").read_text(encoding="utf-8")
    return json.loads(text)
