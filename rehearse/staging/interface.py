"""The staging backend interface and the registry backends register into.

Shaped like Alembic's ``ddl/impl.py``: each backend module registers itself here when it is
imported (``rehearse/staging/__init__.py`` imports them all), and :func:`backend_for` picks one
from ``--staging`` without importing any backend by name. A backend also registers how to
remove the resources it records in the run registry, so ``gc`` can clean up after a dead run
without knowing the backend either.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol

from .. import errors, model
from . import registry


class Backend(Protocol):
    """Start a database, hand back how to reach it, always tear it down."""

    kind: str

    def start(self, template: str | None) -> model.StagingDatabase:
        """Start the server and hand back an empty database (or a clone of ``template``)."""

    def admin_dsn(self) -> str:
        """A libpq DSN for a superuser-ish connection to the staging database itself."""

    def save_template(self, template: str) -> None:
        """Keep the populated database as ``template`` for the next run with the same key."""

    def close(self) -> None:
        """Remove everything this backend created (idempotent)."""

    def keep(self) -> str:
        """Leave it running for a person; returns how to connect and how to remove it."""

    # Optional: ``roles_created(roles: list[str]) -> None`` is called after staging created the
    # source's roles, for backends on a shared server that must drop them again.


@dataclasses.dataclass(frozen=True)
class BackendRequest:
    """What a backend is built from: the ``--staging`` value and what the run knows."""

    spec: str
    run: registry.RunRecord
    source: model.SourceInfo | None
    image: str | None = None
    expected_bytes: int | None = None
    bindir: str | None = None  # a cluster backend runs this server (--target-version) instead of its own choice
    # server settings for a throwaway cluster (local, embedded) started for this run; others ignore them
    server_settings: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class _Registered:
    name: str
    accepts: Callable[[str], bool]
    create: Callable[[BackendRequest], Backend]
    available: Callable[[], bool]
    fallback: bool


_BACKENDS: list[_Registered] = []
_REMOVERS: dict[str, Callable[[dict[str, Any]], str]] = {}
_SWEEPERS: dict[str, Callable[..., list[str]]] = {}


def register_backend(name: str, *, accepts: Callable[[str], bool], create: Callable[[BackendRequest], Backend],
                     available: Callable[[], bool] = lambda: True, fallback: bool = False) -> None:
    """Make a backend choosable: ``accepts(spec)`` says whether a ``--staging`` value names it.

    Among backends that accept a spec, the first available one wins; a ``fallback`` one is
    used only when no other is available (and explains itself when it cannot run either).
    """
    global _BACKENDS
    _BACKENDS = [b for b in _BACKENDS if b.name != name]
    _BACKENDS.append(_Registered(name, accepts, create, available, fallback))


def register_resource(kind: str, remove: Callable[[dict[str, Any]], str]) -> None:
    """How to remove a recorded resource of ``kind``; ``remove`` returns a line for a person ('' if nothing was there)."""
    _REMOVERS[kind] = remove


def register_sweeper(name: str, sweep: Callable[..., list[str]]) -> None:
    """A scan for resources a lost record no longer names (e.g. labelled containers); ``sweep(include_kept=...)``."""
    _SWEEPERS[name] = sweep


def backend_for(request: BackendRequest) -> Backend:
    spec = (request.spec or "local").strip()
    request = dataclasses.replace(request, spec=spec)
    matching = [b for b in _BACKENDS if b.accepts(spec)]
    for chosen in [b for b in matching if not b.fallback] + [b for b in matching if b.fallback]:
        if chosen.fallback or chosen.available():
            return chosen.create(request)
    raise errors.BadInput(f"--staging '{spec}' is not a staging backend",
                          hint="use local, docker or a postgresql://USER@HOST/DB server URL")


def remove_resource(res: dict[str, Any]) -> str:
    """Remove one recorded resource (idempotent); returns what was done, for a person."""
    remove = _REMOVERS.get(res.get("kind", ""))
    return remove(res) if remove is not None else ""


def sweepers() -> dict[str, Callable[..., list[str]]]:
    return dict(_SWEEPERS)
