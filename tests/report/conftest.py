"""Fixtures for the report tests: the demo report (recorded when available, else hand-built)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # for demo.py, which builds reports from the model by hand

from report_demo import build_demo_report, build_large_report  # noqa: E402

from rehearse import model  # noqa: E402

RECORDED = HERE / "data" / "demo_report.json"


@pytest.fixture(scope="session")
def built_report() -> model.Report:
    """The hand-built 9-revision demo report (stable: the golden files are made from it)."""
    return build_demo_report()


@pytest.fixture(scope="session")
def demo_report(built_report) -> model.Report:
    """A real recorded rehearsal of the demo when tests/report/data/demo_report.json exists."""
    if RECORDED.exists():
        return model.report_from_dict(json.loads(RECORDED.read_text(encoding="utf-8")))
    return built_report


@pytest.fixture(scope="session", params=["built", "recorded"])
def any_report(request, built_report) -> model.Report:
    """Both the hand-built and (when present) the recorded demo report."""
    if request.param == "built":
        return built_report
    if not RECORDED.exists():
        pytest.skip("no recorded report at tests/report/data/demo_report.json yet")
    return model.report_from_dict(json.loads(RECORDED.read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def large_report() -> model.Report:
    return build_large_report(300)


def _recorded(name: str) -> model.Report:
    """A report a real rehearsal wrote (tests/report/record_reports.py), read back by the report's own loader."""
    return model.report_from_dict(json.loads((HERE / "data" / name).read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def queries_report() -> model.Report:
    """query_shapes with production's shapes, --app-check, --setting, --target-version 18 and --scale."""
    return _recorded("queries_report.json")


@pytest.fixture(scope="session")
def rewrites_report() -> model.Report:
    """The demo shop from a snapshot with --suggest-rewrites, --scale and production's shapes."""
    return _recorded("rewrites_report.json")
