"""Typed rows for records between operators; keyed state as versioned JSON text (no pickles).

Records between operators are typed rows, which PyFlink converts field by field. Keyed state is
not: PyFlink 2.2.1's thread mode stores a ``ValueState`` of any ``ROW``, ``TUPLE`` or ``LIST``
type as a Python pickle (``pyflink/fn_execution/embedded/java_utils.py: to_java_typeinfo``
falls back to ``PICKLED_BYTE_ARRAY``). A pickle ties a savepoint to Python's object layout,
runs code when loaded, and cost ~17 % of the interpreter's time in the job. So each order and
driver-day is one ``STRING`` value holding a compact JSON array, first element its layout
version, the rest positional as documented on :func:`order_value` and :func:`daily_value`;
``jobs.compat.checked_state`` refuses any state type thread mode would pickle.
"""

from __future__ import annotations

from collections.abc import MutableMapping, MutableSet, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
from pyflink.common import Row
from pyflink.common.typeinfo import Types

from jobs.pg_schema import SinkColumn, read_migrations, row_values, typed_columns
from udfs.daily import DailyState, DayBase, Span
from udfs.events import EventType, OrderEvent
from udfs.ledger import LineKind, PaidInterval, PayLine
from udfs.lifecycle import OrderState

EVENT_FIELDS = ["event_id", "order_id", "driver_id", "type", "time_ms", "zone"]
EVENT_FIELD_TYPES = [
    Types.STRING(),
    Types.STRING(),
    Types.STRING(),
    Types.STRING(),
    Types.LONG(),
    Types.STRING(),
]
EVENT_TYPE = Types.ROW_NAMED(EVENT_FIELDS, EVENT_FIELD_TYPES)
# An admitted event as the parser emits it: plus its local date on its zone's clock (the one
# local-day rule, applied once), which the raw archive partitions by without a stage of its own.
DATED_EVENT_TYPE = Types.ROW_NAMED(
    [*EVENT_FIELDS, "event_date"], [*EVENT_FIELD_TYPES, Types.STRING()]
)
# ``Row(key, record)``: what a Python stage emits when the next stage is keyed by ``key``, so the
# JVM keys it (``jobs.compat.key_by_first_field``) without a Python key-selector stage.
KEYED_EVENT = Types.ROW([Types.STRING(), DATED_EVENT_TYPE])  # key: order_id
STAMPED_EVENT = Types.TUPLE([KEYED_EVENT, Types.LONG()])  # (keyed event, event time ms)
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
# What a correction says its driver-day stood at (udfs.daily.DayBase); null on every other line.
_BASE_FIELDS = [
    ("base_total_minor", Types.LONG()),
    ("base_line_count", Types.LONG()),
    ("base_version", Types.LONG()),
]
# A ledger line on its way from the lifecycle to its driver-day, with the event time behind it.
LINE_TYPE = Types.ROW_NAMED(
    [*(n for n, _ in _LINE_FIELDS), "event_ms", *(n for n, _ in _BASE_FIELDS)],
    [*(t for _, t in _LINE_FIELDS), Types.LONG(), *(t for _, t in _BASE_FIELDS)],
)
KEYED_LINE = Types.ROW([Types.STRING(), LINE_TYPE])  # key: driver_id|pay_date (or order_id)


# What the daily stage emits for the read model and the topics: ``(contract JSON, typed row)``.
# The JSON (made once, by udfs) goes to Kafka and the files; the row's named fields are the
# PostgreSQL table's written columns, derived from sql/migrations, and go to the JDBC sinks
# with only casts in SQL (jobs/pg_schema.py). A tuple, so the JVM can take the JSON out with
# no Python stage (jobs.compat.first_field).
_TABLES = read_migrations()
LEDGER_COLUMNS: tuple[SinkColumn, ...] = tuple(typed_columns(_TABLES["pay_lines"]))
DAILY_COLUMNS: tuple[SinkColumn, ...] = tuple(typed_columns(_TABLES["driver_daily_pay"]))
_CARRIER_TYPES = {
    "STRING": Types.STRING(),
    "BIGINT": Types.LONG(),
    "INT": Types.INT(),
    "BOOLEAN": Types.BOOLEAN(),
}


def sink_record_type(columns: tuple[SinkColumn, ...]) -> Any:
    """``TUPLE<json STRING, ROW<column carriers>>`` for one PostgreSQL table."""
    row = Types.ROW_NAMED([c.name for c in columns], [_CARRIER_TYPES[c.carrier] for c in columns])
    return Types.TUPLE([Types.STRING(), row])


LEDGER_RECORD = sink_record_type(LEDGER_COLUMNS)
DAILY_RECORD = sink_record_type(DAILY_COLUMNS)


def sink_record(
    text: str, record: dict[str, Any], columns: tuple[SinkColumn, ...]
) -> tuple[str, Row]:
    """One output: its contract JSON and its typed row."""
    return text, Row(*row_values(record, columns))


# A side-output record of a lifecycle timer on its way to the daily stage, which emits it (see
# jobs.functions.OrderLifecycleFunction): kind = prefix + the output tag's name, the record in
# ``reason``, the order key as the "driver" so carriers spread like orders.
CARRIER_PREFIX = "SIDE:"


def side_carrier(tag_id: str, record: str, key: str) -> Row:
    """A keyed main-output row carrying one side-output record (keyed by the order)."""
    return Row(key, Row(
        "", CARRIER_PREFIX + tag_id, "", key, "", 0, 0, "", "", "", "", 0, 0, 0, "", "", "", "",
        "", "", record, 0, None, None, None,
    ))  # fmt: skip


def keyed_event(e: OrderEvent, event_date: str) -> Row:
    """An admitted event keyed by its order, as the parser hands it to the lifecycle stage."""
    return Row(
        e.order_id,
        Row(e.event_id, e.order_id, e.driver_id, e.type.value, e.time_ms, e.zone, event_date),
    )


def daily_key(driver_id: str, pay_date: str) -> str:
    """``driver_id|pay_date``, the daily stage's key (``rpartition`` splits it: ids may hold |)."""
    return f"{driver_id}|{pay_date}"


def row_to_event(r: Row) -> OrderEvent:
    """The event of a (dated) event row; the inverse of :func:`keyed_event`'s value."""
    return OrderEvent(r[0], r[1], r[2], EventType(r[3]), r[4], r[5])


def line_fields(line: PayLine) -> list[Any]:
    """A ledger line's fields in ``_LINE_FIELDS`` order: ``LINE_TYPE`` rows and stored orders."""
    iv = line.interval
    return [
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
    ]


def row_to_line(r: Sequence[Any]) -> PayLine:
    """The inverse of :func:`line_fields` (a row or a stored list)."""
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


# Keyed state values (see the module docstring): a STRING each, JSON inside, layout versioned.
ORDER_STATE_TYPE = Types.STRING()
DAILY_STATE_TYPE = Types.STRING()
ORDER_LAYOUT = 1  # bump, with a migration or a documented fresh start, when a layout changes
DAILY_LAYOUT = 1


class StateLayoutError(ValueError):
    """A stored value written with another layout than this code reads."""


def state_fields(text: str, layout: int, what: str) -> list[Any]:
    """A state value's fields after its layout version, or :class:`StateLayoutError`."""
    value = orjson.loads(text)
    if not isinstance(value, list) or not value or value[0] != layout:
        found = value[0] if isinstance(value, list) and value else value
        raise StateLayoutError(f"{what} state has layout {found!r}, this job reads {layout}")
    return value[1:]


def order_state(fields: Sequence[Any]) -> OrderState:
    """An order's lifecycle state from its stored fields (:func:`state_fields` of its value)."""
    state = OrderState(revision=fields[0])
    for r in fields[2]:
        state.events[r[0]] = OrderEvent(r[0], r[1], r[2], EventType(r[3]), r[4], r[5])
        if r[6]:
            state.quarantined.add(r[0])
    state.lines = [row_to_line(r) for r in fields[3]]
    return state


def order_value(state: OrderState, timer_ms: int | None) -> str:
    """The one value an order is stored as.

    ``[ORDER_LAYOUT, revision, timer_ms|null, events, lines]``: each event is ``[event_id,
    order_id, driver_id, type, time_ms, zone, quarantined]``, each line in effect its
    :func:`line_fields`.
    """
    events = [
        [e.event_id, e.order_id, e.driver_id, e.type.value, e.time_ms, e.zone,
         e.event_id in state.quarantined]
        for e in state.events.values()
    ]  # fmt: skip
    lines = [line_fields(line) for line in state.lines]
    return _state_text([ORDER_LAYOUT, state.revision, timer_ms, events, lines])


def line_event_row(line: PayLine, event_ms: int, base: DayBase | None = None) -> Row:
    """The typed row the daily stage consumes for one ledger line, keyed by its driver-day."""
    key = daily_key(line.interval.driver_id, line.pay_date.isoformat())
    day = (base.total_minor, base.line_count, base.version) if base else (None, None, None)
    return Row(key, Row(*line_fields(line), event_ms, *day))


def line_event(r: Row) -> tuple[PayLine, int]:
    """The inverse of :func:`line_event_row`."""
    return row_to_line(r), r[21]


def line_base(r: Row) -> DayBase | None:
    """The day a correction's row says it applies to, or None (every other line)."""
    return None if r[22] is None else DayBase(r[22], r[23], r[24])


def daily_state(
    r: Sequence[Any],
    seen: MutableSet[str],
    in_effect: MutableSet[str],
    spans: MutableMapping[str, tuple[Span, ...]],
) -> DailyState:
    """A driver-day's state from its stored fields, its two sets and its spans (state_set).

    ``restated_until_ms`` was appended to the layout: a value written before it has no such
    field, and was a day, never a memo of restated corrections.
    """
    restated_until = r[11] if len(r) > 11 else None
    return DailyState(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], seen, in_effect, spans, restated_until
    )


def spans_text(spans: tuple[Span, ...]) -> str:
    """An order's paid spans on a day, as the ``daily-spans`` map state stores them."""
    return _state_text([list(span) for span in spans])


def spans_of(text: str) -> tuple[Span, ...]:
    """The inverse of :func:`spans_text`."""
    return tuple((int(s[0]), int(s[1]), str(s[2])) for s in orjson.loads(text))


def daily_value(state: DailyState, timer_ms: int | None) -> str:
    """The one value a driver-day is stored as; its sets live in map state, sized here.

    ``[DAILY_LAYOUT, currency, total_minor, line_count, version, final, post_final, day_end_ms,
    as_of_ms, timer_ms|null, seen_count, in_effect_count, restated_until_ms|null]``.
    """
    fields = [
        DAILY_LAYOUT,
        state.currency,
        state.total_minor,
        state.line_count,
        state.version,
        state.final,
        state.post_final,
        state.day_end_ms,
        state.as_of_ms,
        timer_ms,
        len(state.seen),
        len(state.in_effect),
        state.restated_until_ms,
    ]
    return _state_text(fields)


def _state_text(fields: list[Any]) -> str:
    """Compact UTF-8 JSON by orjson: ~8x faster than ``json``, and the same text.

    The same text as ``json.dumps(separators=(",", ":"), ensure_ascii=False)`` for these values
    (ids are valid Unicode, numbers are integers), so values stored before read the same.
    """
    return orjson.dumps(fields).decode()
