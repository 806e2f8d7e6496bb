"""The input event contract (contracts §1): valid events parse, malformed ones say which field."""

import contextlib
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.events import MAX_EVENT_BYTES, EventType, MalformedEventError, OrderEvent, parse_event
from udfs.timefmt import parse_rfc3339_ms as ms

ZONES = {"sf", "nyc"}
PICKUP_TIME = "2026-11-24T17:05:03.120Z"
VALID: dict[str, Any] = {
    "event_id": "e-1",
    "order_id": "o-1",
    "driver_id": "d-1",
    "type": "PICKED_UP",
    "event_time": PICKUP_TIME,
    "zone": "sf",
}
DROP = object()


def raw(**changes: Any) -> bytes:
    doc = {**VALID, **changes}
    return json.dumps({k: v for k, v in doc.items() if v is not DROP}).encode()


def reason(record: bytes | str) -> str:
    with pytest.raises(MalformedEventError) as caught:
        parse_event(record, ZONES)
    return str(caught.value)


def test_a_valid_event_parses_into_its_fields() -> None:
    assert parse_event(raw(), ZONES) == OrderEvent(
        "e-1", "o-1", "d-1", EventType.PICKED_UP, ms(PICKUP_TIME), "sf"
    )


def test_a_valid_event_given_as_text_parses_too() -> None:
    assert parse_event(raw().decode(), ZONES).event_id == "e-1"


@pytest.mark.parametrize("kind", [t.value for t in EventType])
def test_every_event_type_is_accepted(kind: str) -> None:
    assert parse_event(raw(type=kind), ZONES).type is EventType(kind)


def test_explicit_schema_version_1_is_accepted() -> None:
    assert parse_event(raw(schema_version=1), ZONES).event_id == "e-1"


def test_unknown_extra_fields_are_ignored() -> None:
    event = parse_event(raw(tip="2.00", meta={"app": "x"}, courier=None), ZONES)
    assert event == parse_event(raw(), ZONES)


def test_event_time_offset_is_honoured() -> None:
    assert parse_event(raw(event_time="2026-11-24T09:05:03.120-08:00"), ZONES).time_ms == ms(
        PICKUP_TIME
    )


def test_event_id_of_exactly_128_characters_is_accepted() -> None:
    assert len(parse_event(raw(event_id="x" * 128), ZONES).event_id) == 128


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(b'{"event_id": "e-1", "order_id": ', "invalid JSON", id="bad JSON"),
        pytest.param(b"", "empty record", id="empty record"),
        pytest.param(b"[1, 2, 3]", "not a JSON object", id="array"),
        pytest.param(b'"e-1"', "not a JSON object", id="string"),
        pytest.param(b"null", "not a JSON object", id="null"),
        pytest.param(raw(driver_id=DROP), "driver_id: required", id="missing driver_id"),
        pytest.param(raw(event_id=DROP), "event_id: required", id="missing event_id"),
        pytest.param(raw(order_id=DROP), "order_id: required", id="missing order_id"),
        pytest.param(raw(type=DROP), "type: required", id="missing type"),
        pytest.param(raw(event_time=DROP), "event_time: required", id="missing event_time"),
        pytest.param(raw(zone=DROP), "zone: required", id="missing zone"),
        pytest.param(raw(zone=None), "zone: required", id="null zone"),
        pytest.param(raw(order_id=12345), "order_id: must be a string", id="numeric order_id"),
        pytest.param(raw(driver_id=["d"]), "driver_id: must be a string", id="list driver_id"),
        pytest.param(raw(event_time=1795), "event_time: must be a string", id="epoch event_time"),
        pytest.param(raw(type="TELEPORTED"), "type: unknown event type", id="unknown type"),
        pytest.param(raw(type="accepted"), "type: unknown event type", id="lowercase type"),
        pytest.param(raw(zone="atlantis"), "zone: unknown zone 'atlantis'", id="unknown zone"),
        pytest.param(raw(event_time="yesterday"), "event_time:", id="garbage timestamp"),
        pytest.param(raw(event_time="2026-11-24 17:05:03"), "event_time:", id="naive timestamp"),
        pytest.param(raw(event_time="2026-11-24"), "event_time:", id="date-only timestamp"),
        pytest.param(raw(schema_version=2), "schema_version: unsupported", id="schema 2"),
        pytest.param(
            raw(schema_version="1"), "schema_version: must be an integer", id="schema '1'"
        ),
        pytest.param(
            raw(schema_version=1.0), "schema_version: must be an integer", id="schema 1.0"
        ),
        pytest.param(
            raw(schema_version=True), "schema_version: must be an integer", id="schema true"
        ),
        pytest.param(raw(event_id="x" * 129), "event_id: longer than 128", id="event_id 129 chars"),
        pytest.param(raw(event_id=""), "event_id: must not be empty", id="empty event_id"),
        pytest.param(raw(order_id=""), "order_id: must not be empty", id="empty order_id"),
        pytest.param(raw(driver_id=""), "driver_id: must not be empty", id="empty driver_id"),
        pytest.param(raw(type=""), "type: must not be empty", id="empty type"),
        pytest.param(raw(event_time=""), "event_time: must not be empty", id="empty event_time"),
        pytest.param(raw(zone=""), "zone: must not be empty", id="empty zone"),
        pytest.param(b'{"event_id": "bad-\xff\xfe", "type": "ACCEPTED"}', "UTF-8", id="bad UTF-8"),
    ],
)
def test_malformed_records_get_a_reason_naming_what_is_wrong(record: bytes, expected: str) -> None:
    assert expected in reason(record)


def test_a_record_over_64_kib_is_oversize() -> None:
    record = raw(padding="p" * MAX_EVENT_BYTES)
    assert reason(record).startswith(f"oversize: {len(record)} bytes > 65536")


def test_a_record_of_exactly_64_kib_is_not_oversize() -> None:
    base = raw(padding="")
    record = raw(padding="p" * (MAX_EVENT_BYTES - len(base)))
    assert len(record) == MAX_EVENT_BYTES
    assert parse_event(record, ZONES).event_id == "e-1"


def test_a_64_kib_record_of_escaped_quotes_is_judged_in_one_pass() -> None:
    """Each quote of an unterminated string once started a scan to the end: 28 s a record."""
    record = ("[" * 17 + '"' + '\\"' * 32759).encode()
    assert len(record) == MAX_EVENT_BYTES
    started = time.process_time()
    assert reason(record) == "invalid JSON: nested deeper than 16 levels"
    assert time.process_time() - started < 2.0  # ~0.01 s in one pass; 28 s when quadratic


def test_a_schema_version_of_thousands_of_digits_is_shown_shortened() -> None:
    assert reason(raw(schema_version=int("9" * 4000))) == (
        "schema_version: unsupported major version " + "9" * 61 + "..."
    )


def test_brackets_inside_an_unterminated_string_do_not_count_as_nesting() -> None:
    assert reason(('{"event_id": "' + "[" * 40).encode()).startswith(
        "invalid JSON: Unterminated string"
    )


def test_the_size_limit_counts_utf8_bytes_not_characters() -> None:
    record = json.dumps({**VALID, "padding": "é" * (MAX_EVENT_BYTES // 2)}, ensure_ascii=False)
    assert len(record) < MAX_EVENT_BYTES < len(record.encode())
    assert "oversize" in reason(record)


def test_a_utf16_encoded_record_is_not_utf8_and_is_refused() -> None:
    assert "UTF-8" in reason(raw().decode().encode("utf-16"))


def test_a_byte_order_mark_is_refused() -> None:
    assert "invalid JSON" in reason(b"\xef\xbb\xbf" + raw())


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_non_json_number_literal_is_malformed_even_in_a_field_nobody_reads(literal: str) -> None:
    """Python's json would read it; RFC 8259 and every other reader of the topic would not."""
    record = raw()[:-1] + f', "tip": {literal}}}'.encode()
    assert reason(record) == f"invalid JSON: {literal} is not JSON (RFC 8259)"


def test_an_encoded_lone_surrogate_is_not_utf8() -> None:
    record = '{"event_id": "\ud800"}'.encode("utf-8", "surrogatepass")
    assert "UTF-8" in reason(record)


def test_text_with_a_lone_surrogate_is_refused_rather_than_crashing() -> None:
    assert "UTF-8" in reason(raw().decode().replace("e-1", "e-\ud800"))


def test_an_escaped_lone_surrogate_in_a_field_is_refused() -> None:
    assert "event_id: not valid Unicode" in reason(raw(event_id="e-\ud800"))


def test_non_ascii_identifiers_are_fine() -> None:
    assert parse_event(raw(driver_id="chauffeur-é-東京"), ZONES).driver_id == "chauffeur-é-東京"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_either_parse_or_are_malformed_never_crash(record: bytes) -> None:
    """Any other exception than MalformedEventError fails this test (and would fail a job)."""
    with contextlib.suppress(MalformedEventError):
        assert parse_event(record, ZONES).zone in ZONES


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*VALID, "schema_version", "x"]), json_values))
def test_arbitrary_objects_either_parse_or_are_malformed_never_crash(doc: dict[str, Any]) -> None:
    try:
        event = parse_event(json.dumps(doc), ZONES)
    except MalformedEventError:
        return
    assert event.zone in ZONES
