"""The pay ledger: immutable, deterministically identified lines, reversals and adjustments."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from udfs.money import to_minor
from udfs.pay import RULE_VERSION, price_interval
from udfs.timefmt import format_ms
from udfs.zones_history import ZonesLike


class LineKind(StrEnum):
    """``LINE`` pays an interval; ``REVERSAL`` negates one; ``ADJUSTMENT`` replaces one."""

    LINE = "LINE"
    REVERSAL = "REVERSAL"
    ADJUSTMENT = "ADJUSTMENT"


@dataclass(frozen=True, slots=True)
class PaidInterval:
    """A closed, paying work interval of one order for one driver (before day splitting)."""

    order_id: str
    driver_id: str
    zone: str
    start_ms: int
    end_ms: int
    start_event_id: str
    end_event_id: str
    end_type: str


@dataclass(frozen=True, slots=True)
class PayLine:
    """One ledger record; ``amount`` is signed and already rounded."""

    line_id: str
    kind: LineKind
    interval: PaidInterval
    pay_date: date
    start_ms: int
    end_ms: int
    base_ms: int
    weighted_ms: Decimal
    rate_per_minute: Decimal
    amount: Decimal
    currency: str
    zones_version: str
    schedule_version: str
    reason: str | None = None

    @property
    def amount_minor(self) -> int:
        """The signed amount in the currency's minor unit (what daily totals add up)."""
        return to_minor(self.amount, self.currency)

    @property
    def interval_key(self) -> str:
        """What this line pays for, whatever its kind.

        A day's part of an interval, priced under one zones version. A reversal has the key of
        the line it cancels, and a re-sent copy of an interval (after its order's state is
        gone) has the key of the original.
        """
        return line_id(*identity(self.interval, self.pay_date, self.zones_version))

    def to_record(self) -> dict[str, Any]:
        """The ledger shape of contracts §5 (decimals as strings, instants as RFC 3339 UTC)."""
        iv = self.interval
        return {
            "line_id": self.line_id,
            "kind": self.kind.value,
            "order_id": iv.order_id,
            "driver_id": iv.driver_id,
            "zone": iv.zone,
            "pay_date": self.pay_date.isoformat(),
            "start": format_ms(self.start_ms),
            "end": format_ms(self.end_ms),
            "base_ms": self.base_ms,
            "weighted_ms": json_number(self.weighted_ms),
            "rate_per_minute": str(self.rate_per_minute),
            "amount": str(self.amount),
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "zones_version": self.zones_version,
            "schedule_version": self.schedule_version,
            "rule_version": RULE_VERSION,
            "interval_start": format_ms(iv.start_ms),
            "interval_end": format_ms(iv.end_ms),
            "start_event_id": iv.start_event_id,
            "end_event_id": iv.end_event_id,
            "end_type": iv.end_type,
            "reason": self.reason,
        }

    def to_json(self) -> str:
        """Canonical JSON text: same line, same bytes."""
        return record_json(self.to_record())


def record_json(record: dict[str, Any]) -> str:
    """The canonical JSON text of a ledger record (:meth:`PayLine.to_record`)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def json_number(value: Decimal) -> int | str:
    """Whole milliseconds as a JSON integer; a fractional weight keeps its exact decimal text."""
    return int(value) if value == value.to_integral_value() else format(value.normalize(), "f")


def line_id(*parts: object) -> str:
    r"""Deterministic id from the line's identity: same input, same id, across replays.

    Parts are joined by ``|``, which ids may contain (contracts §1): order ``o`` with start event
    ``d|a1`` and order ``o|d`` with start event ``a1`` would join to the same text, and the second
    order's pay would be refused as a duplicate of the first's. So when any part holds ``|`` or
    ``\``, every part is escaped (``\`` -> ``\\``, ``|`` -> ``\|``). Plain texts hold no ``\``
    and escaped ones always do, so no two identities share a text, and the ids of every
    identity without those characters are the ones issued before (state and replays agree).
    """
    return hashlib.sha256(identity_text(*parts).encode()).hexdigest()[:32]


def identity(interval: PaidInterval, pay_date: date, zones_version: str) -> tuple[object, ...]:
    """What a line pays for: a day's part of an interval under one zones version."""
    iv = interval
    return (
        iv.order_id,
        iv.driver_id,
        iv.start_event_id,
        iv.end_event_id,
        iv.start_ms,
        iv.end_ms,
        pay_date,
        zones_version,
    )


def identity_text(*parts: object) -> str:
    """The text :func:`line_id` hashes: a different text for every tuple of parts."""
    texts = [str(part) for part in parts]
    if any("|" in text or "\\" in text for text in texts):
        texts = [text.replace("\\", "\\\\").replace("|", "\\|") for text in texts]
    return "|".join(texts)


def lines_for(
    interval: PaidInterval,
    zones: ZonesLike,
    kind: LineKind = LineKind.LINE,
    reason: str | None = None,
    revision: int = 0,
) -> list[PayLine]:
    """Price ``interval`` into one line per local day and zones version; a ``REVERSAL`` negates.

    The interval is cut where a zones version takes effect (``ZonesHistory.segments``) and each
    piece priced by the version in force over it; that version is on its lines and in their
    identity, so no two lines of an interval share one (a version is in force over one piece).
    """
    sign = -1 if kind is LineKind.REVERSAL else 1
    # Only a first-revision LINE keeps the bare identity: a reversal or adjustment must never
    # share the id (the sinks' primary key) of the line it corrects.
    plain = revision == 0 and kind is LineKind.LINE
    iv = interval
    lines = []
    for piece_start, piece_end, version in zones.segments(iv.zone, iv.start_ms, iv.end_ms):
        zone = version[iv.zone]
        for part in price_interval(zone, piece_start, piece_end):
            parts = identity(iv, part.pay_date, version.version)
            ident = line_id(*parts) if plain else line_id(kind.value, revision, *parts)
            lines.append(
                PayLine(
                    ident,
                    kind,
                    iv,
                    part.pay_date,
                    part.start_ms,
                    part.end_ms,
                    sign * part.base_ms,
                    _signed(sign, part.weighted_ms),
                    zone.rate_per_minute,
                    _signed(sign, part.amount),
                    zone.currency,
                    version.version,
                    zone.schedule.version,
                    reason,
                )
            )
    return lines


def _signed(sign: int, value: Decimal) -> Decimal:
    """``sign * value`` without a negative zero (``-0.00`` would leak into the ledger text)."""
    return value if sign > 0 else Decimal(0) - value
