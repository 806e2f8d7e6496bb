"""Recurring (weekly) peak windows with dated overrides, in the zone's wall clock.

A zone lists dated windows (``peak_windows``: explicit local date-times, the original format)
and recurring ones (``weekly_peaks``: weekdays + local start/end time of day). The rule, in
docs/contracts.md §3:

- a **local date on which any dated window starts** uses only the dated windows; on every other
  date the weekly windows of its weekday apply (dated windows always apply where they are, so a
  dated window running past midnight still covers the next date's first hours);
- a weekly window covers the instants of a matching local date whose wall-clock time of day is
  in ``[start, end)`` (``udfs.localday.wall_clock_ranges``: DST-correct by construction);
- where windows overlap the largest multiplier wins, as everywhere (windows never stack).

Weekly windows never end, so they are expanded per local date, only for the dates a priced
span touches, into an ordinary :class:`PeakSchedule` (cached): ``W(t)`` stays the one way
weighted time is computed.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from udfs.localday import day_end_ms, day_start_ms, pay_date, wall_clock_ranges
from udfs.schedule import PeakSchedule, PeakWindow

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_CACHE_SIZE = 256  # date ranges kept expanded per zone (a day's pricing touches one or two)


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """Every listed weekday (0 = Monday), local ``[start_minute, end_minute)`` of the day."""

    days: frozenset[int]
    start_minute: int
    end_minute: int
    multiplier: Decimal

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise ValueError(f"weekly window needs weekdays 0..6: {sorted(self.days)}")
        if not 0 <= self.start_minute < self.end_minute <= 24 * 60:
            raise ValueError(f"weekly window must start before it ends within a day: {self}")
        if self.multiplier < 0:
            raise ValueError(f"negative multiplier: {self.multiplier}")

    def spec(self) -> str:
        """Stable text of the window, for fingerprints."""
        days = ",".join(WEEKDAYS[d] for d in sorted(self.days))
        return f"{days}/{self.start_minute}-{self.end_minute}x{self.multiplier.normalize()}"


class WeeklySchedule:
    """Dated windows plus weekly windows of one zone, as a :class:`udfs.schedule.Schedule`."""

    __slots__ = ("_cache", "_dated", "_dated_dates", "_tz", "_weekly", "version")

    def __init__(
        self, dated: Sequence[PeakWindow], weekly: Sequence[WeeklyWindow], tz: ZoneInfo
    ) -> None:
        self._dated = sorted(dated, key=lambda w: (w.start_ms, w.end_ms))
        self._weekly = tuple(weekly)
        self._tz = tz
        self._dated_dates = frozenset(pay_date(w.start_ms, tz) for w in self._dated)
        self._cache: OrderedDict[tuple[date, date], PeakSchedule] = OrderedDict()
        text = "|".join(
            [tz.key, PeakSchedule(self._dated).version, *(w.spec() for w in self._weekly)]
        )
        self.version = hashlib.sha256(text.encode()).hexdigest()[:16]

    def weighted_ms(self, start_ms: int, end_ms: int) -> Decimal:
        """Weighted duration of ``[start, end)`` (zero for a zero-length span)."""
        if end_ms < start_ms:
            raise ValueError(f"interval ends before it starts: [{start_ms}, {end_ms})")
        return self._around(start_ms, end_ms).weighted_ms(start_ms, end_ms)

    def segments_between(self, start_ms: int, end_ms: int) -> list[tuple[int, int, Decimal]]:
        """The expanded step function's segments that overlap ``[start, end)``."""
        return self._around(start_ms, end_ms).segments_between(start_ms, end_ms)

    def windows_on(self, day: date) -> list[PeakWindow]:
        """The windows that decide local ``day``: dated ones if any starts on it, else weekly."""
        if day in self._dated_dates:
            return []  # the dated windows are always part of the schedule
        windows = []
        for w in self._weekly:
            if day.weekday() in w.days:
                for s, e in wall_clock_ranges(day, w.start_minute, w.end_minute, self._tz):
                    windows.append(PeakWindow(s, e, w.multiplier))
        return windows

    def _around(self, start_ms: int, end_ms: int) -> PeakSchedule:
        """A schedule exact on ``[start, end)``: every window that overlaps it, expanded."""
        first = pay_date(start_ms, self._tz) - timedelta(days=1)
        last = pay_date(end_ms, self._tz) + timedelta(days=1)
        key = (first, last)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        lo, hi = day_start_ms(first, self._tz), day_end_ms(last, self._tz)
        windows = [w for w in self._dated if w.end_ms > lo and w.start_ms < hi]
        day = first
        while day <= last:
            windows += self.windows_on(day)
            day += timedelta(days=1)
        schedule = PeakSchedule(windows)
        self._cache[key] = schedule
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return schedule
