"""Daily totals per ``(driver_id, pay_date)``: running sums, versions and finalization."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from udfs.localday import day_end_ms
from udfs.money import from_minor
from udfs.timefmt import format_ms
from udfs.zones import Zones


@dataclass(frozen=True, slots=True)
class LineDelta:
    """The part of a ledger line the daily total needs (``count`` is +1, or -1 for reversals)."""

    driver_id: str
    pay_date: str
    zone: str
    currency: str
    amount_minor: int
    count: int
    event_ms: int


@dataclass
class DailyState:
    """A driver-day's running total in minor units; ``version`` grows with every emission."""

    currency: str
    total_minor: int = 0
    line_count: int = 0
    version: int = 0
    final: bool = False
    post_final: bool = False
    day_end_ms: int = 0
    as_of_ms: int = 0


@dataclass
class DailyStep:
    """What one transition produced: an updated total to emit, the next timer, or discard."""

    emit: dict[str, Any] | None = None
    timer_ms: int | None = None
    discard: bool = False
    too_late: bool = False


@dataclass(frozen=True)
class DailyTotals:
    """Finalize a day at local midnight + ``grace_ms``; then keep it ``retention_ms`` longer.

    Keeping a final day lets post-final adjustments land on the right base total.
    """

    zones: Zones
    grace_ms: int
    retention_ms: int

    def on_line(
        self, state: DailyState | None, delta: LineDelta, watermark_ms: int
    ) -> tuple[DailyState | None, DailyStep]:
        """Apply one ledger line (or reversal) to its day."""
        day_end = day_end_ms(date.fromisoformat(delta.pay_date), self.zones[delta.zone].timezone)
        if state is None:
            if day_end + self.grace_ms + self.retention_ms <= watermark_ms:
                return None, DailyStep(too_late=True)  # beyond streaming retention: batch fixes
            state = DailyState(currency=delta.currency)
        state.total_minor += delta.amount_minor
        state.line_count += delta.count
        state.day_end_ms = max(state.day_end_ms, day_end)
        state.as_of_ms = max(state.as_of_ms, delta.event_ms)
        state.post_final = state.post_final or state.final
        return state, self._emit(state, delta.driver_id, delta.pay_date)

    def on_timer(
        self, state: DailyState, driver_id: str, pay_date: str, watermark_ms: int
    ) -> DailyStep:
        """Finalize once the day is past its grace; discard once past retention."""
        if state.final and watermark_ms >= self._expiry(state):
            return DailyStep(discard=True)
        if not state.final and watermark_ms >= state.day_end_ms + self.grace_ms:
            state.final = True
            return self._emit(state, driver_id, pay_date)
        return DailyStep(timer_ms=self._next_timer(state))

    def _emit(self, state: DailyState, driver_id: str, pay_date: str) -> DailyStep:
        state.version += 1
        record = {
            "driver_id": driver_id,
            "pay_date": pay_date,
            "total": str(from_minor(state.total_minor, state.currency)),
            "total_cents": state.total_minor,
            "currency": state.currency,
            "line_count": state.line_count,
            "version": state.version,
            "final": state.final,
            "post_final": state.post_final,
            "as_of": format_ms(state.as_of_ms),
        }
        return DailyStep(emit=record, timer_ms=self._next_timer(state))

    def _next_timer(self, state: DailyState) -> int:
        return self._expiry(state) if state.final else state.day_end_ms + self.grace_ms

    def _expiry(self, state: DailyState) -> int:
        return state.day_end_ms + self.grace_ms + self.retention_ms


def daily_json(record: dict[str, Any]) -> str:
    """Canonical JSON for a daily-total record."""
    return json.dumps(record, separators=(",", ":"))
