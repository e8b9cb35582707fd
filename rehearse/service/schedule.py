"""A target's snapshot schedule: when a worker pulls a fresh anonymized snapshot, and how many it keeps.

Two forms, both in UTC::

    {"every": "24h", "keep": 7}            # an interval: slots at multiples of it since the epoch
    {"cron": "0 3 * * *", "keep": 3}       # a cron expression (croniter): 03:00 UTC every day

A bare string is read as either ("24h" or "0 3 * * *"), with ``keep`` 3. ``strict`` (default
false) refuses tables and columns the target's policy does not mention, as `rehearse snapshot
--strict` does.

A *slot* is the latest moment the schedule says a pull is due. Slots are computed from the clock
alone, never from what was pulled before, so every worker that looks at a target finds the same
slot; the service records one pull per (target, slot) under a unique key, which is how a slot is
never pulled twice however many workers look (the same idea as procrastinate's periodic defers,
applied to schedules that live in the database rather than in code).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from ..config import parse_duration
from ..errors import BadInput

DEFAULT_KEEP = 3
MIN_INTERVAL_S = 1.0


@dataclass(frozen=True)
class SnapshotSchedule:
    """One target's schedule, validated."""

    every: str | None = None
    cron: str | None = None
    keep: int = DEFAULT_KEEP
    strict: bool = False

    @property
    def every_s(self) -> float | None:
        return parse_duration(self.every) if self.every else None

    def slot(self, now: datetime) -> datetime:
        """The latest due moment at or before ``now`` (UTC)."""
        now = now.astimezone(timezone.utc)
        if self.every:
            step = self.every_s
            assert step
            return datetime.fromtimestamp((now.timestamp() // step) * step, tz=timezone.utc)
        from croniter import croniter
        return croniter(self.cron, now).get_prev(datetime).astimezone(timezone.utc)

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, sort_keys=True)


def parse_schedule(value: Any) -> SnapshotSchedule:
    """A schedule from the API's JSON (an object or a string); BadInput saying what is wrong."""
    hint = 'write {"every": "24h", "keep": 7} or {"cron": "0 3 * * *", "keep": 3}'
    if isinstance(value, str):
        text = value.strip()
        value = {"cron": text} if len(text.split()) >= 5 or text.startswith("@") else {"every": text}
    if not isinstance(value, dict):
        raise BadInput("snapshot_schedule must be an object or a string", hint=hint)
    unknown = sorted(set(value) - {"every", "cron", "keep", "strict"})
    if unknown:
        raise BadInput(f"snapshot_schedule: unknown field {unknown[0]!r}", hint=hint)
    every, cron = value.get("every"), value.get("cron")
    if (every is None) == (cron is None):
        raise BadInput("snapshot_schedule needs exactly one of every or cron", hint=hint)
    if every is not None:
        try:
            seconds = parse_duration(str(every))
        except BadInput:
            raise BadInput(f"snapshot_schedule {every!r} is neither an interval nor a cron expression",
                           hint=hint) from None
        if not seconds or seconds < MIN_INTERVAL_S:
            raise BadInput(f"snapshot_schedule.every {every!r} is shorter than {MIN_INTERVAL_S:g} s", hint=hint)
        every = str(every)
    else:
        from croniter import croniter
        if not isinstance(cron, str) or not croniter.is_valid(cron):
            raise BadInput(f"snapshot_schedule.cron {cron!r} is not a cron expression",
                           hint="five fields, minute hour day month weekday, e.g. 0 3 * * * (UTC)")
    keep = value.get("keep", DEFAULT_KEEP)
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise BadInput(f"snapshot_schedule.keep {keep!r} is not a whole number of at least 1",
                       hint="keep is how many complete snapshots stay on disk, e.g. 3")
    strict = value.get("strict", False)
    if not isinstance(strict, bool):
        raise BadInput(f"snapshot_schedule.strict {strict!r} is not true or false", hint=hint)
    return SnapshotSchedule(every=every, cron=cron, keep=keep, strict=strict)


def load_schedule(stored: str | None) -> SnapshotSchedule | None:
    """The schedule as the targets table stores it (JSON text, or a bare string written before)."""
    if not stored:
        return None
    try:
        value = json.loads(stored)
    except ValueError:
        value = stored
    return parse_schedule(value)
