"""The anonymization key: where it comes from, and which keys are refused.

Shared by the pull (which keys every fake with it) and the edges that accept it (CLI, API), so
all of them refuse the same things before any work starts.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput

ENV = "REHEARSE_SECRET"
# a keyed hash is only as strong as its key: below 16 bytes (128 bits) a key can be guessed
MIN_BYTES = 16


@dataclass(frozen=True)
class Secret:
    key: bytes = b""
    origin: str = "random"  # "REHEARSE_SECRET", "file <path>", "argument" or "random"

    @property
    def random(self) -> bool:
        """A key made up for this run: fakes are consistent inside the snapshot, not between snapshots."""
        return self.origin == "random"


def _checked(key: bytes, origin: str) -> Secret:
    if len(key) < MIN_BYTES:
        raise BadInput(f"the anonymization secret from {origin} is {len(key)} bytes; at least {MIN_BYTES} are needed",
                       hint="use a long random string, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`")
    return Secret(key, origin)


def load_secret(secret: bytes | None = None, secret_file: Path | None = None) -> Secret:
    """The key to use: an explicit one, else --secret-file, else REHEARSE_SECRET, else a random one."""
    if secret is not None:
        return _checked(secret, "argument")
    if secret_file is not None:
        path = Path(secret_file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadInput(f"cannot read the secret file {path}: {exc.strerror or exc}",
                           hint="pass a readable file holding the secret (one line)") from None
        return _checked(data.rstrip(b"\r\n"), f"file {path}")
    env = os.environ.get(ENV)
    if env:
        return _checked(env.encode(), ENV)
    return Secret(secrets.token_bytes(32), "random")
