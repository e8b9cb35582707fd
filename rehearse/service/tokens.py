"""`rehearse token create` and `rehearse user create / disable / enable`: straight into the service database (the bootstrap path)."""

from __future__ import annotations

from pathlib import Path

from . import store


def _with_db(db_url: str | None, data_dir: Path | None, work):
    cluster = None
    if db_url is None:
        from .embedded import EmbeddedCluster
        cluster = EmbeddedCluster(data_dir)
        db_url = cluster.start()
    try:
        store.migrate(db_url)
        eng = store.engine(db_url, pool_size=1)
        try:
            with eng.begin() as conn:
                return work(conn)
        finally:
            eng.dispose()
    finally:
        if cluster is not None:
            cluster.stop()


def create_user(db_url: str | None, *, name: str, role: str, password: str, data_dir: Path | None = None) -> None:
    from ..errors import BadInput
    from .actions import USER_NAME
    from .auth import hash_password

    if role not in store.ROLES:
        raise BadInput(f"role '{role}' does not exist", hint=f"use one of: {', '.join(store.ROLES)}")
    if not USER_NAME.match(name):
        raise BadInput(f"invalid user name {name!r}", hint="use 1-63 letters, digits and . _ @ -")
    if len(password) < 10:
        raise BadInput("the password is too short (at least 10 characters)",
                       hint="pipe it on standard input or set REHEARSE_PASSWORD")

    def work(conn):
        created = store.put_user(conn, name, hash_password(password), role)
        store.audit(conn, "cli", "user.create" if created else "user.update", name, role=role)
    _with_db(db_url, data_dir, work)


def set_disabled(db_url: str | None, *, name: str, disabled: bool, data_dir: Path | None = None) -> bool:
    """Disable or enable a user from the command line (an operator with the database; audited as cli)."""
    from ..errors import BadInput

    def work(conn):
        if store.get_user(conn, name) is None:
            raise BadInput(f"user {name} does not exist", hint="list users with GET /api/users, or create it "
                           "with `rehearse user create`")
        changed = store.set_user_disabled(conn, name, disabled, "cli")
        if changed:
            store.audit(conn, "cli", "user.disable" if disabled else "user.enable", name)
        return changed
    return _with_db(db_url, data_dir, work)


def create_token(db_url: str | None, *, role: str, name: str, data_dir: Path | None = None) -> str:
    cluster = None
    if db_url is None:
        from .embedded import EmbeddedCluster
        cluster = EmbeddedCluster(data_dir)
        db_url = cluster.start()  # stopped again below only if it was not already running
    try:
        store.migrate(db_url)
        eng = store.engine(db_url, pool_size=1)
        with eng.begin() as conn:
            token = store.create_token(conn, name, role)
        eng.dispose()
        return token
    finally:
        if cluster is not None:
            cluster.stop()
