"""Daily totals as pure transitions: each line counted once, finalization, retention."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from udfs.daily import DailyTotals, DayBase, Verdict
from udfs.events import EventType, OrderEvent
from udfs.ledger import LineKind, PaidInterval, PayLine, lines_for
from udfs.lifecycle import OrderLifecycle, OrderState, reverse
from udfs.timefmt import parse_rfc3339_ms as ms
from udfs.zones import load_zones, parse_zones

ZONES = load_zones(Path(__file__).resolve().parents[1] / "flink" / "zones.yaml")
HOUR = 3_600_000
DAY = 24 * HOUR
AT_10 = ms("2026-11-24T18:00:00Z")  # 10:00 in Los Angeles
AT_10_30 = ms("2026-11-24T18:30:00Z")
MIDNIGHT = ms("2026-11-25T08:00:00Z")  # the end of the local day
TOTALS = DailyTotals(ZONES, grace_ms=HOUR, retention_ms=7 * DAY)
NO_WATERMARK = -(2**63)


def line(order: str = "o-1", start: int = AT_10, end: int = AT_10_30) -> PayLine:
    interval = PaidInterval(order, "d-1", "sf", start, end, f"{order}-a", f"{order}-d", "DELIVERED")
    [only] = lines_for(interval, ZONES)
    return only


def test_a_line_moves_the_total_and_emits_a_new_version() -> None:
    _state, step = TOTALS.on_line(None, line(), AT_10_30, NO_WATERMARK)
    assert step.verdict is Verdict.APPLIED
    assert step.emit is not None
    assert (step.emit["total"], step.emit["line_count"], step.emit["version"]) == ("9.00", 1, 1)
    assert step.timer_ms == MIDNIGHT + HOUR


def test_the_total_is_the_sum_of_rounded_lines_not_a_rounded_sum() -> None:
    """Three one-second lines at 0.30/min earn 0.005 each: 0.01 per line, so 0.03, not 0.02."""
    state, step = None, None
    for order in ("o-1", "o-2", "o-3"):
        one_second = line(order, AT_10, AT_10 + 1_000)
        assert one_second.amount == Decimal("0.01")
        state, step = TOTALS.on_line(state, one_second, AT_10 + 1_000, NO_WATERMARK)
    assert step is not None
    assert step.emit is not None
    assert (step.emit["total"], step.emit["line_count"]) == ("0.03", 3)


def test_the_same_line_id_again_is_a_duplicate_and_moves_nothing() -> None:
    state, _ = TOTALS.on_line(None, line(), AT_10_30, NO_WATERMARK)
    state, step = TOTALS.on_line(state, line(), AT_10_30, MIDNIGHT)
    assert step.verdict is Verdict.DUPLICATE
    assert step.emit is None
    assert state is not None
    assert state.total_minor == 900


def test_an_interval_already_paid_under_another_id_is_a_duplicate() -> None:
    adjusted = replace(line(), line_id="another-id", kind=LineKind.ADJUSTMENT, reason="r")
    state, _ = TOTALS.on_line(None, line(), AT_10_30, NO_WATERMARK)
    _, step = TOTALS.on_line(state, adjusted, AT_10_30, NO_WATERMARK)
    assert step.verdict is Verdict.DUPLICATE


def lifecycle_lines(events: list[OrderEvent], watermark: int) -> list[PayLine]:
    """What the order's lifecycle pays for ``events``, from a state of its own."""
    lifecycle = OrderLifecycle(ZONES, grace_ms=HOUR, max_open_ms=12 * HOUR)
    state, lines = OrderState(), []
    for event in events:
        lines += lifecycle.on_event(state, event, watermark).lines
    return lines


def event(event_id: str, kind: EventType, minutes: int) -> OrderEvent:
    return OrderEvent(event_id, "o-1", "d-1", kind, AT_10 + minutes * 60_000, "sf")


def test_an_outbox_replay_with_events_first_missed_does_not_pay_the_order_twice() -> None:
    """10:10-10:30, new to every id the day knows, is time of an order already paid.

    Paid 10:00-10:30 from ACCEPTED + DELIVERED; once the order's state is gone, the outbox
    replays them with the UNASSIGNED and the re-ACCEPTED it had missed.
    """
    accepted, delivered = event("a1", EventType.ACCEPTED, 0), event("d", EventType.DELIVERED, 30)
    state = None
    for paid in lifecycle_lines([accepted, delivered], NO_WATERMARK):
        state, _ = TOTALS.on_line(state, paid, AT_10_30, NO_WATERMARK)
    replayed = [
        accepted,
        event("u", EventType.UNASSIGNED, 5),
        event("a2", EventType.ACCEPTED, 10),
        delivered,
    ]
    [again] = lifecycle_lines(replayed, AT_10 + 3 * HOUR)
    state, step = TOTALS.on_line(state, again, AT_10_30, AT_10 + 3 * HOUR)
    assert step.verdict is Verdict.OVERLAPS_PAID
    assert state is not None
    assert (state.total_minor, state.line_count) == (900, 1)


def test_the_same_work_priced_under_a_newer_zones_version_is_not_paid_twice() -> None:
    paid = line()
    repriced = replace(paid, line_id="under-v2", zones_version="sha256:v2")
    assert repriced.interval_key != paid.interval_key
    state, _ = TOTALS.on_line(None, paid, AT_10_30, NO_WATERMARK)
    state, step = TOTALS.on_line(state, repriced, AT_10_30, NO_WATERMARK)
    assert step.verdict is Verdict.OVERLAPS_PAID
    assert state is not None
    assert state.total_minor == 900


def test_after_a_reversal_frees_the_time_its_correction_is_paid() -> None:
    paid = line()
    corrected = replace(paid, line_id="adjusted", kind=LineKind.ADJUSTMENT, start_ms=AT_10 + 1)
    state, _ = TOTALS.on_line(None, paid, AT_10_30, NO_WATERMARK)
    state, _ = TOTALS.on_line(state, reverse(paid, "late event"), AT_10_30, NO_WATERMARK)
    state, step = TOTALS.on_line(state, corrected, AT_10_30, NO_WATERMARK)
    assert step.verdict is Verdict.APPLIED
    assert state is not None
    assert state.spans == {"o-1": ((AT_10 + 1, AT_10_30, corrected.interval_key),)}


def test_another_order_of_the_same_driver_at_the_same_time_is_its_own_business() -> None:
    state, _ = TOTALS.on_line(None, line("o-1"), AT_10_30, NO_WATERMARK)
    state, step = TOTALS.on_line(state, line("o-2"), AT_10_30, NO_WATERMARK)
    assert step.verdict is Verdict.APPLIED


def test_a_reversal_cancels_once_and_the_original_line_can_never_come_back() -> None:
    paid = line()
    state, _ = TOTALS.on_line(None, paid, AT_10_30, NO_WATERMARK)
    state, undo = TOTALS.on_line(state, reverse(paid, "because"), AT_10_30, NO_WATERMARK)
    assert undo.verdict is Verdict.APPLIED
    assert state is not None
    assert state.total_minor == 0
    state, again = TOTALS.on_line(state, reverse(paid, "because"), AT_10_30, NO_WATERMARK)
    assert again.verdict is Verdict.DUPLICATE
    state, resent = TOTALS.on_line(state, paid, AT_10_30, NO_WATERMARK)
    assert resent.verdict is Verdict.DUPLICATE
    assert state is not None
    assert state.total_minor == 0


def test_a_day_is_final_at_local_midnight_plus_grace_and_later_lines_are_post_final() -> None:
    state, _ = TOTALS.on_line(None, line(), AT_10_30, NO_WATERMARK)
    assert state is not None
    assert TOTALS.on_timer(state, "d-1", "2026-11-24", MIDNIGHT + HOUR - 1).emit is None
    final = TOTALS.on_timer(state, "d-1", "2026-11-24", MIDNIGHT + HOUR)
    assert final.emit is not None
    assert final.emit["final"]
    assert not final.emit["post_final"]
    _, late = TOTALS.on_line(state, line("o-2"), AT_10_30, MIDNIGHT + 2 * HOUR)
    assert late.emit is not None
    assert late.emit["post_final"]
    assert late.emit["total"] == "18.00"


def test_a_duplicate_after_the_day_is_final_does_not_move_it() -> None:
    state, _ = TOTALS.on_line(None, line(), AT_10_30, NO_WATERMARK)
    assert state is not None
    TOTALS.on_timer(state, "d-1", "2026-11-24", MIDNIGHT + HOUR)
    state, step = TOTALS.on_line(state, line(), AT_10_30, MIDNIGHT + 3 * DAY)
    assert step.verdict is Verdict.DUPLICATE
    assert state is not None
    assert not state.post_final


def test_a_final_day_is_discarded_after_retention_and_later_lines_go_to_reconciliation() -> None:
    state, _ = TOTALS.on_line(None, line(), AT_10_30, NO_WATERMARK)
    assert state is not None
    TOTALS.on_timer(state, "d-1", "2026-11-24", MIDNIGHT + HOUR)
    assert TOTALS.on_timer(state, "d-1", "2026-11-24", MIDNIGHT + HOUR + 7 * DAY).discard
    gone, step = TOTALS.on_line(None, line(), AT_10_30, MIDNIGHT + HOUR + 7 * DAY)
    assert (gone, step.verdict) == (None, Verdict.BEYOND_RETENTION)


def test_lines_beyond_the_cap_are_refused() -> None:
    small = DailyTotals(ZONES, grace_ms=HOUR, retention_ms=DAY, max_lines=2)
    state = None
    verdicts = []
    for i in range(3):
        state, step = small.on_line(state, line(f"o-{i}"), AT_10_30, NO_WATERMARK)
        verdicts.append(step.verdict)
    assert verdicts == [Verdict.APPLIED, Verdict.APPLIED, Verdict.OVER_CAP]
    assert state is not None
    assert state.total_minor == 1800


def test_a_midnight_crossing_interval_lands_on_two_days_each_counted_once() -> None:
    interval = PaidInterval("o-9", "d-1", "sf", MIDNIGHT - HOUR, MIDNIGHT + HOUR, "a", "d", "X")
    first, second = lines_for(interval, ZONES)
    assert (first.pay_date, second.pay_date) == (date(2026, 11, 24), date(2026, 11, 25))
    _, a = TOTALS.on_line(None, first, MIDNIGHT, NO_WATERMARK)
    _, b = TOTALS.on_line(None, second, MIDNIGHT, NO_WATERMARK)
    assert a.verdict is b.verdict is Verdict.APPLIED


TWO_CURRENCIES = parse_zones(
    b"""
zones:
  sf: {timezone: America/Los_Angeles, currency: USD, rate_per_minute: "0.30"}
  tokyo: {timezone: Asia/Tokyo, currency: JPY, rate_per_minute: "30"}
""",
    source="two-currencies.yaml",
)
AT_20_IN_TOKYO = ms("2026-11-24T11:00:00Z")  # 20:00 on the 24th in Tokyo, 03:00 in Los Angeles


def zone_line(zone: str, start: int, order: str) -> PayLine:
    interval = PaidInterval(order, "d-1", zone, start, start + 30 * 60_000, "a", "d", "DELIVERED")
    [only] = lines_for(interval, TWO_CURRENCIES)
    return only


def test_a_line_in_another_currency_than_the_drivers_day_is_not_added_to_its_total() -> None:
    """Nine dollars and nine hundred yen are not 909 of anything."""
    totals = DailyTotals(TWO_CURRENCIES, grace_ms=HOUR, retention_ms=DAY)
    dollars, yen = zone_line("sf", AT_10, "o-sf"), zone_line("tokyo", AT_20_IN_TOKYO, "o-tokyo")
    assert (dollars.pay_date, yen.pay_date) == (date(2026, 11, 24), date(2026, 11, 24))
    assert (dollars.amount_minor, yen.amount_minor) == (900, 900)
    state, _ = totals.on_line(None, dollars, AT_10_30, NO_WATERMARK)
    state, step = totals.on_line(state, yen, AT_10_30, NO_WATERMARK)
    assert step.verdict is Verdict.CURRENCY_MISMATCH
    assert step.emit is None
    assert state is not None
    assert (state.currency, state.total_minor, state.line_count) == ("USD", 900, 1)
    state, again = totals.on_line(state, yen, AT_10_30, NO_WATERMARK)
    assert again.verdict is Verdict.DUPLICATE  # a re-send is not quarantined twice


SERVED = DayBase(total_minor=900, line_count=1, version=3)  # the day's row, as reconcile read it
GONE = MIDNIGHT + HOUR + 7 * DAY  # the watermark once the day's state has expired


def correction(order: str = "o-2", kind: LineKind = LineKind.ADJUSTMENT) -> PayLine:
    paid = line(order, AT_10_30, AT_10_30 + 20 * 60_000)  # 6.00
    return replace(paid, line_id=f"fix-{order}-{kind.value}", kind=kind, reason="reconcile r")


def test_a_correction_for_a_day_past_retention_restates_the_day_its_corrector_read() -> None:
    memo, step = TOTALS.on_line(None, correction(), AT_10_30, GONE, SERVED)
    assert step.verdict is Verdict.RESTATED
    assert step.emit is not None
    assert (step.emit["total_cents"], step.emit["line_count"], step.emit["version"]) == (
        1500,
        2,
        4,
    )
    assert (step.emit["final"], step.emit["post_final"]) == (True, True)
    assert memo is not None  # the day stays gone; the correction's id is remembered
    assert memo.seen == {"fix-o-2-ADJUSTMENT"}
    assert memo.restated_until_ms == step.timer_ms == GONE + 7 * DAY


def test_the_same_correction_twice_restates_the_same_total_not_twice_the_pay() -> None:
    """Past the memo (or with none), a replay restates the same row again, never a sum."""
    _, first = TOTALS.on_line(None, correction(), AT_10_30, GONE, SERVED)
    _, again = TOTALS.on_line(None, correction(), AT_10_30, GONE, SERVED)
    assert first.emit == again.emit


def test_a_replayed_correction_is_a_duplicate_while_the_memo_of_its_day_lasts() -> None:
    memo, _ = TOTALS.on_line(None, correction(), AT_10_30, GONE, SERVED)
    memo, replay = TOTALS.on_line(memo, correction(), AT_10_30, GONE + 3 * DAY, SERVED)
    assert (replay.verdict, replay.emit) == (Verdict.DUPLICATE, None)
    assert memo is not None
    assert memo.total_minor == 1500


def test_the_next_correction_of_a_restated_day_restates_from_its_own_base() -> None:
    """Its base is the row after the first correction: the memo's ids are all it trusts."""
    memo, _ = TOTALS.on_line(None, correction("o-2"), AT_10_30, GONE, SERVED)
    after_first = DayBase(total_minor=1500, line_count=2, version=4)
    memo, step = TOTALS.on_line(memo, correction("o-3"), AT_10_30, GONE + DAY, after_first)
    assert step.verdict is Verdict.RESTATED
    assert step.emit is not None
    assert (step.emit["total_cents"], step.emit["line_count"], step.emit["version"]) == (
        2100,
        3,
        5,
    )
    assert memo is not None
    assert memo.seen == {"fix-o-2-ADJUSTMENT", "fix-o-3-ADJUSTMENT"}
    assert memo.restated_until_ms == GONE + 8 * DAY


def test_a_streamed_line_for_a_restated_day_still_goes_to_reconciliation() -> None:
    memo, _ = TOTALS.on_line(None, correction(), AT_10_30, GONE, SERVED)
    kept, step = TOTALS.on_line(memo, line("o-4"), AT_10_30, GONE)
    assert (kept, step.verdict, step.emit) == (memo, Verdict.BEYOND_RETENTION, None)


def test_the_memo_is_discarded_once_the_watermark_passes_it() -> None:
    memo, step = TOTALS.on_line(None, correction(), AT_10_30, GONE, SERVED)
    assert memo is not None
    assert step.timer_ms is not None
    early = TOTALS.on_timer(memo, "d-1", "2026-11-24", step.timer_ms - 1)
    assert (early.discard, early.emit, early.timer_ms) == (False, None, step.timer_ms)
    assert TOTALS.on_timer(memo, "d-1", "2026-11-24", step.timer_ms).discard


def test_a_restated_days_memo_is_capped_like_a_day() -> None:
    small = DailyTotals(ZONES, grace_ms=HOUR, retention_ms=DAY, max_lines=2)
    memo, verdicts = None, []
    for order in ("o-2", "o-3", "o-4"):
        memo, step = small.on_line(memo, correction(order), AT_10_30, GONE, SERVED)
        verdicts.append(step.verdict)
    assert verdicts == [Verdict.RESTATED, Verdict.RESTATED, Verdict.OVER_CAP]


def test_a_reversal_past_retention_takes_its_line_off_the_count() -> None:
    reversal = correction(kind=LineKind.REVERSAL)
    reversal = replace(reversal, amount=-reversal.amount)
    _, step = TOTALS.on_line(None, reversal, AT_10_30, GONE, SERVED)
    assert step.emit is not None
    assert (step.emit["total_cents"], step.emit["line_count"]) == (300, 0)


def test_a_line_without_a_base_past_retention_still_goes_to_reconciliation() -> None:
    assert TOTALS.on_line(None, correction(), AT_10_30, GONE)[1].verdict is (
        Verdict.BEYOND_RETENTION
    )


def test_a_day_still_held_ignores_the_base_its_state_knows_better() -> None:
    state, _ = TOTALS.on_line(None, line(), AT_10_30, NO_WATERMARK)
    stale = DayBase(total_minor=0, line_count=0, version=0)
    _, step = TOTALS.on_line(state, correction(), AT_10_30, MIDNIGHT, stale)
    assert step.verdict is Verdict.APPLIED
    assert step.emit is not None
    assert step.emit["total_cents"] == 1500
