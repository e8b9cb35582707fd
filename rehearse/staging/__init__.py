"""Staging: a throwaway PostgreSQL database to rehearse on (local cluster, container or scratch db).

``open_staging`` is the one entry point; ``gc.collect`` removes what killed runs left.
"""

from .base import (NotOwnedDatabase, Terminated, assert_owned, install_signal_handlers,
                   open_staging)

__all__ = ["open_staging", "assert_owned", "install_signal_handlers", "Terminated", "NotOwnedDatabase"]
