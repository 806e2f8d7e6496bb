"""The input event contract (docs/contracts.md §1): raw bytes become an event or a reason.

Every limit of the contract is defined here, once; the job, the tools and the docs refer to
these names. Anything that breaks them is *malformed*: it goes to the dead letter with the
reason this module gives, and never reaches pay.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Container
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from udfs.jsontext import refuse_constant
from udfs.timefmt import TimestampError, format_ms, parse_rfc3339_ms

MAX_EVENT_BYTES = 64 * 1024
MAX_ID_CHARS = 128  # event_id, order_id and driver_id alike
MAX_JSON_DEPTH = 16  # an event is one flat object; unknown extra fields may nest this deep
SUPPORTED_SCHEMA_MAJOR = 1
# Event times outside [2000-01-01, 2100-01-01) UTC cannot be a delivery we pay for, and far-off
# years overflow date arithmetic (year 1 has no previous local day, 9999 no next one).
MIN_EVENT_MS = 946_684_800_000
MAX_EVENT_MS = 4_102_444_800_000
ID_FIELDS = ("event_id", "order_id", "driver_id")


class EventType(StrEnum):
    """Order lifecycle event types."""

    ACCEPTED = "ACCEPTED"
    PICKED_UP = "PICKED_UP"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    UNASSIGNED = "UNASSIGNED"


END_TYPES = frozenset({EventType.DELIVERED, EventType.CANCELLED, EventType.UNASSIGNED})
_TYPES = {t.value: t for t in EventType}
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A string, or an unterminated one running to the end of the text: every quote starts a match,
# so the scan is linear. Requiring the closing quote made each quote of `["...\\"\\"\\"` start a
# failed scan to the end: 28 s for one 64 KiB record, with the watermark waiting behind it.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A validated event; ``time_ms`` is its event time in epoch milliseconds."""

    event_id: str
    order_id: str
    driver_id: str
    type: EventType
    time_ms: int
    zone: str


def event_record(event: OrderEvent) -> dict[str, Any]:
    """An event as the job's outputs show it (quarantine, poison dead letters)."""
    return {
        "event_id": event.event_id,
        "order_id": event.order_id,
        "driver_id": event.driver_id,
        "type": event.type.value,
        "event_time": format_ms(event.time_ms),
        "zone": event.zone,
    }


class MalformedEventError(ValueError):
    """Why a record breaks the contract; it goes to the dead-letter output with this reason."""


def parse_event(raw: bytes | str | None, zones: Container[str]) -> OrderEvent:
    """Validate one record against the contract or raise :class:`MalformedEventError`.

    This is total: for any input it returns an event or raises that one error type.
    """
    doc = _json_object(_text_of(raw))
    version = doc.get("schema_version", 1)
    if type(version) is not int:
        raise MalformedEventError("schema_version: must be an integer")
    if version != SUPPORTED_SCHEMA_MAJOR:
        raise MalformedEventError(f"schema_version: unsupported major version {_shorten(version)}")
    ids = [_identifier(doc, name) for name in ID_FIELDS]
    kind = _TYPES.get(_text(doc, "type"))
    if kind is None:
        raise MalformedEventError(f"type: unknown event type {_shorten(doc['type'])}")
    zone = _text(doc, "zone")
    if zone not in zones:
        raise MalformedEventError(f"zone: unknown zone {_shorten(zone)}")
    return OrderEvent(ids[0], ids[1], ids[2], kind, event_time_ms(_text(doc, "event_time")), zone)


def event_time_ms(text: str) -> int:
    """An RFC 3339 event time inside the supported range, in epoch milliseconds."""
    try:
        time_ms = parse_rfc3339_ms(text)
    except (TimestampError, OverflowError) as exc:
        raise MalformedEventError(f"event_time: {exc}") from None
    if not MIN_EVENT_MS <= time_ms < MAX_EVENT_MS:
        raise MalformedEventError(
            f"event_time: {_shorten(text)} outside the supported range "
            "[2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)"
        )
    return time_ms


def _text_of(raw: bytes | str | None) -> str:
    """Strict UTF-8 only: ``json.loads(bytes)`` would also take UTF-16/32 and surrogates."""
    if raw is None:
        raise MalformedEventError("empty record: no value")
    try:
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
    except UnicodeError:
        raise MalformedEventError("invalid UTF-8") from None
    if not data:
        raise MalformedEventError("empty record: no value")
    if len(data) > MAX_EVENT_BYTES:
        raise MalformedEventError(f"oversize: {len(data)} bytes > {MAX_EVENT_BYTES}")
    try:
        return data.decode()
    except UnicodeError:
        raise MalformedEventError("invalid UTF-8") from None


def _json_object(text: str) -> dict[str, Any]:
    if _too_deep(text):
        raise MalformedEventError(f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        if text.startswith("\ufeff"):  # what json.loads refuses before decoding
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        doc = _DECODER.decode(text)
    except MalformedEventError:
        raise
    except RecursionError:  # defence in depth: _too_deep should have caught it
        raise MalformedEventError("invalid JSON: nested too deeply") from None
    except ValueError as exc:
        raise MalformedEventError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MalformedEventError(f"not a JSON object: {type(doc).__name__}")
    return doc


def _too_deep(text: str) -> bool:
    """Whether brackets outside strings nest deeper than the contract allows (cheap first)."""
    if text.count("{") + text.count("[") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate keys are ambiguous (parsers disagree on which wins): malformed."""
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise MalformedEventError(f"invalid JSON: duplicate key {_shorten(dup)}")
    return doc


# One decoder for every record: json.loads with a hook builds a new one per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=refuse_constant)


def _text(doc: dict[str, Any], field: str) -> str:
    value = doc.get(field)
    if value is None:
        raise MalformedEventError(f"{field}: required")
    if not isinstance(value, str):
        raise MalformedEventError(f"{field}: must be a string, got {type(value).__name__}")
    if not value:
        raise MalformedEventError(f"{field}: must not be empty")
    if not value.isascii():  # a \ud800 escape decodes to a lone surrogate no sink can encode
        try:
            value.encode()
        except UnicodeEncodeError:
            raise MalformedEventError(f"{field}: not valid Unicode (lone surrogate)") from None
    return value


def _identifier(doc: dict[str, Any], field: str) -> str:
    """Ids are keys everywhere (state, sinks, PostgreSQL): trimmed, printable, bounded."""
    value = _text(doc, field)
    if len(value) > MAX_ID_CHARS:
        raise MalformedEventError(f"{field}: longer than {MAX_ID_CHARS} characters ({len(value)})")
    if value.strip() != value:
        what = "blank" if not value.strip() else "has leading or trailing whitespace"
        raise MalformedEventError(f"{field}: {what}")
    if has_control_characters(value):
        raise MalformedEventError(f"{field}: contains control or format characters")
    return value


def valid_identifier(value: object, field: str) -> str:
    """``value`` as an id under the event contract's rules, or :class:`MalformedEventError`.

    For records other than events whose ids end up in the same keys and sinks (corrections).
    """
    return _identifier({field: value}, field)


def has_control_characters(value: str) -> bool:
    """NUL and friends (PostgreSQL rejects 0x00 in text), bidi overrides, separators."""
    if value.isascii():
        return _ASCII_CONTROL.search(value) is not None
    return any(
        unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp")
        for ch in value
    )


def _shorten(value: object, limit: int = 64) -> str:
    """A bounded, printable rendering of untrusted input for a dead-letter reason."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
