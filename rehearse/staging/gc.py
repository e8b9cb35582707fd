"""Garbage collection: remove what runs that died (SIGKILL, power loss) left behind.

A run's registry record names its resources; once the owner pid is gone (checked with the
process start time, on this host), its clusters are stopped and deleted, its containers
removed and its scratch databases dropped. Runs kept with ``--keep`` are left alone
unless ``include_kept``. Containers are also found by their ``org.rehearse.run_id`` label,
in case a record was lost. Safe to run while other rehearse runs are active. How to remove
each kind of resource is registered by the backend that creates it (:mod:`.interface`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from . import registry
from .interface import remove_resource, sweepers

log = logging.getLogger("rehearse.staging")


def _owner_alive(rec: dict[str, Any]) -> bool:
    if rec.get("host") != registry.hostname():
        return True  # not ours to judge: the record belongs to another machine
    return registry.pid_alive(int(rec.get("pid", 0)), rec.get("pid_start"))


def collect(*, quiet: bool = False, include_kept: bool = False, docker: bool = True) -> list[str]:
    """Remove resources whose owner is gone; returns one line per thing removed.

    ``include_kept`` also removes runs kept with --keep (``rehearse gc --kept``);
    ``docker`` also runs the backends' scans for unrecorded leftovers, i.e. labelled containers
    of dead runs (needs a reachable engine).
    """
    done: list[str] = []
    me = os.getpid()
    for path in registry.runs_dir().glob("*.json"):
        try:  # a record whose owner died between claiming the name and writing it
            if path.stat().st_size == 0 and time.time() - path.stat().st_mtime > 60:
                path.unlink()
        except OSError:
            pass
    for path, rec in registry.records():
        claimed_by = path.name.rsplit(".gc-", 1)[1] if ".gc-" in path.name else None
        if claimed_by is not None:
            if registry.pid_alive(int(claimed_by)):
                continue  # another gc is on it
        elif _owner_alive(rec) or (rec.get("kept") and not include_kept):
            continue
        # claim the record so two gcs never remove the same things at once
        claim = path.with_name(f"{rec.get('run_id', path.stem)}.json.gc-{me}")
        try:
            os.rename(path, claim)
        except OSError:
            continue
        ok = True
        for res in reversed(rec.get("resources", [])):
            try:
                line = remove_resource(res)
            except Exception as exc:
                ok = False
                log.warning("gc: could not remove %s: %s", res.get("kind"), exc)
                continue
            if line:
                done.append(f"{line} (run {rec.get('run_id')})")
        if ok:
            claim.unlink(missing_ok=True)
        else:
            os.rename(claim, path)  # try again next time
    if docker:
        for name, sweep in sweepers().items():
            try:
                done += sweep(include_kept=include_kept)
            except Exception as exc:
                log.debug("gc: %s scan skipped: %s", name, exc)
    if not quiet:
        for line in done:
            print(f"rehearse gc: {line}", file=sys.stderr)
    return done
