"""The one function that builds driverpay's streaming graph from injected sources and sinks.

The same graph runs in tests, ``make demo`` (embedded) and on the cluster (Kafka/PostgreSQL);
only the source and the :class:`Sinks` differ.
"""

from __future__ import annotations

from typing import Protocol

from pyflink.common import Duration, WatermarkStrategy
from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream
from pyflink.java_gateway import get_gateway

from jobs.codec import DELTA_TYPE, EVENT_TYPE, TIMESTAMPED_EVENT
from jobs.functions import (
    AUDIT,
    DEAD_LETTER,
    LEDGER,
    QUARANTINE,
    DailyTotalsFunction,
    Decoder,
    OrderLifecycleFunction,
    ParseEvents,
)
from jobs.settings import JobSettings
from udfs.daily import DailyTotals
from udfs.lifecycle import OrderLifecycle
from udfs.zones import Zones


class Sinks(Protocol):
    """Where each output goes; every stream carries JSON strings."""

    def ledger(self, stream: DataStream) -> None:
        """Pay lines, reversals and adjustments (``pay-ledger``)."""

    def daily(self, stream: DataStream) -> None:
        """Daily-totals changelog (``driver-daily-pay``)."""

    def dead_letter(self, stream: DataStream) -> None:
        """Malformed records with reason, payload and position (``order-events-dlq``)."""

    def quarantine(self, stream: DataStream) -> None:
        """Invalid transitions and orders open too long."""

    def audit(self, stream: DataStream) -> None:
        """Duplicates and late events, one record each (counted by metrics too)."""


def with_event_time(stamped: DataStream, strategy: WatermarkStrategy) -> DataStream:
    """Take ``(event, event_time_ms)`` pairs from the parser and attach time and watermarks.

    PyFlink's ``assign_timestamps_and_watermarks`` with a Python assigner adds a whole Python
    stage just to read a field; the parser already knows the timestamp, so this uses the same
    Java assigner PyFlink uses internally, minus that stage.
    """
    eventtime = get_gateway().jvm.org.apache.flink.streaming.api.functions.python.eventtime
    j_stream = stamped._j_data_stream.assignTimestampsAndWatermarks(
        strategy._j_watermark_strategy.withTimestampAssigner(eventtime.CustomTimestampAssigner())
    )
    return DataStream(
        j_stream.map(eventtime.RemoveTimestampMapFunction(), EVENT_TYPE.get_java_type_info())
    )


def without_timestamp(stamped: DataStream) -> DataStream:
    """Drop the parser's timestamp field when the source already assigned event time."""
    eventtime = get_gateway().jvm.org.apache.flink.streaming.api.functions.python.eventtime
    return DataStream(
        stamped._j_data_stream.map(
            eventtime.RemoveTimestampMapFunction(), EVENT_TYPE.get_java_type_info()
        )
    )


def build_pipeline(
    raw: DataStream,
    decode: Decoder,
    zones: Zones,
    settings: JobSettings,
    sinks: Sinks,
    source_watermarks: bool = False,
) -> None:
    """Parse -> watermarks -> lifecycle by ``order_id`` -> totals by ``(driver_id, pay_date)``.

    ``source_watermarks``: the source already emits per-partition watermarks (Kafka).
    """
    parsed = raw.process(ParseEvents(frozenset(zones), decode), output_type=TIMESTAMPED_EVENT)
    parsed = parsed.name("parse-validate").uid("parse-validate")
    watermarks = WatermarkStrategy.for_bounded_out_of_orderness(
        Duration.of_millis(settings.out_of_orderness_ms)
    ).with_idleness(Duration.of_millis(settings.idleness_ms))
    if source_watermarks:
        events = without_timestamp(parsed).name("event-time").uid("event-time")
    else:
        events = with_event_time(parsed, watermarks).name("event-time").uid("event-time")
    lifecycle = OrderLifecycle(zones, settings.grace_ms, settings.max_open_ms)
    deltas = (
        events.key_by(lambda e: e[1], key_type=Types.STRING())
        .process(OrderLifecycleFunction(lifecycle), output_type=DELTA_TYPE)
        .name("order-lifecycle")
        .uid("order-lifecycle")
    )
    totals = DailyTotals(zones, settings.finalize_grace_ms, settings.daily_retention_ms)
    daily = (
        deltas.key_by(lambda d: f"{d[0]}|{d[1]}", key_type=Types.STRING())
        .process(DailyTotalsFunction(totals), output_type=Types.STRING())
        .name("daily-totals")
        .uid("daily-totals")
    )
    sinks.ledger(deltas.get_side_output(LEDGER))
    sinks.daily(daily)
    sinks.dead_letter(parsed.get_side_output(DEAD_LETTER))
    sinks.quarantine(deltas.get_side_output(QUARANTINE))
    sinks.audit(deltas.get_side_output(AUDIT).union(daily.get_side_output(AUDIT)))
