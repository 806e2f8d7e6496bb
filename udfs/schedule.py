"""Peak schedules as a step function with its cumulative weighted time ``W(t)``.

``W(t) = integral of m(u) du`` up to ``t``, where ``m`` is the largest multiplier of the windows
covering ``u`` (1 where none does). An interval's weighted time is ``W(end) - W(start)``, so
peak boundaries never need slicing and half-open edges cannot be counted twice.
"""

from __future__ import annotations

import hashlib
import heapq
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from itertools import pairwise
from typing import Protocol

ONE = Decimal(1)
# W(t) is ~1e12 ms at today's epoch plus every digit of a multiplier: the default 28-digit
# context would silently round it, so the schedule's arithmetic runs with room to spare.
_EXACT = Context(prec=100)


class Schedule(Protocol):
    """A zone's peaks as pricing sees them: ``PeakSchedule`` or ``weekly.WeeklySchedule``."""

    @property
    def version(self) -> str:
        """Fingerprint of the step function (``schedule_version`` on every line)."""
        ...

    def weighted_ms(self, start_ms: int, end_ms: int) -> Decimal:
        """Weighted duration of ``[start, end)``."""
        ...

    def segments_between(self, start_ms: int, end_ms: int) -> list[tuple[int, int, Decimal]]:
        """The step function's segments that overlap ``[start, end)``."""
        ...


@dataclass(frozen=True, slots=True)
class PeakWindow:
    """A half-open ``[start_ms, end_ms)`` range paying ``multiplier`` times the base rate."""

    start_ms: int
    end_ms: int
    multiplier: Decimal

    def __post_init__(self) -> None:
        if self.end_ms < self.start_ms:
            raise ValueError(f"peak window ends before it starts: {self}")
        if self.multiplier < 0:
            raise ValueError(f"negative multiplier: {self.multiplier}")


class PeakSchedule:
    """Normalised, non-overlapping segments with the cumulative weight at each boundary."""

    __slots__ = ("_cumulative", "_points", "_rates", "version")

    def __init__(self, windows: Iterable[PeakWindow]) -> None:
        segments = _normalise(list(windows))
        self._points: list[int] = [start for start, _, _ in segments]
        self._rates: list[Decimal] = [m for _, _, m in segments]
        self._cumulative: list[Decimal] = []
        # W(p0) = p0: outside every window time counts at multiplier 1.
        total = Decimal(self._points[0]) if self._points else Decimal(0)
        for start, end, m in segments:
            self._cumulative.append(total)
            total = _EXACT.add(total, _EXACT.multiply(m, end - start))
        if segments:  # after the last window, time counts at multiplier 1 again
            self._points.append(segments[-1][1])
            self._rates.append(ONE)
            self._cumulative.append(total)
        self.version = _fingerprint(segments)

    def weight(self, t_ms: int) -> Decimal:
        """``W(t)``: cumulative weighted milliseconds at instant ``t``."""
        i = bisect_right(self._points, t_ms) - 1
        if i < 0:
            return Decimal(t_ms)
        since = _EXACT.multiply(self._rates[i], t_ms - self._points[i])
        return _EXACT.add(self._cumulative[i], since)

    def weighted_ms(self, start_ms: int, end_ms: int) -> Decimal:
        """Weighted duration of ``[start, end)``; zero for a zero-length interval."""
        if end_ms < start_ms:
            raise ValueError(f"interval ends before it starts: [{start_ms}, {end_ms})")
        return _EXACT.subtract(self.weight(end_ms), self.weight(start_ms))

    def segments(self) -> list[tuple[int, int, Decimal]]:
        """The normalised step function as ``(start, end, multiplier)`` triples."""
        return list(zip(self._points, self._points[1:], self._rates, strict=False))

    def segments_between(self, start_ms: int, end_ms: int) -> list[tuple[int, int, Decimal]]:
        """The segments that overlap ``[start, end)`` (unclipped)."""
        return [seg for seg in self.segments() if seg[1] > start_ms and seg[0] < end_ms]


def _normalise(windows: Sequence[PeakWindow]) -> list[tuple[int, int, Decimal]]:
    """Sweep the window edges into contiguous segments; overlaps take the largest multiplier.

    One pass over the sorted edges with a heap of the windows open so far keeps this
    O(n log n): asking every window about every gap was quadratic, and a zone or a
    ``driverpay pay`` request may carry many thousands of peaks. Among equal largest
    multipliers the earliest window wins, and equal neighbours merge into the earlier one,
    so the segments (down to each multiplier's exact ``Decimal`` spelling) match what
    ``max`` over the covering windows in input order gives.
    """
    points = sorted({w.start_ms for w in windows} | {w.end_ms for w in windows})
    by_start = sorted(range(len(windows)), key=lambda i: windows[i].start_ms)
    # (-multiplier, input position, end): the top is the largest multiplier, first one listed.
    # copy_negate, unlike unary minus, never rounds a long multiplier to the context precision.
    open_windows: list[tuple[Decimal, int, int]] = []
    segments: list[tuple[int, int, Decimal]] = []
    next_window = 0
    for start, end in pairwise(points):
        while next_window < len(by_start) and windows[by_start[next_window]].start_ms <= start:
            i = by_start[next_window]
            heapq.heappush(
                open_windows, (windows[i].multiplier.copy_negate(), i, windows[i].end_ms)
            )
            next_window += 1
        while open_windows and open_windows[0][2] <= start:  # closed before this gap: drop
            heapq.heappop(open_windows)
        m = windows[open_windows[0][1]].multiplier if open_windows else ONE
        if segments and segments[-1][1] == start and segments[-1][2] == m:
            segments[-1] = (segments[-1][0], end, m)  # merge equal neighbours
        else:
            segments.append((start, end, m))
    return segments


def _fingerprint(segments: Sequence[tuple[int, int, Decimal]]) -> str:
    text = ";".join(f"{s},{e},{m.normalize()}" for s, e, m in segments)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
