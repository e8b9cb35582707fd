"""Database URLs: parse what users write, pick the driver on purpose, redact passwords.

SQLAlchemy 2.1 maps a bare ``postgresql://`` URL to psycopg 3; rehearse talks to
PostgreSQL through psycopg2, so every URL it hands to SQLAlchemy names
``postgresql+psycopg2`` explicitly. Anything shown to a user goes through
:func:`redact` first.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import BadInput

_SCHEMES = {"postgresql", "postgres", "pgsql"}


def parse(url: str) -> URL:
    """Parse a user's PostgreSQL URL (any driver, or none) into a psycopg2 SQLAlchemy URL."""
    text = url.strip()
    if text.startswith("postgres://"):
        text = "postgresql://" + text[len("postgres://"):]
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise BadInput(
            f"'{redact(url)}' is not a database URL",
            hint="write it as postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
        ) from None
    except ValueError:  # SQLAlchemy reads the port with int()
        raise BadInput(f"'{redact(url)}' has a port that is not a number",
                       hint="write it as postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise BadInput(f"'{redact(url)}' has port {parsed.port}, outside 1-65535",
                       hint="write it as postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
    backend = parsed.drivername.split("+", 1)[0]
    if backend not in _SCHEMES:
        raise BadInput(
            f"'{redact(url)}' is a {backend} URL, but rehearse works on PostgreSQL",
            hint="give a postgresql://USER@HOST/DATABASE URL",
        )
    if not parsed.database:
        raise BadInput(f"'{redact(url)}' names no database",
                       hint="add the database name: postgresql://USER@HOST/DATABASE")
    return parsed.set(drivername="postgresql+psycopg2")


def sqlalchemy_url(url: str | URL) -> str:
    """The URL as a string SQLAlchemy will route to psycopg2 (password kept)."""
    parsed = url if isinstance(url, URL) else parse(url)
    return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def libpq_dsn(url: str | URL) -> str:
    """A libpq connection string (for psycopg2.connect, pg_dump, psql) from a URL."""
    parsed = url if isinstance(url, URL) else parse(url)
    parts: dict[str, str] = {}
    if parsed.host:
        parts["host"] = parsed.host
    if parsed.port:
        parts["port"] = str(parsed.port)
    if parsed.username:
        parts["user"] = parsed.username
    if parsed.password:
        parts["password"] = str(parsed.password)
    if parsed.database:
        parts["dbname"] = parsed.database
    for key, value in parsed.query.items():
        # unix-socket URLs carry the socket directory as ?host=/path
        parts[key] = value if isinstance(value, str) else value[-1]
    return " ".join(f"{k}={_quote(v)}" for k, v in parts.items())


def with_database(url: str | URL, database: str) -> str:
    parsed = url if isinstance(url, URL) else parse(url)
    return sqlalchemy_url(parsed.set(database=database))


def _quote(value: str) -> str:
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_PASSWORD_IN_URL = re.compile(r"""(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s\[\]]*:)(?P<pw>[^\s'"]+)(?P<tail>@)""", re.I)
_PASSWORD_IN_DSN = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)


def redact(text: str) -> str:
    """Hide passwords in any text that may hold URLs or libpq DSNs."""
    if not text:
        return text
    text = _PASSWORD_IN_URL.sub(lambda m: m["head"] + "***" + m["tail"], str(text))
    return _PASSWORD_IN_DSN.sub(lambda m: m["head"] + "***", text)
