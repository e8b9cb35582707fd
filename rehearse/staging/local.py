"""The local backend: a throwaway cluster of the source's major version from the installed PostgreSQL.

How the cluster runs (socket only, throwaway settings, cached initdb, templates) is in
:mod:`.cluster`, shared with the embedded backend; this module finds the installed server
binaries (``pgbin``) and registers ``--staging local`` for machines that have them.
"""

from __future__ import annotations

from pathlib import Path

from .. import errors, pgbin
from .cluster import ClusterBackend
from .interface import BackendRequest, register_backend


def has_server_binaries() -> bool:
    try:
        pgbin.server_bindir(None)
    except errors.InfrastructureError:
        return False
    return True


class LocalBackend(ClusterBackend):
    """A throwaway cluster run from this machine's PostgreSQL server binaries."""

    def _server(self, major: int | None) -> tuple[Path, int, str | None]:
        return pgbin.server_bindir(major)


def _create(request: BackendRequest) -> LocalBackend:
    return LocalBackend(request.run, request.source, expected_bytes=request.expected_bytes,
                        bindir=Path(request.bindir) if request.bindir else None,
                        extra_settings=dict(request.server_settings))


register_backend("local", accepts=lambda spec: spec == "local", create=_create, available=has_server_binaries)
