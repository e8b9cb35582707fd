"""Staging: a throwaway PostgreSQL database to rehearse on (local cluster, container or scratch db).

``open_staging`` is the one entry point; ``gc.collect`` removes what killed runs left.
Layout (after Alembic's ``ddl/``): ``interface.py`` is the backend protocol and the registry
backends register into; ``common.py`` (and ``cluster.py`` for the two cluster backends) the
helpers they share; ``session.py`` what every run does around a backend. Backends never
import each other.
"""

# Importing the backends registers them (as alembic/ddl/__init__.py imports its dialects).
# Each is cheap to import: docker and testcontainers are imported only when used.
from . import container, embedded, local, server  # noqa: F401
from .session import NotOwnedDatabase, assert_owned, open_staging
from .signals import Terminated, install_signal_handlers

__all__ = ["open_staging", "assert_owned", "install_signal_handlers", "Terminated", "NotOwnedDatabase"]
