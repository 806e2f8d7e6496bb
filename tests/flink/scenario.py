"""Hand-written event sequences, one order per story, written in the order they arrive.

All local times are America/Los_Angeles (UTC-8 in November); the sf peak is 11:00-13:00 x2 and
the base rate is 0.30/min, so each expected amount can be checked by hand.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

LA = ZoneInfo("America/Los_Angeles")
DAY = "2026-11-24"
NEXT_DAY = "2026-11-25"


def local(day: str, hhmm: str) -> str:
    """RFC 3339 UTC for a wall-clock time in Los Angeles."""
    moment = datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=LA)
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Story:
    """Builds the arrival-ordered lines of the scenario file."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def event(self, eid: str, order: str, driver: str, kind: str, at: str, day: str = DAY) -> str:
        line = json.dumps(
            {
                "event_id": eid,
                "order_id": order,
                "driver_id": driver,
                "type": kind,
                "event_time": local(day, at),
                "zone": "sf",
            }
        )
        self.lines.append(line)
        return line

    def raw(self, text: str) -> int:
        self.lines.append(text)
        return len(self.lines)  # 1-based line number = the dead-letter position

    def write(self, path: Path) -> Path:
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        return path


MALFORMED: dict[str, str] = {
    "not json at all": "invalid JSON",
    json.dumps(
        {
            "event_id": "m-1",
            "order_id": "o-x",
            "type": "ACCEPTED",
            "event_time": "2026-11-24T10:00:00Z",
            "zone": "sf",
        }
    ): "driver_id: required",
    json.dumps(
        {
            "event_id": "m-2",
            "order_id": "o-x",
            "driver_id": "d-x",
            "type": "ACCEPTED",
            "event_time": "2026-11-24T10:00:00Z",
            "zone": "atlantis",
        }
    ): "zone: unknown zone",
    json.dumps(
        {
            "event_id": "m-3",
            "order_id": "o-x",
            "driver_id": "d-x",
            "type": "ACCEPTED",
            "event_time": "2026-11-24 10:00",
            "zone": "sf",
        }
    ): "event_time:",
    json.dumps(
        {
            "event_id": "m-4",
            "order_id": "o-x",
            "driver_id": "d-x",
            "type": "ACCEPTED",
            "event_time": "2026-11-24T10:00:00Z",
            "zone": "sf",
            "schema_version": 2,
        }
    ): "schema_version: unsupported major version 2",
}


def build(path: Path, filler: int) -> tuple[Path, dict[str, int]]:
    """Write the scenario; returns the file and the line number of each malformed record."""
    s = Story()  # stories in roughly the order of the day, as a live stream would bring them
    s.event("zero-a", "o-zero", "d-zero", "ACCEPTED", "07:00")
    s.event("zero-d", "o-zero", "d-zero", "DELIVERED", "07:00")
    s.event("cancel-a", "o-cancel", "d-cancel", "ACCEPTED", "08:00")
    s.event("cancel-c", "o-cancel", "d-cancel", "CANCELLED", "08:15")
    s.event("re-a1", "o-reassign", "d-first", "ACCEPTED", "09:00")
    s.event("re-u", "o-reassign", "d-first", "UNASSIGNED", "09:10")
    s.event("re-a2", "o-reassign", "d-second", "ACCEPTED", "09:20")
    s.event("re-d", "o-reassign", "d-second", "DELIVERED", "09:50")
    s.event("simple-a", "o-simple", "d-simple", "ACCEPTED", "10:00")
    s.event("simple-p", "o-simple", "d-simple", "PICKED_UP", "10:10")
    s.event("simple-d", "o-simple", "d-simple", "DELIVERED", "10:30")
    s.event("peak-a", "o-peak", "d-peak", "ACCEPTED", "10:30")
    s.event("peak-d", "o-peak", "d-peak", "DELIVERED", "11:30")
    s.event("stranger-a", "o-stranger", "d-owner", "ACCEPTED", "12:30")
    s.event("stranger-d", "o-stranger", "d-stranger", "DELIVERED", "12:50")
    s.event("ooo-d", "o-ooo", "d-ooo", "DELIVERED", "14:40")  # the end arrives first
    s.event("ooo-a", "o-ooo", "d-ooo", "ACCEPTED", "14:00")
    dup_a = s.event("dup-a", "o-dup", "d-dup", "ACCEPTED", "15:00")
    s.raw(dup_a)
    dup_d = s.event("dup-d", "o-dup", "d-dup", "DELIVERED", "15:20")
    s.raw(dup_d)
    s.event("fix-a", "o-fix", "d-fix", "ACCEPTED", "16:00")
    s.event("fix-d", "o-fix", "d-fix", "DELIVERED", "17:00")
    s.event("fix-u", "o-fix", "d-fix", "UNASSIGNED", "16:20")  # arrives after it was paid
    s.event("fix-a2", "o-fix", "d-fix", "ACCEPTED", "16:30")
    s.event("slow-d", "o-slowstart", "d-slow", "DELIVERED", "20:00")  # its start comes ~7 h late
    s.event("twice-a", "o-twice", "d-twice", "ACCEPTED", "19:00")
    s.event("twice-d1", "o-twice", "d-twice", "DELIVERED", "19:30")
    s.event("twice-d2", "o-twice", "d-twice", "DELIVERED", "19:45")
    s.event("late-a", "o-late", "d-simple", "ACCEPTED", "23:00")
    s.event("night-a", "o-night", "d-night", "ACCEPTED", "23:50")
    s.event("night-d", "o-night", "d-night", "DELIVERED", "00:20", day=NEXT_DAY)
    positions = {text: s.raw(text) for text in MALFORMED}
    # Time moves on: events of the next morning push the watermark past the first day's
    # midnight + 1 h grace, so 2026-11-24 becomes final before the late delivery below.
    for i in range(filler):
        minute = f"{2 + i * 60 // max(filler, 1) // 60:02d}:{i * 60 // max(filler, 1) % 60:02d}"
        s.event(f"fill-a{i}", f"o-fill{i}", "d-filler", "ACCEPTED", minute, day=NEXT_DAY)
        s.event(f"fill-d{i}", f"o-fill{i}", "d-filler", "DELIVERED", minute, day=NEXT_DAY)
    s.event("late-d", "o-late", "d-simple", "DELIVERED", "23:20")  # late, for a final day
    s.event("slow-a", "o-slowstart", "d-slow", "ACCEPTED", "19:30")  # > grace, < max_open late
    return s.write(path), {MALFORMED[text]: line for text, line in positions.items()}
