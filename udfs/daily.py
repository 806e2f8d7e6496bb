"""Daily totals per ``(driver_id, pay_date)``: idempotent sums, versions and finalization.

This stage admits lines to the ledger. It remembers every ``line_id`` it applied, and which
intervals are in effect, for as long as it keeps the day, so a line re-sent hours later (a
producer replaying its outbox after the order's state is gone) is counted once — as a duplicate,
audited — never paid twice. Lines for a day whose state is already gone go to an explicit output
for reconciliation instead of the ledger; a correction from reconciliation restates such a day
from the row it carries, and only its id is kept, so a replay of it is a duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping, MutableSet
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from udfs.ledger import LineKind, PayLine
from udfs.localday import day_end_ms
from udfs.money import from_minor
from udfs.timefmt import format_ms
from udfs.zones import Zone

# A driver-day with more lines than this is not a day of deliveries; further lines are
# quarantined, which also bounds this key's state (docs/contracts.md §2, "What is never paid").
MAX_LINES_PER_DAY = 5_000


class Verdict(StrEnum):
    """What happened to one line at its driver-day."""

    APPLIED = "APPLIED"
    DUPLICATE = "DUPLICATE"  # same line_id seen, or its interval already paid / not in effect
    BEYOND_RETENTION = "BEYOND_RETENTION"  # the day's state is gone: reconciliation's job
    OVER_CAP = "OVER_CAP"
    # overlaps time of the same order already paid under another identity: a re-send after the
    # order's state is gone that is priced or bounded differently (a new zones version, events
    # the first pass never saw). Not applied: reconcile decides which one is right.
    OVERLAPS_PAID = "OVERLAPS_PAID"
    # in another currency than the day's (its first line's): a driver-day has one currency
    # (docs/contracts.md §2), and minor units of two currencies never add up. Quarantined.
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    # a correction for a day whose state is gone, carrying the day as its corrector read it:
    # emitted as that day plus this line; only the line's id is kept (DailyTotals.on_line)
    RESTATED = "RESTATED"


# A paid stretch of one order on one day: the line's [start, end) and its interval key.
Span = tuple[int, int, str]


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
    # Line ids applied or refused as duplicates, and interval keys currently paid: only
    # membership, add, discard and len are used, so the job can keep them in keyed map state
    # (jobs.state_set) instead of rewriting whole lists per line.
    seen: MutableSet[str] = field(default_factory=set)
    in_effect: MutableSet[str] = field(default_factory=set)
    # Per order, the spans of its lines in effect (only get, set and delete are used).
    spans: MutableMapping[str, tuple[Span, ...]] = field(default_factory=dict)
    # Set when this is not the day but a memo of the corrections restated after the day's state
    # was gone: ``seen`` holds their ids until the watermark passes this instant, so a replayed
    # correction is a duplicate, not a second ledger record (DailyTotals._restate).
    restated_until_ms: int | None = None


@dataclass(frozen=True)
class DayBase:
    """A driver-day as a corrector read it, just before one correction line.

    ``driverpay reconcile`` sends it with each correction: the served total, line count and
    version, plus the corrections before this one in the same run. The daily stage uses it only
    for a day whose state is gone (beyond retention), where nothing else knows the total the
    correction applies to.
    """

    total_minor: int
    line_count: int
    version: int


@dataclass
class DailyStep:
    """What one transition produced: the verdict, an updated total, the next timer, or discard."""

    verdict: Verdict = Verdict.APPLIED
    emit: dict[str, Any] | None = None
    timer_ms: int | None = None
    discard: bool = False


@dataclass(frozen=True)
class DailyTotals:
    """Finalize a day at local midnight + ``grace_ms``; then keep it ``retention_ms`` longer.

    Keeping a final day lets post-final adjustments land on the right base total, and keeps
    its line ids for deduplication.
    """

    zones: Mapping[str, Zone]  # timezones only: no zones version may change them
    grace_ms: int
    retention_ms: int
    max_lines: int = MAX_LINES_PER_DAY

    def on_line(
        self,
        state: DailyState | None,
        line: PayLine,
        event_ms: int,
        watermark_ms: int,
        base: DayBase | None = None,
    ) -> tuple[DailyState | None, DailyStep]:
        """Apply one ledger line (or reversal) to its day, at most once.

        ``base``: what a correction says its day stood at; used only once the day's state is
        gone, to restate the day with the correction (``Verdict.RESTATED``). ``state`` is then
        None or the memo of the corrections restated before (``DailyState.restated_until_ms``).
        """
        zone = self.zones[line.interval.zone]
        day_end = day_end_ms(line.pay_date, zone.timezone)
        if state is None or state.restated_until_ms is not None:
            if day_end + self.grace_ms + self.retention_ms <= watermark_ms:
                if base is None:
                    return state, DailyStep(Verdict.BEYOND_RETENTION)
                return self._restate(state, base, line, day_end, event_ms, watermark_ms)
            state = DailyState(currency=line.currency, day_end_ms=day_end)
        verdict = self._admit(state, line)
        if verdict is not Verdict.APPLIED:
            return state, DailyStep(verdict, timer_ms=self._next_timer(state))
        state.total_minor += line.amount_minor
        state.line_count += -1 if line.kind is LineKind.REVERSAL else 1
        state.day_end_ms = max(state.day_end_ms, day_end)
        state.as_of_ms = max(state.as_of_ms, event_ms)
        state.post_final = state.post_final or state.final
        return state, self._emit(state, line.interval.driver_id, line.pay_date.isoformat())

    def _admit(self, state: DailyState, line: PayLine) -> Verdict:
        verdict = self._admit_id(state, line)
        if verdict is not Verdict.APPLIED:
            return verdict
        key, order = line.interval_key, line.interval.order_id
        spans = state.spans.get(order, ())
        if line.kind is LineKind.REVERSAL:
            if key not in state.in_effect:
                return Verdict.DUPLICATE  # nothing in effect to cancel
            state.in_effect.discard(key)
            _set_spans(state, order, tuple(s for s in spans if s[2] != key))
        else:
            if key in state.in_effect:
                return Verdict.DUPLICATE  # this interval is already paid under another id
            if any(_overlap(span, line) for span in spans):
                return Verdict.OVERLAPS_PAID
            state.in_effect.add(key)
            if line.start_ms < line.end_ms:
                _set_spans(state, order, (*spans, (line.start_ms, line.end_ms, key)))
        return Verdict.APPLIED

    def _restate(
        self,
        memo: DailyState | None,
        base: DayBase,
        line: PayLine,
        day_end: int,
        event_ms: int,
        watermark_ms: int,
    ) -> tuple[DailyState | None, DailyStep]:
        """The day as ``base`` says it stood, plus ``line``: one final version.

        The day's state stays gone; what is kept is a memo of the restated corrections' ids
        (``memo``, or a new one) for ``retention_ms`` of event time, as long as the corrections
        topic keeps them, so a replayed correction is a duplicate and not a second ledger
        record. Past the memo, the same correction restates the same total again: never paid
        twice, though its ledger record may then appear again under its id.
        """
        if memo is None:
            memo = DailyState(line.currency, final=True, post_final=True, day_end_ms=day_end)
            memo.restated_until_ms = watermark_ms + self.retention_ms  # kept even if refused
        verdict = self._admit_id(memo, line)
        if verdict is not Verdict.APPLIED:
            return memo, DailyStep(verdict, timer_ms=memo.restated_until_ms)
        memo.total_minor = base.total_minor + line.amount_minor
        memo.line_count = base.line_count + (-1 if line.kind is LineKind.REVERSAL else 1)
        memo.version = base.version
        memo.day_end_ms = day_end
        memo.as_of_ms = event_ms
        memo.restated_until_ms = watermark_ms + self.retention_ms
        step = self._emit(memo, line.interval.driver_id, line.pay_date.isoformat())
        return memo, replace(step, verdict=Verdict.RESTATED)

    def _admit_id(self, state: DailyState, line: PayLine) -> Verdict:
        """The checks a day and a memo of restated corrections share: id, cap, currency.

        The id is remembered even when the line is refused, so a re-send is a duplicate and
        not quarantined twice.
        """
        if line.line_id in state.seen:
            return Verdict.DUPLICATE
        if len(state.seen) >= self.max_lines:
            return Verdict.OVER_CAP
        state.seen.add(line.line_id)
        if line.currency != state.currency:
            return Verdict.CURRENCY_MISMATCH
        return Verdict.APPLIED

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
        """When a final day, or a memo of restated corrections (final too), is discarded."""
        if state.restated_until_ms is not None:
            return state.restated_until_ms
        return state.day_end_ms + self.grace_ms + self.retention_ms


def _overlap(span: Span, line: PayLine) -> bool:
    """Half-open ``[start, end)`` ranges that share time; an empty one shares none."""
    return span[0] < line.end_ms and line.start_ms < span[1] and line.start_ms < line.end_ms


def _set_spans(state: DailyState, order: str, spans: tuple[Span, ...]) -> None:
    if spans:
        state.spans[order] = spans
    elif order in state.spans:
        del state.spans[order]


def daily_json(record: dict[str, Any]) -> str:
    """Canonical JSON for a daily-total record."""
    return json.dumps(record, separators=(",", ":"))
