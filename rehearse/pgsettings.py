"""The server's own list of configuration settings (``postgres --describe-config``), read without a
database: ``--setting name=value`` is checked against it before any work starts."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from .errors import BadInput

# how a setting can be changed on a running staging database (pg_settings.context)
PER_DATABASE = ("user", "superuser")  # ALTER DATABASE ... SET: new sessions see it
RELOAD = ("sighup",)  # ALTER SYSTEM SET + pg_reload_conf()


@functools.lru_cache(maxsize=4)
def describe_config(bindir: str) -> dict[str, str]:
    """name -> context, from the server binary itself."""
    out = subprocess.run([str(Path(bindir) / "postgres"), "--describe-config"], capture_output=True, text=True,
                         timeout=30).stdout
    return {line.split("\t")[0].lower(): line.split("\t")[1] for line in out.splitlines() if "\t" in line}


def check_settings(pairs: tuple[tuple[str, str], ...], bindir: str) -> tuple[tuple[str, str], ...]:
    """BadInput for a setting the server does not have or cannot change without a restart."""
    known = describe_config(bindir)
    for name, _ in pairs:
        context = known.get(name.lower())
        if context is None:
            close = sorted(k for k in known if name.lower()[:5] in k)[:3]
            raise BadInput(f"--setting {name}: PostgreSQL has no such setting",
                           hint=f"check the name in pg_settings{' (did you mean ' + ', '.join(close) + '?)' if close else ''}")
        if context not in PER_DATABASE + RELOAD:
            raise BadInput(f"--setting {name}: it can only be set at server start ({context}), which staging "
                           f"does not restart for", hint="give settings that a reload or ALTER DATABASE can change")
    return tuple((n.lower(), v) for n, v in pairs)
