"""Order lifecycles as pure transitions: what each event emits, when state is discarded.

Zone sf (tests/flink/zones.yaml): 0.30/min, 11:00-13:00 local (19:00-21:00Z) doubled.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from udfs.events import EventType, OrderEvent
from udfs.ledger import LineKind
from udfs.lifecycle import MAX_ORDER_EVENTS, OrderLifecycle, OrderState, Step
from udfs.timefmt import parse_rfc3339_ms as ms
from udfs.zones import load_zones

ZONES = load_zones(Path(__file__).resolve().parents[1] / "flink" / "zones.yaml")
HOUR = 3_600_000
NO_WATERMARK = -(2**63)
AT_10 = ms("2026-11-24T18:00:00Z")  # 10:00 local
AT_10_30 = ms("2026-11-24T18:30:00Z")
AT_10_15 = ms("2026-11-24T18:15:00Z")
LIFECYCLE = OrderLifecycle(ZONES, grace_ms=HOUR, max_open_ms=12 * HOUR)


def ev(eid: str, kind: str, at: int, driver: str = "d-1", order: str = "o-1") -> OrderEvent:
    return OrderEvent(eid, order, driver, EventType(kind), at, "sf")


def feed(state: OrderState, *events: OrderEvent, watermark: int = NO_WATERMARK) -> list[Step]:
    return [LIFECYCLE.on_event(state, e, watermark) for e in events]


def test_accept_then_deliver_emits_one_line_as_soon_as_both_are_known() -> None:
    state = OrderState()
    first, second = feed(state, ev("a", "ACCEPTED", AT_10), ev("d", "DELIVERED", AT_10_30))
    assert first.lines == []
    [line] = second.lines
    assert (line.kind, str(line.amount)) == (LineKind.LINE, "9.00")
    assert second.timer_ms == AT_10_30 + HOUR  # closed: kept one grace period


def test_the_same_events_in_reverse_arrival_order_pay_the_same_line() -> None:
    forward, backward = OrderState(), OrderState()
    feed(forward, ev("a", "ACCEPTED", AT_10), ev("d", "DELIVERED", AT_10_30))
    feed(backward, ev("d", "DELIVERED", AT_10_30), ev("a", "ACCEPTED", AT_10))
    assert [x.line_id for x in forward.lines] == [x.line_id for x in backward.lines]


def test_a_duplicate_event_changes_nothing_and_is_reported() -> None:
    state = OrderState()
    feed(state, ev("a", "ACCEPTED", AT_10), ev("d", "DELIVERED", AT_10_30))
    [again] = feed(state, ev("d", "DELIVERED", AT_10_30))
    assert again.duplicate
    assert again.lines == []


def test_a_late_unassignment_reverses_the_line_and_adjusts_for_the_new_driver() -> None:
    state = OrderState()
    feed(state, ev("a", "ACCEPTED", AT_10), ev("d", "DELIVERED", AT_10_30, driver="d-2"))
    assert state.lines == []  # delivered by someone who never accepted: nothing paid yet
    steps = feed(
        state, ev("u", "UNASSIGNED", AT_10_15), ev("a2", "ACCEPTED", AT_10_15, driver="d-2")
    )
    [line] = steps[-1].lines
    assert (line.interval.driver_id, str(line.amount)) == ("d-2", "4.50")


def test_a_correction_after_payment_is_a_reversal_plus_an_adjustment_never_an_edit() -> None:
    state = OrderState()
    feed(state, ev("a", "ACCEPTED", AT_10), ev("d", "DELIVERED", AT_10_30))
    [step] = feed(state, ev("u", "UNASSIGNED", AT_10_15), watermark=AT_10_30)
    assert [line.kind for line in step.lines] == [LineKind.REVERSAL]
    assert str(step.lines[0].amount) == "-9.00"
    assert step.late


def test_an_interval_longer_than_max_open_is_quarantined_and_unpaid() -> None:
    state = OrderState()
    steps = feed(
        state, ev("a", "ACCEPTED", AT_10), ev("d", "DELIVERED", AT_10 + 12 * HOUR + 60_000)
    )
    assert all(step.lines == [] for step in steps)
    timer = LIFECYCLE.on_timer(state, AT_10 + 14 * HOUR)
    assert any("implausible interval" in q["reason"] for q in timer.quarantine)


def test_an_interval_of_exactly_max_open_is_paid() -> None:
    state = OrderState()
    steps = feed(state, ev("a", "ACCEPTED", AT_10), ev("d", "DELIVERED", AT_10 + 12 * HOUR))
    assert len(steps[-1].lines) >= 1


def test_events_beyond_the_cap_are_quarantined_without_touching_state() -> None:
    state = OrderState()
    feed(state, ev("a", "ACCEPTED", AT_10))
    feed(state, *(ev(f"p{i}", "PICKED_UP", AT_10 + i) for i in range(MAX_ORDER_EVENTS - 1)))
    [capped] = feed(state, ev("d", "DELIVERED", AT_10_30))
    assert capped.capped
    assert capped.lines == []
    assert capped.quarantine[0]["kind"] == "ORDER_EVENT_CAP"
    assert len(state.events) == MAX_ORDER_EVENTS


def test_events_are_kept_in_time_order_whatever_the_arrival_order() -> None:
    state = OrderState()
    feed(state, ev("d", "DELIVERED", AT_10_30), ev("p", "PICKED_UP", AT_10_15))
    feed(state, ev("a", "ACCEPTED", AT_10))
    assert list(state.events) == ["a", "p", "d"]


def test_an_open_order_is_flagged_and_discarded_once_max_open_has_passed() -> None:
    state = OrderState()
    [step] = feed(state, ev("a", "ACCEPTED", AT_10))
    assert step.timer_ms == AT_10 + 12 * HOUR
    expired = LIFECYCLE.on_timer(state, AT_10 + 12 * HOUR)
    assert expired.discard
    assert [q["kind"] for q in expired.quarantine] == ["OPEN_TOO_LONG"]


def test_a_closed_order_is_discarded_one_grace_period_after_its_last_event() -> None:
    state = OrderState()
    feed(state, ev("a", "ACCEPTED", AT_10), ev("d", "DELIVERED", AT_10_30))
    assert not LIFECYCLE.on_timer(state, AT_10_30 + HOUR - 1).discard
    assert LIFECYCLE.on_timer(state, AT_10_30 + HOUR).discard


@pytest.mark.parametrize("kind", ["DELIVERED", "CANCELLED"])
def test_a_stray_end_waits_max_open_for_its_acceptance_then_is_quarantined(kind: str) -> None:
    state = OrderState()
    [step] = feed(state, ev("d", kind, AT_10_30))
    assert step.timer_ms == AT_10_30 + 12 * HOUR
    done = LIFECYCLE.on_timer(state, AT_10_30 + 12 * HOUR)
    assert done.discard
    assert "without an open acceptance" in done.quarantine[0]["reason"]


A_DAY_LATER = AT_10_30 + 24 * HOUR  # the watermark when a phone offline all day uploads


@pytest.mark.parametrize("first", ["ACCEPTED", "DELIVERED"])
def test_an_order_whose_events_all_arrive_a_day_late_is_paid_once_both_are_known(
    first: str,
) -> None:
    """Before, its first event was judged on arrival: open too long, or a stray end."""
    events = {"ACCEPTED": ev("a", "ACCEPTED", AT_10), "DELIVERED": ev("d", "DELIVERED", AT_10_30)}
    second = "DELIVERED" if first == "ACCEPTED" else "ACCEPTED"
    state = OrderState()
    [arrived] = feed(state, events[first], watermark=A_DAY_LATER)
    assert (arrived.quarantine, arrived.discard) == ([], False)
    assert arrived.timer_ms == A_DAY_LATER + HOUR
    [completed] = feed(state, events[second], watermark=A_DAY_LATER + 1)
    [line] = completed.lines
    assert (line.kind, str(line.amount), completed.late) == (LineKind.LINE, "9.00", True)
    assert LIFECYCLE.on_timer(state, A_DAY_LATER + 1 + HOUR).discard


def test_a_late_acceptance_with_no_end_is_flagged_one_grace_period_after_it_came() -> None:
    state = OrderState()
    [arrived] = feed(state, ev("a", "ACCEPTED", AT_10), watermark=A_DAY_LATER)
    assert (arrived.quarantine, arrived.timer_ms) == ([], A_DAY_LATER + HOUR)
    expired = LIFECYCLE.on_timer(state, arrived.timer_ms)
    assert expired.discard
    assert [q["kind"] for q in expired.quarantine] == ["OPEN_TOO_LONG"]


def test_a_late_event_after_its_order_closed_is_still_quarantined_at_once() -> None:
    """It can never become valid, so waiting for more data would change nothing."""
    state = OrderState()
    feed(state, ev("a", "ACCEPTED", AT_10), ev("d", "DELIVERED", AT_10_30))
    [step] = feed(state, ev("c", "CANCELLED", AT_10_30 + 1), watermark=A_DAY_LATER)
    assert "conflicting CANCELLED after the order closed" in step.quarantine[0]["reason"]


def test_a_late_event_after_a_bounded_input_ended_is_settled_at_once() -> None:
    """No timer can be set past Long.MAX_VALUE, and no event can come to complete the order."""
    state = OrderState()
    [step] = feed(state, ev("a", "ACCEPTED", AT_10), watermark=2**63 - 1)
    assert (step.discard, step.timer_ms) == (True, None)
    assert [q["kind"] for q in step.quarantine] == ["OPEN_TOO_LONG"]
