"""The local-day rule: which calendar date an instant is paid on, and where days split.

This module is the only place that turns instants into pay dates (docs/contracts.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from udfs.timefmt import from_datetime, to_datetime


@dataclass(frozen=True, slots=True)
class DayPart:
    """The piece of an interval that falls on one local calendar day."""

    pay_date: date
    start_ms: int
    end_ms: int


def pay_date(instant_ms: int, tz: ZoneInfo) -> date:
    """The calendar date of ``instant_ms`` on the zone's wall clock (DST-aware)."""
    return to_datetime(instant_ms).astimezone(tz).date()


def day_start_ms(day: date, tz: ZoneInfo) -> int:
    """First instant of local ``day``; a midnight skipped by DST maps to the transition."""
    return from_datetime(datetime.combine(day, time(0), tzinfo=tz))


def day_end_ms(day: date, tz: ZoneInfo) -> int:
    """Exclusive end of local ``day`` (the start of the next one)."""
    return day_start_ms(day + timedelta(days=1), tz)


def split_by_local_day(start_ms: int, end_ms: int, tz: ZoneInfo) -> list[DayPart]:
    """Split ``[start, end)`` at local midnights; a zero-length interval yields one empty part."""
    parts: list[DayPart] = []
    cursor = start_ms
    while True:
        day = pay_date(cursor, tz)
        boundary = max(day_end_ms(day, tz), cursor + 1)
        if end_ms <= boundary:
            parts.append(DayPart(day, cursor, end_ms))
            return parts
        parts.append(DayPart(day, cursor, boundary))
        cursor = boundary
