"""The run registry: one JSON file per run naming every throwaway resource it created.

A resource is written here *before* it is created, so whatever kills the owner (an
exception, Ctrl-C, SIGTERM, SIGKILL, a power cut) leaves a record that
:func:`rehearse.staging.gc.collect` can act on once the owner pid is gone. The owner is
identified by pid *and* process start time, so a recycled pid is not mistaken for it.
Records live under ``$REHEARSE_CACHE_DIR/runs`` (default ``~/.cache/rehearse/runs``).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Iterator


def cache_dir() -> Path:
    """Where rehearse keeps caches, templates and the run registry."""
    if os.environ.get("REHEARSE_CACHE_DIR"):
        base = Path(os.environ["REHEARSE_CACHE_DIR"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rehearse"
    base.mkdir(parents=True, exist_ok=True)
    return base


def runs_dir() -> Path:
    path = cache_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def hostname() -> str:
    return socket.gethostname()


def process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after the last ')'
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":  # a zombie has finished; only its parent has not reaped it yet
        return None
    return fields[19]


def pid_alive(pid: int, start: str | None = None) -> bool:
    """True while ``pid`` runs (and, when ``start`` is given, is the same process)."""
    now = process_start(pid)
    if now is None:
        if not Path("/proc").is_dir():  # not Linux: fall back to kill(0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        return False
    return start is None or now == start


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(data, indent=2))
    os.chmod(tmp, 0o600)  # server records may hold an admin URL with a password
    os.replace(tmp, path)


class RunRecord:
    """The registry file of one run, owned by the current process."""

    def __init__(self, run_id: str) -> None:
        # claim the name exclusively: two live runs with one id would share scratch names
        for attempt in range(20):
            candidate = run_id if attempt == 0 else f"{run_id[:32]}_{uuid.uuid4().hex[:6]}"
            path = runs_dir() / f"{candidate}.json"
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(f"no free run id like {run_id} in {runs_dir()}")
        self.run_id = candidate
        self.path = path
        pid = os.getpid()
        self.data: dict[str, Any] = {
            "run_id": run_id, "pid": pid, "pid_start": process_start(pid), "host": hostname(),
            "created": time.time(), "kept": False, "resources": [],
        }
        _write(self.path, self.data)

    def add(self, kind: str, **info: Any) -> dict[str, Any]:
        """Record a resource about to be created; returns the entry (pass it to :meth:`drop`)."""
        entry = {"kind": kind, "id": uuid.uuid4().hex[:8], **info}
        self.data["resources"].append(entry)
        _write(self.path, self.data)
        return entry

    def update(self, entry: dict[str, Any], **info: Any) -> None:
        entry.update(info)
        _write(self.path, self.data)

    def drop(self, entry: dict[str, Any]) -> None:
        """Forget a resource that has been removed."""
        self.data["resources"] = [r for r in self.data["resources"] if r.get("id") != entry.get("id")]
        _write(self.path, self.data)

    def mark_kept(self, hint: str = "") -> None:
        """--keep: gc leaves these resources alone until asked for kept ones too."""
        self.data["kept"] = True
        self.data["hint"] = hint
        _write(self.path, self.data)

    def close(self) -> None:
        """All resources are gone: remove the record."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def records() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every readable run record (including ones a gc has claimed)."""
    for path in sorted(runs_dir().glob("*.json*")):
        if path.name.startswith("."):
            continue
        try:
            yield path, json.loads(path.read_text())
        except (OSError, ValueError):
            continue
