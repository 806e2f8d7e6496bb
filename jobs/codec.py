"""Typed rows for records between operators and for keyed state (no pickled blobs)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pyflink.common import Row
from pyflink.common.typeinfo import Types

from udfs.events import EventType, OrderEvent
from udfs.ledger import LineKind, PaidInterval, PayLine

EVENT_TYPE = Types.ROW_NAMED(
    ["event_id", "order_id", "driver_id", "type", "time_ms", "zone"],
    [Types.STRING(), Types.STRING(), Types.STRING(), Types.STRING(), Types.LONG(), Types.STRING()],
)
TIMESTAMPED_EVENT = Types.TUPLE([EVENT_TYPE, Types.LONG()])  # (event, event time ms)
DELTA_TYPE = Types.ROW_NAMED(
    ["driver_id", "pay_date", "zone", "currency", "amount_minor", "count", "event_ms"],
    [
        Types.STRING(),
        Types.STRING(),
        Types.STRING(),
        Types.STRING(),
        Types.LONG(),
        Types.INT(),
        Types.LONG(),
    ],
)
_LINE_FIELDS = [
    ("line_id", Types.STRING()),
    ("kind", Types.STRING()),
    ("order_id", Types.STRING()),
    ("driver_id", Types.STRING()),
    ("zone", Types.STRING()),
    ("iv_start", Types.LONG()),
    ("iv_end", Types.LONG()),
    ("start_event_id", Types.STRING()),
    ("end_event_id", Types.STRING()),
    ("end_type", Types.STRING()),
    ("pay_date", Types.STRING()),
    ("start_ms", Types.LONG()),
    ("end_ms", Types.LONG()),
    ("base_ms", Types.LONG()),
    ("weighted_ms", Types.STRING()),
    ("rate", Types.STRING()),
    ("amount", Types.STRING()),
    ("currency", Types.STRING()),
    ("zones_version", Types.STRING()),
    ("schedule_version", Types.STRING()),
    ("reason", Types.STRING()),
]
LINE_STATE_TYPE = Types.ROW_NAMED([n for n, _ in _LINE_FIELDS], [t for _, t in _LINE_FIELDS])


def event_to_row(e: OrderEvent) -> Row:
    """An event as the typed row that flows from the parser to the lifecycle stage."""
    return Row(e.event_id, e.order_id, e.driver_id, e.type.value, e.time_ms, e.zone)


def row_to_event(r: Row) -> OrderEvent:
    """The inverse of :func:`event_to_row`."""
    return OrderEvent(r[0], r[1], r[2], EventType(r[3]), r[4], r[5])


def line_to_row(line: PayLine) -> Row:
    """A ledger line in effect, as stored in the order's list state."""
    iv = line.interval
    return Row(
        line.line_id,
        line.kind.value,
        iv.order_id,
        iv.driver_id,
        iv.zone,
        iv.start_ms,
        iv.end_ms,
        iv.start_event_id,
        iv.end_event_id,
        iv.end_type,
        line.pay_date.isoformat(),
        line.start_ms,
        line.end_ms,
        line.base_ms,
        str(line.weighted_ms),
        str(line.rate_per_minute),
        str(line.amount),
        line.currency,
        line.zones_version,
        line.schedule_version,
        line.reason,
    )


def row_to_line(r: Row) -> PayLine:
    """The inverse of :func:`line_to_row`."""
    iv = PaidInterval(r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9])
    return PayLine(
        r[0],
        LineKind(r[1]),
        iv,
        date.fromisoformat(r[10]),
        r[11],
        r[12],
        r[13],
        Decimal(r[14]),
        Decimal(r[15]),
        Decimal(r[16]),
        r[17],
        r[18],
        r[19],
        r[20],
    )
