"""One parametrised runner over tests/checks/cases/<CODE>.yaml: every rule's pass and fail cases."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rehearse.checks import check_graph, check_step, get_rule, lint_sql
from rehearse.model import LockTaken, StatementTrace, StepResult

HERE = Path(__file__).parent
TESTS = HERE.parent
CASES = sorted((HERE / "cases").glob("*.yaml"))


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _params():
    for path in CASES:
        data = _load(path)
        for expect in ("pass", "fail"):
            for i, case in enumerate(data.get(expect) or ()):
                yield pytest.param(path.stem, data, expect, case, id=f"{path.stem}-{expect}-{i}")


def _codes(data: dict, expect: str, case) -> list[str]:
    kind = data["kind"]
    if kind == "sql":
        version = data.get(f"{expect}_server_version_num", data.get("server_version_num", 150000))
        return [f.code for f in lint_sql(case, server_version_num=version, revision="r1")]
    if kind == "measured":
        locks = tuple(LockTaken(**lk) for lk in case.get("locks", ()))
        trace = StatementTrace(**{**case, "locks": locks, "rewrites": tuple(case.get("rewrites", ()))})
        return [f.code for f in check_step("r1", StepResult(ok=True, duration_s=1.0, statements=(trace,)))]
    if kind == "graph":
        return [f.code for f in check_graph(TESTS / case / "alembic.ini")]
    raise AssertionError(f"no runner for kind {kind}")


@pytest.mark.parametrize("code, data, expect, case", list(_params()))
def test_rule_case(code, data, expect, case):
    assert get_rule(code).kind == data["kind"]
    codes = _codes(data, expect, case)
    if expect == "fail":
        assert code in codes, f"{code} should fire on: {case}"
    else:
        assert code not in codes, f"{code} should not fire on: {case}"
