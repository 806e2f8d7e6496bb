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
    try:
        return parse_event(raw, ZONES)
    except MalformedEventError as exc:
        return str(exc)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_an_event_or_a_reason(raw: bytes) -> None:
    result = outcome(raw)
    assert isinstance(result, OrderEvent | str)


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
    result = outcome(raw)
    if isinstance(result, OrderEvent):  # anything accepted satisfies the contract
        for value in (result.event_id, result.order_id, result.driver_id):
            assert 0 < len(value) <= MAX_ID_CHARS
            assert value == value.strip()
            assert not any(ord(c) < 32 or ord(c) == 127 for c in value)
        assert result.zone in ZONES


@settings(max_examples=100)
@given(st.integers(min_value=1, max_value=50_000), st.sampled_from(["[", '{"a":']))
def test_nesting_of_any_depth_is_an_event_or_a_reason(depth: int, opener: str) -> None:
    assert isinstance(outcome((opener * depth).encode()), str)
