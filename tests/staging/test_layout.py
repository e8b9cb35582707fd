"""The shape of staging/: backends register into the interface and never import each other; no cycles.

Read from the source with ``ast`` (imports inside functions count too), so the test needs no
import-linter; the same rules as an import-linter ``independence`` contract, plus cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STAGING = Path(__file__).resolve().parents[2] / "rehearse" / "staging"
BACKENDS = {"local", "container", "server", "embedded"}


def staging_imports(path: Path) -> set[str]:
    """The staging submodules a module imports, anywhere in it (``from . import x``, ``from .x import y``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found.update(alias.name for alias in node.names)
            elif node.level == 0 and (node.module or "").startswith("rehearse.staging."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith("rehearse.staging."))
    return found


def graph() -> dict[str, set[str]]:
    # the package's __init__ imports every backend on purpose (that registers them)
    return {p.stem: staging_imports(p) for p in STAGING.glob("*.py") if p.stem != "__init__"}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_backend_imports_no_other_backend(backend):
    others = graph()[backend] & (BACKENDS - {backend})
    assert not others, f"{backend}.py imports {sorted(others)}: share code through common.py or cluster.py"


def test_every_backend_registers_itself():
    for backend in BACKENDS:
        assert "register_backend(" in (STAGING / f"{backend}.py").read_text(), backend


def test_no_import_cycles_between_staging_modules():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(mod: str, path: list[str]) -> None:
        state[mod] = 1
        for dep in sorted(edges.get(mod, ())):
            if state.get(dep) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(dep):] + [mod, dep]) if dep in path
                            else f"import cycle through {mod} -> {dep}")
            if dep in edges and state.get(dep) is None:
                visit(dep, path + [mod])
        state[mod] = 2

    for mod in sorted(edges):
        if state.get(mod) is None:
            visit(mod, [])


def test_package_face_keeps_the_names_callers_use():
    import rehearse.staging as staging

    for name in ("open_staging", "assert_owned", "install_signal_handlers", "Terminated", "NotOwnedDatabase"):
        assert name in staging.__all__ and hasattr(staging, name), name
    assert issubclass(staging.Terminated, BaseException) and not issubclass(staging.Terminated, Exception)
