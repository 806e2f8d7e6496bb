"""The one function that builds driverpay's streaming graph from injected sources and sinks.

The same graph runs in tests, ``make demo`` (embedded) and on the cluster (Kafka/PostgreSQL);
only the source, its decoder and the :class:`Sinks` differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pyflink.common import Duration, WatermarkStrategy
from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream

from jobs.codec import DAILY_RECORD, KEYED_EVENT, KEYED_LINE, STAMPED_EVENT
from jobs.compat import key_by_first_field, stamp_event_time
from jobs.functions import (
    AUDIT,
    DEAD_LETTER,
    LEDGER,
    QUARANTINE,
    RETIRED,
    ZONES_VERSIONS,
    DailyTotalsFunction,
    Decoder,
    Held,
    OrderLifecycleFunction,
    ParseCorrections,
    ParseEvents,
    decode_version_text,
)
from jobs.settings import JobSettings
from udfs.daily import DailyTotals
from udfs.lifecycle import OrderLifecycle
from udfs.stream_clock import StreamClock
from udfs.zones_history import ZonesHistory, ZonesLike, version_record


class Sinks(Protocol):
    """Where each output goes: JSON strings, but ``(JSON, typed row)`` for ledger and daily."""

    def ledger(self, stream: DataStream) -> None:
        """Pay lines, reversals and adjustments, each admitted once (``pay-ledger``).

        ``jobs.codec.LEDGER_RECORD``: ``jobs.compat.first_field`` gives the JSON in the JVM.
        """

    def daily(self, stream: DataStream) -> None:
        """Daily-totals changelog (``driver-daily-pay``), ``jobs.codec.DAILY_RECORD``."""

    def dead_letter(self, stream: DataStream) -> None:
        """Malformed and poison records with reason, payload and position (``order-events-dlq``)."""

    def quarantine(self, stream: DataStream) -> None:
        """Valid events in impossible states, from the future, or over a cap."""

    def audit(self, stream: DataStream) -> None:
        """Duplicates, late events, lines beyond retention, poison (``order-events-audit``)."""

    def retired(self, stream: DataStream) -> None:
        """One record per key whose state was cleared (tests assert state returns to zero)."""


def with_event_time(stamped: DataStream, strategy: WatermarkStrategy) -> DataStream:
    """Take ``(keyed event, watermark_ts)`` pairs from the parser; attach time and watermarks.

    The timestamp is the parser's per-split stream clock, not the event's own time, so a record
    from the future never advances a watermark. Done in the JVM (``jobs.compat``).
    """
    return stamp_event_time(stamped, strategy, KEYED_EVENT)


def build_pipeline(
    raw: DataStream,
    decode: Decoder,
    zones: ZonesLike,
    settings: JobSettings,
    sinks: Sinks,
    owned_splits: Mapping[int, tuple[str, ...]] | None = None,
    corrections: tuple[DataStream, Decoder] | None = None,
    versions: tuple[DataStream, Decoder] | None = None,
) -> DataStream:
    """Parse -> watermarks -> lifecycle by ``order_id`` -> totals by ``(driver_id, pay_date)``.

    Per event, one Python stage does the work of each step and nothing else crosses into
    Python: every Python stage emits ``Row(key, record)`` for the next keyed stage, which the
    JVM keys (``jobs.compat.key_by_first_field``) and serialises as typed rows.

    ``zones``: the submission's version (or history), which seeds the lifecycle so no event
    waits for the broadcast. ``versions``: raw zones version records (the ``zones`` topic, or a
    collection) and their decoder, broadcast to the lifecycle stage; by default the
    submission's own version(s). ``owned_splits``: the source splits each parser subtask reads
    (Kafka partitions), so the slowest holds the watermark back from the start.
    ``corrections``: raw correction records (``pay-corrections``) and their decoder; the daily
    stage applies them like any line. Returns the stream of valid, admitted events (typed
    rows), e.g. for the raw archive: ``Row(order_id, jobs.codec.DATED_EVENT_TYPE)``.
    """
    clock: StreamClock[Held] = StreamClock(
        settings.max_ahead_ms, idle_s=settings.split_idle_ms / 1000
    )
    timezones = {name: zone.timezone for name, zone in zones.items()}
    parse = ParseEvents(timezones, decode, clock, owned_splits, settings.clock_offset_ms)
    parsed = raw.process(parse, STAMPED_EVENT)
    parsed = parsed.name("parse-validate").uid("parse-validate")
    watermarks = WatermarkStrategy.for_bounded_out_of_orderness(
        Duration.of_millis(settings.out_of_orderness_ms)
    ).with_idleness(Duration.of_millis(settings.idleness_ms))
    events = with_event_time(parsed, watermarks).name("event-time").uid("event-time")
    lifecycle = OrderLifecycle(zones, settings.grace_ms, settings.max_open_ms)
    if versions is None:
        seed = zones.versions if isinstance(zones, ZonesHistory) else (zones,)
        records = raw.get_execution_environment().from_collection(
            [version_record(v) for v in seed], type_info=Types.STRING()
        )
        versions = (records.name("zones-versions").uid("zones-versions"), decode_version_text)
    version_stream, decode_version = versions
    function = OrderLifecycleFunction(lifecycle, decode_version, settings.retired_evidence)
    lines = (
        key_by_first_field(events, Types.STRING())
        .connect(version_stream.broadcast(ZONES_VERSIONS))
        .process(function, output_type=KEYED_LINE)
        .name("order-lifecycle")
        .uid("order-lifecycle")
    )
    stages = [parsed, lines]
    if corrections is not None:
        raw_corrections, decode_correction = corrections
        fixes = raw_corrections.process(
            ParseCorrections(zones, decode_correction), output_type=KEYED_LINE
        )
        fixes = fixes.name("pay-corrections").uid("pay-corrections")
        stages.append(fixes)
        lines = lines.union(fixes)
    totals = DailyTotals(zones, settings.finalize_grace_ms, settings.daily_retention_ms)
    # At parallelism 1 every key is on the one subtask: the lines need no shuffle, and with one
    # input the daily stage chains into the lifecycle's thread, one fewer on the interpreter lock.
    in_place = settings.parallelism == 1 and corrections is None
    daily = (
        key_by_first_field(lines, Types.STRING(), in_place)
        .process(DailyTotalsFunction(totals), output_type=DAILY_RECORD)
        .name("daily-totals")
        .uid("daily-totals")
    )
    stages.append(daily)
    sinks.ledger(daily.get_side_output(LEDGER))
    sinks.daily(daily)
    sinks.dead_letter(_union(stage.get_side_output(DEAD_LETTER) for stage in stages))
    sinks.quarantine(_union(stage.get_side_output(QUARANTINE) for stage in stages))
    sinks.audit(_union(stage.get_side_output(AUDIT) for stage in stages))
    sinks.retired(_union(stage.get_side_output(RETIRED) for stage in (stages[1], daily)))
    return events


def _union(streams: object) -> DataStream:
    first, *rest = list(streams)  # type: ignore[call-overload]
    return first.union(*rest) if rest else first
