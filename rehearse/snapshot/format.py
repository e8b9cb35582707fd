"""The snapshot directory on disk: its manifest, checksums, and reading it back safely.

Layout::

    SNAPSHOT/
      manifest.json          written last: its presence means the pull finished and passed the leak scan
      schema.dump            pg_dump --schema-only, custom format (pre-data and post-data sections)
      data/0001.copy.zst     one zstd-compressed COPY text file per table
      queries.json           (optional) production's query shapes, from pg_stat_statements; any
                             such file other stages add is listed under the manifest's "extras"

The manifest holds the sha256 of every other file; ``read_snapshot(verify=True)`` checks them all
before anything is loaded, so a tampered or truncated file is refused with its name.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from ..errors import SnapshotError
from ..model import Snapshot, SourceInfo, TableData, to_dict

MANIFEST = "manifest.json"
SCHEMA_FILE = "schema.dump"
FORMAT = "rehearse-snapshot"
FORMAT_VERSION = 1


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_manifest(directory: Path, data: Mapping[str, Any]) -> None:
    """Write the manifest atomically (temp file, fsync, rename)."""
    tmp = directory / (MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(to_dict(data), f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / MANIFEST)


def read_snapshot(path: Path, *, verify: bool = True) -> Snapshot:
    """Read a snapshot's manifest; with ``verify``, check every file against its checksum."""
    path = Path(path)
    if not path.exists():
        raise SnapshotError(f"snapshot {path} does not exist", hint="pull one with `rehearse snapshot SOURCE`")
    if not path.is_dir():
        raise SnapshotError(f"snapshot {path} is not a directory", hint="give the snapshot's directory")
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise SnapshotError(f"snapshot {path} is incomplete: it has no {MANIFEST} (the pull did not finish)",
                            hint="delete it and pull again")
    raw = manifest_path.read_bytes()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise SnapshotError(f"snapshot {path} is corrupt: {MANIFEST} is not valid JSON ({exc})",
                            hint="delete it and pull again") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotError(f"{path} is not a rehearse snapshot ({MANIFEST} lacks format={FORMAT!r})",
                            hint="give a directory written by `rehearse snapshot`")
    if data.get("version") != FORMAT_VERSION:
        raise SnapshotError(f"snapshot {path} has format version {data.get('version')}, this rehearse reads "
                            f"{FORMAT_VERSION}", hint="pull it again with this version of rehearse")
    try:
        src = data["source"]
        source = SourceInfo(**{**src, "alembic_revisions": tuple(src.get("alembic_revisions", ())),
                               "extensions": tuple(src.get("extensions", ())), "roles": tuple(src.get("roles", ()))})
        tables = tuple(TableData(**{**t, "columns": tuple(t.get("columns", ())),
                                    "anonymized_columns": tuple(t.get("anonymized_columns", ()))})
                       for t in data["tables"])
        schema = data["schema"]
    except (KeyError, TypeError) as exc:
        raise SnapshotError(f"snapshot {path} is corrupt: {MANIFEST} misses {exc}",
                            hint="delete it and pull again") from None
    if verify:
        files = [(schema["file"], schema["sha256"])] + [(t.file, t.sha256) for t in tables]
        files += [(name, extra["sha256"]) for name, extra in (data.get("extras") or {}).items()]
        for rel, expected in files:
            fp = path / rel
            if not fp.exists():
                raise SnapshotError(f"snapshot {path} is incomplete: {rel} is missing",
                                    hint="delete it and pull again")
            actual = sha256_file(fp)
            if actual != expected:
                raise SnapshotError(f"snapshot file {fp} does not match its checksum in {MANIFEST} "
                                    f"(changed or corrupted after the pull)",
                                    hint="refusing to restore it; delete the snapshot and pull again")
    return Snapshot(path=path, source=source, tables=tables, created_at=data.get("created_at", ""),
                    checksum=hashlib.sha256(raw).hexdigest(), policy_hash=data.get("policy_hash"),
                    anonymized=bool(data.get("anonymized")), leak_scan=data.get("leak_scan", {}),
                    sequences=data.get("sequences", {}),
                    extras={name: e["sha256"] for name, e in (data.get("extras") or {}).items()})


def manifest_data(snapshot_path: Path) -> dict:
    """The raw manifest (for fields the Snapshot dataclass does not carry, e.g. the schema file)."""
    return json.loads((Path(snapshot_path) / MANIFEST).read_bytes())
