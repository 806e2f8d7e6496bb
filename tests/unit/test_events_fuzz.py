"""The event parser is total: any input gives an event or a MalformedEventError, nothing else."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from udfs.events import MAX_ID_CHARS, MalformedEventError, OrderEvent, parse_event

ZONES = frozenset({"sf", "nyc"})
VALID = {
    "event_id": "e-1",
    "order_id": "o-1",
    "driver_id": "d-1",
    "type": "ACCEPTED",
    "event_time": "2026-11-24T17:05:03.120Z",
    "zone": "sf",
}
hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=200),
    st.sampled_from(["", " ", "\x00", "\u202e", "\ud800", "0001-01-01T00:00:00Z",
                     "9999-12-31T23:59:59Z", "2026-11-24T17:05:03Z\n", "2026-11-24T17:05:03+24:00",
                     "ACCEPTED ", "sf\x00"]),
)  # fmt: skip
json_values = st.recursive(
    hostile_scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def outcome(raw: Any) -> OrderEvent | str:
    """The event, or the reason it is malformed: any other exception fails the test."""
    try:
        result = parse_event(raw, ZONES)
    except MalformedEventError as exc:
        reason = str(exc)
        assert reason.strip(), "a dead letter always says why"
        assert "\n" not in reason, "a reason is one line (dead letters, logs)"
        return reason
    assert_within_contract(result)
    return result


def assert_within_contract(event: OrderEvent) -> None:
    """Anything the parser accepts satisfies the contract's rules on ids and zones."""
    for value in (event.event_id, event.order_id, event.driver_id):
        assert 0 < len(value) <= MAX_ID_CHARS
        assert value == value.strip()
        assert not any(ord(c) < 32 or ord(c) == 127 for c in value)
    assert event.zone in ZONES


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_an_event_or_a_reason(raw: bytes) -> None:
    outcome(raw)  # its assertions: an event within the contract, or a one-line reason


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from([*VALID, "schema_version", "extra"]), json_values, max_size=8)
)
def test_valid_events_with_hostile_fields_are_an_event_or_a_reason(changes: dict[str, Any]) -> None:
    doc = {**VALID, **changes}
    try:
        raw = json.dumps(doc, allow_nan=True).encode("utf-8", errors="surrogatepass")
    except (ValueError, UnicodeEncodeError):
        return
    outcome(raw)  # its assertions: an event within the contract, or a one-line reason


@settings(max_examples=100)
@given(st.integers(min_value=1, max_value=50_000), st.sampled_from(["[", '{"a":']))
def test_nesting_of_any_depth_is_an_event_or_a_reason(depth: int, opener: str) -> None:
    assert isinstance(outcome((opener * depth).encode()), str)
