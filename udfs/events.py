"""The input event contract (BRIEF 1.1): parse raw bytes into an event or a dead-letter reason."""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import dataclass
from enum import StrEnum

from udfs.timefmt import TimestampError, parse_rfc3339_ms

MAX_EVENT_BYTES = 64 * 1024
SUPPORTED_SCHEMA_MAJOR = 1


class EventType(StrEnum):
    """Order lifecycle event types."""

    ACCEPTED = "ACCEPTED"
    PICKED_UP = "PICKED_UP"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    UNASSIGNED = "UNASSIGNED"


END_TYPES = frozenset({EventType.DELIVERED, EventType.CANCELLED, EventType.UNASSIGNED})
_TYPES = {t.value: t for t in EventType}


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A validated event; ``time_ms`` is its event time in epoch milliseconds."""

    event_id: str
    order_id: str
    driver_id: str
    type: EventType
    time_ms: int
    zone: str


class MalformedEventError(ValueError):
    """Why a record breaks the contract; it goes to the dead-letter output with this reason."""


def parse_event(raw: bytes | str, zones: Container[str]) -> OrderEvent:
    """Validate one record against the contract or raise :class:`MalformedEventError`."""
    try:  # strict UTF-8 only: json.loads(bytes) would also take UTF-16/32 and encoded surrogates
        data = raw.encode() if isinstance(raw, str) else raw
        if len(data) > MAX_EVENT_BYTES:
            raise MalformedEventError(f"oversize: {len(data)} bytes > {MAX_EVENT_BYTES}")
        text = data.decode()
    except UnicodeError:
        raise MalformedEventError("invalid UTF-8") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise MalformedEventError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MalformedEventError(f"not a JSON object: {type(doc).__name__}")
    version = doc.get("schema_version", 1)
    if type(version) is not int:
        raise MalformedEventError("schema_version: must be an integer")
    if version != SUPPORTED_SCHEMA_MAJOR:
        raise MalformedEventError(f"schema_version: unsupported major version {version}")
    event_id = _text(doc, "event_id")
    if len(event_id) > 128:
        raise MalformedEventError(f"event_id: longer than 128 characters ({len(event_id)})")
    kind = _TYPES.get(_text(doc, "type"))
    if kind is None:
        raise MalformedEventError(f"type: unknown event type {doc['type']!r}")
    zone = _text(doc, "zone")
    if zone not in zones:
        raise MalformedEventError(f"zone: unknown zone {zone!r}")
    try:
        time_ms = parse_rfc3339_ms(_text(doc, "event_time"))
    except TimestampError as exc:
        raise MalformedEventError(f"event_time: {exc}") from None
    return OrderEvent(
        event_id, _text(doc, "order_id"), _text(doc, "driver_id"), kind, time_ms, zone
    )


def _text(doc: dict[str, object], field: str) -> str:
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
