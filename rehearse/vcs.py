"""Git lookups: which files changed since a ref (for ``--changed-since``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .errors import BadInput


def changed_files(folder: Path, ref: str) -> set[Path]:
    """Files changed between ``ref`` and HEAD (merge-base diff when possible), plus untracked ones."""
    try:
        top = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, check=True).stdout.strip()
        diff = subprocess.run(["git", "-C", top, "diff", "--name-only", f"{ref}...HEAD"], capture_output=True,
                              text=True)
        if diff.returncode != 0:
            diff = subprocess.run(["git", "-C", top, "diff", "--name-only", ref], capture_output=True, text=True)
        if diff.returncode != 0:
            raise BadInput(f"--changed-since {ref} is neither a revision of this project nor a git ref",
                           hint="give a revision id, or a git ref such as origin/main")
        untracked = subprocess.run(["git", "-C", top, "ls-files", "--others", "--exclude-standard"],
                                   capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise BadInput(f"--changed-since {ref} is not a revision of this project, and the project is not in a "
                       f"git checkout", hint="give a revision id") from None
    names = diff.stdout.split() + untracked.split()
    return {(Path(top) / name).resolve() for name in names}
