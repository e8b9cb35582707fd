"""docs/service.md documents every endpoint the API serves, and every service command has help."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from rehearse.cli import app as cli
from rehearse.service.app import create_app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "service.md").read_text()


def test_every_endpoint_is_in_docs_service_md():
    app = create_app("postgresql://postgres@127.0.0.1:5432/not_connected_here")  # the engine connects lazily
    paths = app.openapi()["paths"]
    documented = {re.sub(r"\{[^}]+\}", "{}", p) for p in re.findall(r"`(?:GET|POST) (/api/[^ `?]*)", DOC)}
    documented |= {re.sub(r"\{[^}]+\}", "{}", p) for p in re.findall(r"(/api/[a-z/{}]+)", DOC)}
    missing = [p for p in paths if re.sub(r"\{[^}]+\}", "{}", p) not in documented and p != "/api/docs"]
    assert not missing, f"endpoints missing from docs/service.md: {missing}"


def test_service_commands_have_help():
    runner = CliRunner()
    for args in (["serve"], ["worker"], ["submit"], ["token", "create"], ["user", "create"]):
        out = runner.invoke(cli, [*args, "--help"])
        assert out.exit_code == 0 and len(out.output) > 100, args


def test_every_page_is_in_docs_service_md():
    from fastapi.routing import APIRoute
    app = create_app("postgresql://postgres@127.0.0.1:5432/not_connected_here")
    pages = {r.path for r in app.routes if isinstance(r, APIRoute) and "GET" in r.methods
             and not r.path.startswith(("/api/", "/partials/"))}
    doc = re.sub(r"\{[^}]+\}", "{}", DOC)
    missing = [p for p in pages if (q := re.sub(r"\{[^}]+\}", "{}", p)) and f"`{q}`" not in doc and f"`{q}?" not in doc]
    assert not missing, f"pages missing from docs/service.md: {missing}"
