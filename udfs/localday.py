"""The local-day rule: which calendar date an instant is paid on, and where days split.

This module is the only place that turns instants into pay dates (docs/contracts.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from udfs.timefmt import DAY_MS, from_datetime, to_datetime

MINUTE_MS = 60_000
DAY_MINUTES = 24 * 60
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SAMPLE_MS = 30 * MINUTE_MS  # no zone changes its offset twice within half an hour


@dataclass(frozen=True, slots=True)
class DayPart:
    """The piece of an interval that falls on one local calendar day."""

    pay_date: date
    start_ms: int
    end_ms: int


def pay_date(instant_ms: int, tz: ZoneInfo) -> date:
    """The calendar date of ``instant_ms`` on the zone's wall clock (DST-aware).

    Whole seconds suffice: offsets are whole seconds, so no local midnight falls inside one.
    ``fromtimestamp`` with the zone converts from UTC directly (what ``astimezone`` does
    after building the UTC datetime), half the cost for every event the parser dates.
    """
    return datetime.fromtimestamp(instant_ms // 1000, tz).date()


@lru_cache(maxsize=4096)
def day_start_ms(day: date, tz: ZoneInfo) -> int:
    """First instant of local ``day``; a midnight skipped by DST maps to the transition.

    Cached: a pure function of its arguments, asked for every pay line (where the day ends)
    with few distinct days.
    """
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


def utc_offset_ms(instant_ms: int, tz: ZoneInfo) -> int:
    """The zone's UTC offset at ``instant_ms``, in milliseconds (wall clock = instant + offset)."""
    offset = to_datetime(instant_ms).astimezone(tz).utcoffset()
    assert offset is not None  # an aware datetime always has one
    return (offset.days * 86_400 + offset.seconds) * 1000 + offset.microseconds // 1000


def offset_pieces(start_ms: int, end_ms: int, tz: ZoneInfo) -> list[tuple[int, int, int]]:
    """``[start, end)`` cut where the zone's UTC offset changes: ``(start, end, offset_ms)``.

    Offsets are sampled every 30 minutes and each change is found to the millisecond by
    bisection, so a DST transition anywhere in the range is found without a table of them.
    """
    if end_ms <= start_ms:
        return []
    samples = [*range(start_ms, end_ms, _SAMPLE_MS), end_ms - 1]
    pieces: list[tuple[int, int, int]] = []
    piece_start, offset = start_ms, utc_offset_ms(start_ms, tz)
    for a, b in pairwise(samples):
        if utc_offset_ms(b, tz) == offset:
            continue
        lo, hi = a, b  # offset(lo) == offset, offset(hi) differs: find the first changed instant
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if utc_offset_ms(mid, tz) == offset:
                lo = mid
            else:
                hi = mid
        pieces.append((piece_start, hi, offset))
        piece_start, offset = hi, utc_offset_ms(hi, tz)
    pieces.append((piece_start, end_ms, offset))
    return pieces


def wall_clock_ranges(
    day: date, start_minute: int, end_minute: int, tz: ZoneInfo
) -> list[tuple[int, int]]:
    """The instants of local ``day`` whose wall-clock time of day is in ``[start, end)``.

    Minutes count from local midnight; ``end_minute`` may be 1440 (the next midnight). The
    rule is literal wall-clock membership, so it is DST-correct by construction: on a
    spring-forward day, 02:30-04:00 in Los Angeles is 03:00-04:00 PDT (60 minutes: 02:00-03:00
    does not exist); on a fall-back day, 01:30-02:00 is both 01:30-02:00 PDT and 01:30-02:00
    PST (two half-hours). Half-open, like every window.
    """
    if not 0 <= start_minute <= end_minute <= DAY_MINUTES:
        raise ValueError(f"not a time range within a day: {start_minute}..{end_minute}")
    midnight_wall = (day.toordinal() - _EPOCH_ORDINAL) * DAY_MS
    wall_start = midnight_wall + start_minute * MINUTE_MS
    wall_end = midnight_wall + end_minute * MINUTE_MS
    ranges: list[tuple[int, int]] = []
    for a, b, offset in offset_pieces(day_start_ms(day, tz), day_end_ms(day, tz), tz):
        s, e = max(a, wall_start - offset), min(b, wall_end - offset)
        if s < e:
            ranges.append((s, e))
    return ranges
