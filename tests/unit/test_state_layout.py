"""Keyed state is stored as versioned JSON text, never as a Python pickle.

PyFlink 2.2.1's thread mode stores a ``ValueState`` of a ``ROW``/``TUPLE``/``LIST`` type as a
pickle; ``jobs.codec`` keeps each order and driver-day as one ``STRING`` instead, and
``jobs.compat.checked_state`` refuses any descriptor that would be pickled.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyflink.common.typeinfo import Types
from pyflink.datastream.state import (
    ListStateDescriptor,
    MapStateDescriptor,
    StateDescriptor,
    ValueStateDescriptor,
)

from jobs.codec import (
    DAILY_LAYOUT,
    ORDER_LAYOUT,
    StateLayoutError,
    daily_state,
    daily_value,
    order_state,
    order_value,
    spans_of,
    spans_text,
    state_fields,
)
from jobs.compat import checked_state
from tests.unit.test_lifecycle import AT_10, AT_10_15, AT_10_30, ev, feed
from udfs.daily import DailyState
from udfs.ledger import LineKind
from udfs.lifecycle import OrderState

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def reread_order(state: OrderState, timer_ms: int | None) -> tuple[OrderState, int | None]:
    fields = state_fields(order_value(state, timer_ms), ORDER_LAYOUT, "order")
    return order_state(fields), fields[1]


def test_an_order_reassigned_mid_delivery_reads_back_exactly_as_stored() -> None:
    state = OrderState()
    feed(state, ev("a", "ACCEPTED", AT_10), ev("d", "DELIVERED", AT_10_30, driver="d-2"))
    feed(state, ev("u", "UNASSIGNED", AT_10_15), ev("a2", "ACCEPTED", AT_10_15, driver="d-2"))
    state.quarantined.add("u")
    assert [(line.kind, str(line.amount)) for line in state.lines] == [(LineKind.LINE, "4.50")]

    again, timer = reread_order(state, AT_10_30 + 3_600_000)

    assert again == state
    assert timer == AT_10_30 + 3_600_000


def test_ids_outside_ascii_and_an_order_without_a_timer_survive_the_round_trip() -> None:
    state = OrderState()
    feed(state, ev("é\u2028🚚", "ACCEPTED", AT_10, driver='d "quoted" ü', order="o-ß"))

    again, timer = reread_order(state, None)

    assert again == state
    assert timer is None


def test_a_driver_day_reads_back_with_its_timer_and_set_sizes() -> None:
    spans = {"o-1": ((AT_10, AT_10_30, "i1"),)}
    day = DailyState("USD", 1234, 3, 4, True, False, AT_10, AT_10_30, {"l1", "l2"}, {"i1"}, spans)
    fields = state_fields(daily_value(day, AT_10 + 1), DAILY_LAYOUT, "driver-day")

    again = daily_state(fields, day.seen, day.in_effect, day.spans)

    assert again == day
    assert (fields[8], fields[9], fields[10]) == (AT_10 + 1, 2, 1)


def test_a_memo_of_restated_corrections_reads_back_as_a_memo() -> None:
    day = DailyState("USD", 1500, 2, 4, True, True, AT_10, AT_10_30, {"fix-1"}, set(), {}, AT_10)
    fields = state_fields(daily_value(day, AT_10), DAILY_LAYOUT, "driver-day")

    assert daily_state(fields, day.seen, day.in_effect, day.spans) == day


def test_a_driver_day_stored_before_memos_existed_reads_back_as_a_day() -> None:
    """The layout gained ``restated_until_ms`` at its end; a savepoint's older values lack it."""
    older = '[1,"USD",900,1,2,true,false,1000,900,2000,1,1]'
    day = daily_state(state_fields(older, DAILY_LAYOUT, "driver-day"), {"l1"}, {"i1"}, {})

    assert (day.total_minor, day.final, day.restated_until_ms) == (900, True, None)


def test_an_orders_paid_spans_read_back_as_stored() -> None:
    spans = ((AT_10, AT_10_30, "i1"), (AT_10_30, AT_10_30 + 60_000, 'k"\\|'))
    assert spans_of(spans_text(spans)) == spans


# Any id parse_event admits: valid Unicode (no lone surrogates), quotes and escapes included.
IDS = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(event_id=IDS, order=IDS, driver=IDS, timer=st.none() | st.integers(0, 2**53))
def test_the_stored_text_is_what_the_standard_library_writes_for_the_same_fields(
    event_id: str, order: str, driver: str, timer: int | None
) -> None:
    """Values written before state was encoded by orjson read and compare the same."""
    state = OrderState()
    feed(state, ev(event_id, "ACCEPTED", AT_10, driver, order))
    feed(state, ev(event_id + "-d", "DELIVERED", AT_10_30, driver, order))
    day = DailyState("EUR", -5, 1, 2, False, True, AT_10, AT_10_30, {"l"}, set())

    for text in (order_value(state, timer), daily_value(day, timer)):
        assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    assert reread_order(state, timer) == (state, timer)


@pytest.mark.parametrize("text", ["[2,0,null,[],[]]", "{}", "[]", '"x"'])
def test_a_value_written_with_another_layout_is_refused_not_misread(text: str) -> None:
    with pytest.raises(StateLayoutError, match="order state has layout"):
        state_fields(text, ORDER_LAYOUT, "order")


@pytest.mark.parametrize(
    "descriptor",
    [
        ValueStateDescriptor("row", Types.ROW([Types.STRING()])),
        ValueStateDescriptor("tuple", Types.TUPLE([Types.LONG()])),
        ValueStateDescriptor("pickled", Types.PICKLED_BYTE_ARRAY()),
        MapStateDescriptor("map of rows", Types.STRING(), Types.ROW([Types.LONG()])),
        ListStateDescriptor("list of rows", Types.ROW([Types.LONG()])),
    ],
    ids=lambda d: d.name,
)
def test_state_that_thread_mode_would_pickle_is_refused(descriptor: StateDescriptor) -> None:
    with pytest.raises(TypeError, match="would be stored as a pickle"):
        checked_state(descriptor)


def test_strings_longs_and_maps_and_lists_of_them_are_accepted() -> None:
    for descriptor in (
        ValueStateDescriptor("text", Types.STRING()),
        ValueStateDescriptor("count", Types.LONG()),
        MapStateDescriptor("set", Types.STRING(), Types.BOOLEAN()),
        ListStateDescriptor("ids", Types.STRING()),
    ):
        assert checked_state(descriptor) is descriptor


def test_every_state_descriptor_the_job_declares_goes_through_checked_state() -> None:
    unchecked, declared = [], 0
    for path in sorted(JOBS.glob("*.py")):
        tree = ast.parse(path.read_text())
        checked = {
            id(arg)
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "checked_state"
            for arg in node.args
        }
        descriptors = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and getattr(node.func, "id", "").endswith("StateDescriptor")
        ]
        declared += len(descriptors)
        unchecked += [f"{path.name}:{d.lineno}" for d in descriptors if id(d) not in checked]
    assert declared >= 5  # order, daily, its two sets, zones versions
    assert unchecked == []
