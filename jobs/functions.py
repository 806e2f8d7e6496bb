"""Thin Flink adapters: each maps Flink state and timers onto a pure transition in ``udfs``.

Every per-record path is guarded: whatever one record does, the job keeps running. A record
that makes an operator raise is sent to the dead letter as ``internal error: <type>: <message>``
with its payload, counted in ``poison_records`` (the counter an alert watches) and audited; the
operator's state for that key is left as it was before the record.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction, RuntimeContext
from pyflink.datastream.functions import KeyedBroadcastProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from jobs.codec import (
    CARRIER_PREFIX,
    DAILY_COLUMNS,
    DAILY_LAYOUT,
    DAILY_STATE_TYPE,
    LEDGER_COLUMNS,
    LEDGER_RECORD,
    ORDER_LAYOUT,
    ORDER_STATE_TYPE,
    daily_state,
    daily_value,
    keyed_event,
    line_base,
    line_event,
    line_event_row,
    order_state,
    order_value,
    row_to_event,
    side_carrier,
    sink_record,
    spans_of,
    spans_text,
    state_fields,
)
from jobs.compat import checked_state, subtask_index
from jobs.settings import DAILY_STATE, ORDER_STATE
from jobs.state_set import StagedMap, StagedMapSet, persist, persist_map
from udfs.daily import DailyState, DailyStep, DailyTotals, Verdict, daily_json
from udfs.events import (
    MAX_EVENT_BYTES,
    MalformedEventError,
    OrderEvent,
    event_record,
    parse_event,
)
from udfs.ledger import LineKind, PayLine, record_json
from udfs.lifecycle import OrderLifecycle, OrderState, Step, quarantine_record
from udfs.localday import pay_date
from udfs.reconcile import CorrectionError, correction
from udfs.stream_clock import Admission, StreamClock
from udfs.timefmt import format_ms
from udfs.zones import ZonesError
from udfs.zones_history import ZonesHistory, parse_version_record, version_record

DEAD_LETTER = OutputTag("dead-letter", Types.STRING())
LEDGER = OutputTag("pay-ledger", LEDGER_RECORD)  # (contract JSON, typed pay_lines row)
QUARANTINE = OutputTag("quarantine", Types.STRING())
AUDIT = OutputTag("audit", Types.STRING())
RETIRED = OutputTag("retired", Types.STRING())  # state cleared: evidence for tests, not data
MAX_ERROR_CHARS = 500
# Broadcast state of the lifecycle stage: zones version -> its canonical record (typed, no pickle).
ZONES_VERSIONS = checked_state(MapStateDescriptor("zones-versions", Types.STRING(), Types.STRING()))
_SIDE_OUTPUTS = {tag.tag_id: tag for tag in (DEAD_LETTER, QUARANTINE, AUDIT, RETIRED)}


class Raw(NamedTuple):
    """One source record: the split it came from, its exact position, and its bytes."""

    split: str
    position: str
    payload: bytes | None


Decoder = Callable[[Any], Raw]


class KafkaRowDecoder:
    """Kafka rows are ``(raw bytes or null, partition, offset)``; the split is the partition."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def __call__(self, value: Row) -> Raw:
        split = f"{self.topic}/{value[1]}"
        payload = value[0]
        return Raw(split, f"{split}@{value[2]}", None if payload is None else bytes(payload))


def decode_version_text(value: str) -> Raw:
    """Zones version records given to an embedded run as text (one record per element)."""
    return Raw("zones", "zones", value.encode("utf-8"))


def decode_staged_line(value: str) -> Raw:
    r"""File source records are ``<line number>\\t<base64 of the original bytes>``."""
    position, _, payload = value.partition("\t")
    return Raw("file", f"line {position}", base64.b64decode(payload))


def dumps(record: dict[str, Any]) -> str:
    """Compact JSON in the field order given: the same record always gives the same bytes."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


# The largest dead letter the Kafka sink may write: under the producer's default
# max.request.size (1 MiB), with room for the record's framing.
MAX_DEAD_LETTER_BYTES = 900_000


def dead_letter(reason: str, payload: bytes | None, position: str) -> str:
    """A dead-letter record: reason, payload as text, exact bytes when not UTF-8, position.

    Only a record whose dead letter could not be written whole (over
    ``MAX_DEAD_LETTER_BYTES``: 900 kB of control characters escape to 5 MB, which the Kafka
    sink refuses, failing the job on the same record forever) keeps just its first
    ``MAX_EVENT_BYTES``, with its full size and SHA-256; the whole record stays at its position.
    """
    data = payload or b""
    whole = _dead_letter_text(reason, data, position)
    if len(whole.encode()) <= MAX_DEAD_LETTER_BYTES:
        return whole
    cut = {"payload_bytes": len(data), "payload_sha256": hashlib.sha256(data).hexdigest()}
    return _dead_letter_text(reason, data[:MAX_EVENT_BYTES], position, cut)


def _dead_letter_text(
    reason: str, data: bytes, position: str, extra: dict[str, Any] | None = None
) -> str:
    text = data.decode("utf-8", errors="replace")
    record: dict[str, Any] = {"reason": reason, "payload": text, "position": position}
    if text.encode() != data:  # not valid UTF-8: keep the exact bytes too
        record["payload_base64"] = base64.b64encode(data).decode()
    return dumps({**record, **(extra or {})})


class Guarded:
    """Runs one record's work to completion before emitting anything, or reports it as poison."""

    stage = "operator"

    def open_guard(self, runtime_context: RuntimeContext) -> Any:
        """The ``driverpay`` metric group, with the poison counter registered."""
        group = runtime_context.get_metrics_group().add_group("driverpay")
        self.poison = group.counter("poison_records")
        return group

    def guarded(
        self,
        work: Callable[[], Iterator[Any]],
        payload: Callable[[], bytes | None],
        where: Callable[[], str],
    ) -> Iterator[Any]:
        """All of ``work``'s outputs, or a dead letter + audit record if it raised.

        ``payload`` and ``where`` are asked only then: the current key is a call into the JVM.
        """
        try:
            outputs = list(work())
        except Exception as exc:
            self.poison.inc()
            reason = f"internal error: {type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            position = f"{self.stage} {_safe_where(where)}"
            yield DEAD_LETTER, dead_letter(reason, _safe(payload), position)
            yield AUDIT, dumps({"kind": "POISON", "reason": reason, "position": position})
            return
        yield from outputs


def _safe_where(where: Callable[[], str]) -> str:
    try:
        return where()
    except Exception as exc:
        return f"<position unavailable: {type(exc).__name__}>"


def _safe(payload: Callable[[], bytes | None]) -> bytes | None:
    try:
        return payload()
    except Exception as exc:
        return f"<payload unavailable: {type(exc).__name__}>".encode()


class RawRecordStage(Guarded, ProcessFunction):  # type: ignore[misc]
    """A stage reading source records: ``_parse`` each, guarded, with its bytes on failure."""

    decode: Decoder

    def process_element(self, value: Any, ctx: ProcessFunction.Context) -> Iterator[Any]:
        yield from self.guarded(
            lambda: self._parse(value), lambda: self.decode(value).payload, lambda: ""
        )

    def _parse(self, value: Any) -> Iterator[Any]:
        raise NotImplementedError


Held = tuple[OrderEvent, str]  # an event refused ahead of its split, and its source position


class ParseEvents(RawRecordStage):
    """Validate raw records against the contract, once, for every source.

    Malformed ones go to the dead letter, ones from the future to quarantine; valid ones carry
    the watermark timestamp of their split's stream clock and their local date (the archive's
    partition), keyed by order for the lifecycle stage (``jobs.compat.key_by_first_field``).
    One refused only by its split's clock and let in later, once the split's next records show
    its stream did move there, follows its ``RELEASED_AHEAD`` audit record.
    """

    stage = "parse-validate"

    def __init__(
        self,
        timezones: Mapping[str, ZoneInfo],
        decode: Decoder,
        clock: StreamClock[Held],
        owned_splits: Mapping[int, tuple[str, ...]] | None = None,
        clock_offset_ms: int = 0,
    ) -> None:
        self.timezones = dict(timezones)
        self.zone_names = frozenset(timezones)
        self.decode = decode
        self.clock = clock
        self.owned_splits = dict(owned_splits or {})
        self.clock_offset_s = clock_offset_ms / 1000  # a replayed file's own time, if later

    def _now(self) -> float:
        """Processing time as the stream clock judges it (``JobSettings.clock_offset_ms``)."""
        return time.time() + self.clock_offset_s

    def open(self, runtime_context: RuntimeContext) -> None:
        owned = self.owned_splits.get(subtask_index(runtime_context), ())
        self.clock.expect(owned, self._now())
        group = self.open_guard(runtime_context)
        self.valid = group.counter("events_valid")
        self.malformed = group.counter("events_malformed")
        self.ahead = group.counter("events_ahead")
        self.released = group.counter("events_released")

    def _parse(self, value: Any) -> Iterator[Any]:
        raw = self.decode(value)
        try:
            event = parse_event(raw.payload, self.zone_names)
        except MalformedEventError as exc:
            self.malformed.inc()
            yield DEAD_LETTER, dead_letter(str(exc), raw.payload, raw.position)
            return
        admission = self.clock.admit(raw.split, event.time_ms, self._now(), (event, raw.position))
        for held, position in admission.released:
            self.released.inc()
            yield AUDIT, _audit("RELEASED_AHEAD", held, admission.watermark_ms, position=position)
            yield self._admitted(held, admission.watermark_ms)
        if not admission.admitted:
            self.ahead.inc()
            yield QUARANTINE, self._ahead(event, admission, raw)
            return
        yield self._admitted(event, admission.watermark_ms)

    def _admitted(self, event: OrderEvent, watermark_ms: int) -> tuple[Row, int]:
        """A valid event for the lifecycle, dated once (the archive's partition)."""
        self.valid.inc()
        day = pay_date(event.time_ms, self.timezones[event.zone]).isoformat()
        return keyed_event(event, day), watermark_ms

    def _ahead(self, event: OrderEvent, admission: Admission[Held], raw: Raw) -> str:
        """The quarantine record; a held one may still be let in (``udfs.stream_clock``)."""
        wall = "the file's own time" if self.clock_offset_s else "the wall clock"
        clock = wall if admission.by_wall_clock else f"{raw.split}'s event time"
        reason = (
            f"event time implausibly far ahead: more than {self.clock.max_ahead_ms // 60_000} "
            f"min after {clock} ({format_ms(admission.reference_ms)}); unpaid"
        )
        if admission.held:
            reason += " unless the split's next records show its stream moved there"
        record = quarantine_record(event, reason, kind="AHEAD_OF_STREAM")
        return dumps({**record, "position": raw.position, "held": admission.held})


class ParseCorrections(RawRecordStage):
    """Correction lines from ``driverpay reconcile --apply``, as typed rows for the daily stage.

    Anything that is not a valid correction goes to the dead letter; the daily stage applies
    each correction at most once, so a correction produced twice pays once.
    """

    stage = "pay-corrections"

    def __init__(self, zones: Mapping[str, Any], decode: Decoder) -> None:
        self.zones = zones
        self.decode = decode

    def open(self, runtime_context: RuntimeContext) -> None:
        group = self.open_guard(runtime_context)
        self.received = group.counter("corrections_received")

    def _parse(self, value: Any) -> Iterator[Any]:
        raw = self.decode(value)
        try:
            line, base = correction(raw.payload, self.zones)
        except CorrectionError as exc:
            yield DEAD_LETTER, dead_letter(f"correction: {exc}", raw.payload, raw.position)
            return
        self.received.inc()
        yield line_event_row(line, line.end_ms, base)


class OrderLifecycleFunction(Guarded, KeyedBroadcastProcessFunction):  # type: ignore[misc]
    """Keyed by ``order_id``: dedup, lifecycle, pay lines, corrections, quarantine.

    Connected to the broadcast stream of zones versions (the ``zones`` topic): each version is
    kept in broadcast state (version -> record) and joins the in-memory history that prices
    every order. The function is seeded with the submission's version, so no event waits for
    the broadcast. Orders in state that a newer version governs are re-priced at their next
    event or timer (``udfs.lifecycle``).

    PyFlink 2.2.1, thread mode: ``on_timer`` of a keyed broadcast function does not route side
    outputs (its results skip the side-output collector that ``process_element``'s go through,
    and a ``(tag, value)`` pair fails as a main-output row), so what a timer produces for a
    side output travels as a carrier row on the main output and the daily stage — already the
    next Python stage — emits it to its side output (``jobs.codec.side_carrier``). The quirk is
    pinned by tests/flink/test_pyflink_quirks.py, which fails once an upgrade fixes it.
    ``apply_to_keyed_state`` is not offered by PyFlink at all, hence re-pricing on next touch.
    """

    stage = "order-lifecycle"

    def __init__(
        self, lifecycle: OrderLifecycle, decode_version: Decoder, retired: bool = True
    ) -> None:
        self.lifecycle = lifecycle
        self.decode_version = decode_version
        self.emit_retired = retired

    def open(self, runtime_context: RuntimeContext) -> None:
        # One value per order: a single state read and write per event (jobs.codec: layout).
        self.order = runtime_context.get_state(
            checked_state(ValueStateDescriptor(ORDER_STATE, ORDER_STATE_TYPE))
        )
        self.subtask = subtask_index(runtime_context)
        self.live = 0  # orders with state on this subtask since start (evidence, not state)
        self.history = (
            self.lifecycle.zones
            if isinstance(self.lifecycle.zones, ZonesHistory)
            else ZonesHistory([self.lifecycle.zones])
        )
        self.restored = False  # versions in broadcast state (after a restore) not read yet
        group = self.open_guard(runtime_context)
        self.counters = {
            name: group.counter(name)
            for name in (
                "duplicates",
                "late_events",
                "quarantined",
                "pay_lines",
                "reversals",
                "adjustments",
                "zones_versions",
            )
        }
        self.counters["zones_versions"].inc(len(self.history.versions))

    def process_element(self, value: Row, ctx: Any) -> Iterator[Any]:
        self._restore(ctx)
        yield from self.guarded(
            lambda: self._on_event(value, ctx),
            lambda: dumps(event_record(row_to_event(value))).encode(),
            lambda: f"order {ctx.get_current_key()!r}",
        )

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        self._restore(ctx)
        key = ctx.get_current_key()
        outputs = self.guarded(
            lambda: self._on_timer(timestamp, ctx),
            lambda: None,
            lambda: f"timer {timestamp} of order {key!r}",
        )
        for output in outputs:
            if isinstance(output, tuple) and isinstance(output[0], OutputTag):
                yield side_carrier(output[0].tag_id, output[1], key)
            else:
                yield output

    def process_broadcast_element(self, value: Any, ctx: Any) -> Iterator[Any]:
        yield from self.guarded(
            lambda: self._on_version(value, ctx),
            lambda: self.decode_version(value).payload,
            lambda: "zones version",
        )

    def _on_version(self, value: Any, ctx: Any) -> Iterator[Any]:
        raw = self.decode_version(value)
        state = ctx.get_broadcast_state(ZONES_VERSIONS)
        self._restore_from(state)
        try:
            zones = parse_version_record(raw.payload)
            history = self.history.plus(zones)
        except ZonesError as exc:
            if self.subtask == 0:  # every subtask sees the record: report it once
                yield DEAD_LETTER, dead_letter(f"zones version: {exc}", raw.payload, raw.position)
            return
        if history is not self.history:
            state.put(zones.version, version_record(zones))
            self._use(history)

    def _restore(self, ctx: Any) -> None:
        if not self.restored:
            self._restore_from(ctx.get_broadcast_state(ZONES_VERSIONS))

    def _restore_from(self, state: Any) -> None:
        """Versions checkpointed in broadcast state join the seed, once after (re)start."""
        if self.restored:
            return
        self.restored = True
        history = self.history
        for _, record in state.items():  # .keys() fails on read-only state in thread mode
            try:
                history = history.plus(parse_version_record(record))
            except ZonesError:
                continue  # conflicts with this submission's seed: the seed wins
        self._use(history)

    def _use(self, history: ZonesHistory) -> None:
        if history is not self.history:
            added = len(history.versions) - len(self.history.versions)
            self.counters["zones_versions"].inc(added)
            self.history = history
        self.lifecycle = replace(self.lifecycle, zones=history)

    def _on_event(self, value: Row, ctx: Any) -> Iterator[Any]:
        state = self._load()
        watermark = ctx.timer_service().current_watermark()
        fresh = not state.events
        event = row_to_event(value)
        step = self.lifecycle.on_event(state, event, watermark)
        if step.duplicate:
            self.counters["duplicates"].inc()
            yield AUDIT, _audit("DUPLICATE", event, watermark)
            return
        if step.late:
            self.counters["late_events"].inc()
            yield AUDIT, _audit("LATE", event, watermark)
        if step.capped:
            yield from self._quarantine(step)
            return
        if fresh:
            self.live += 1
        yield from self._finish(state, step, ctx, event.time_ms)

    def _on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        state = self._load()
        if not state.events:
            return
        step = self.lifecycle.on_timer(state, ctx.timer_service().current_watermark())
        yield from self._finish(state, step, ctx, timestamp)

    def _quarantine(self, step: Step) -> Iterator[Any]:
        for record in step.quarantine:
            self.counters["quarantined"].inc()
            yield QUARANTINE, dumps(record)

    def _finish(self, state: OrderState, step: Step, ctx: Any, event_ms: int) -> Iterator[Any]:
        for line in step.lines:
            self.counters[_LINE_COUNTER[line.kind]].inc()
            yield line_event_row(line, event_ms)
        yield from self._quarantine(step)
        old_timer = self._timer
        if old_timer is not None and old_timer != step.timer_ms:
            ctx.timer_service().delete_event_time_timer(old_timer)
        if step.discard:
            self.order.clear()
            self.live -= 1
            if self.emit_retired:
                key = ctx.get_current_key()
                yield RETIRED, _retired("ORDER_RETIRED", key, self.subtask, self.live)
            return
        self.order.update(order_value(state, step.timer_ms))
        if step.timer_ms is not None and step.timer_ms != old_timer:
            ctx.timer_service().register_event_time_timer(step.timer_ms)

    def _load(self) -> OrderState:
        value = self.order.value()
        if value is None:
            self._timer = None
            return OrderState()
        fields = state_fields(value, ORDER_LAYOUT, "order")
        self._timer = fields[1]
        return order_state(fields)


class DailyTotalsFunction(Guarded, KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by ``driver_id|pay_date``: admits each line once to the ledger and the total.

    Ledger lines (``LEDGER``) and daily totals (main output) leave as ``(contract JSON, typed
    row)``: the JSON for the topics and files, the row for PostgreSQL (``jobs.codec``).
    """

    stage = "daily-totals"

    def __init__(self, totals: DailyTotals) -> None:
        self.totals = totals

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(
            checked_state(ValueStateDescriptor(DAILY_STATE, DAILY_STATE_TYPE))
        )
        # The day's line ids and intervals in effect: one keyed lookup per line (jobs.state_set).
        self.seen = runtime_context.get_map_state(
            checked_state(MapStateDescriptor("daily-seen", Types.STRING(), Types.BOOLEAN()))
        )
        self.in_effect = runtime_context.get_map_state(
            checked_state(MapStateDescriptor("daily-in-effect", Types.STRING(), Types.BOOLEAN()))
        )
        # Per order, the spans its lines in effect pay (udfs.daily: OVERLAPS_PAID). New since
        # the state of older savepoints: restored empty, which only leaves their lines unchecked.
        self.spans = runtime_context.get_map_state(
            checked_state(MapStateDescriptor("daily-spans", Types.STRING(), Types.STRING()))
        )
        self.subtask = subtask_index(runtime_context)
        self.live = 0
        group = self.open_guard(runtime_context)
        self.finalized = group.counter("days_finalized")
        self.post_final = group.counter("post_final_updates")
        self.too_late = group.counter("lines_beyond_retention")
        self.restated = group.counter("days_restated")  # corrections beyond retention
        self.duplicate_lines = group.counter("duplicate_lines")
        self.quarantined = group.counter("quarantined")
        self.overlapping = group.counter("lines_overlapping_paid")

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        yield from self.guarded(
            lambda: self._on_line(value, ctx),
            lambda: line_event(value)[0].to_json().encode(),
            lambda: f"driver-day {ctx.get_current_key()!r}",
        )

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        yield from self.guarded(
            lambda: self._on_timer(ctx),
            lambda: None,
            lambda: f"timer {timestamp} of driver-day {ctx.get_current_key()!r}",
        )

    def _on_line(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        kind = value[1]
        if kind.startswith(CARRIER_PREFIX):  # a lifecycle timer's side output (see its class)
            yield _SIDE_OUTPUTS[kind[len(CARRIER_PREFIX) :]], value[20]
            return
        stored = self._stored()
        state = self._day(stored) if stored is not None else None
        line, event_ms = line_event(value)
        watermark = ctx.timer_service().current_watermark()
        base = line_base(value)
        new_state, step = self.totals.on_line(state, line, event_ms, watermark, base)
        if step.verdict is Verdict.BEYOND_RETENTION:
            self.too_late.inc()  # the reconciliation path picks these up from the audit topic
            yield AUDIT, dumps({"kind": "LINE_BEYOND_RETENTION", "line": line.to_record()})
            return
        assert new_state is not None
        if step.verdict is Verdict.DUPLICATE:
            self.duplicate_lines.inc()
            yield AUDIT, _line_audit("DUPLICATE_LINE", line)
        elif step.verdict is Verdict.OVERLAPS_PAID:
            self.overlapping.inc()  # not paid twice; reconcile decides which line is right
            yield AUDIT, dumps({"kind": "LINE_OVERLAPS_PAID", "line": line.to_record()})
        elif step.verdict is Verdict.OVER_CAP:
            self.quarantined.inc()
            yield QUARANTINE, _line_audit("DAY_LINE_CAP", line, self.totals.max_lines)
        elif step.verdict is Verdict.CURRENCY_MISMATCH:
            self.quarantined.inc()
            yield QUARANTINE, currency_mismatch(line, new_state.currency)
        else:
            record = line.to_record()
            yield LEDGER, sink_record(record_json(record), record, LEDGER_COLUMNS)
            if step.verdict is Verdict.RESTATED:  # a correction for a day whose state is gone
                self.restated.inc()
            elif new_state.post_final:
                self.post_final.inc()
        if stored is None:
            self.live += 1
        yield from self._finish(new_state, step, ctx, stored[8] if stored is not None else None)

    def _on_timer(self, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        stored = self._stored()
        if stored is None:
            return
        driver_id, _, pay_date = ctx.get_current_key().rpartition("|")  # ids may contain "|"
        state = self._day(stored)
        step = self.totals.on_timer(
            state, driver_id, pay_date, ctx.timer_service().current_watermark()
        )
        if step.discard:
            self.state.clear()
            self.seen.clear()
            self.in_effect.clear()
            self.spans.clear()
            self.live -= 1
            yield RETIRED, _retired("DAY_RETIRED", ctx.get_current_key(), self.subtask, self.live)
            return
        if step.emit is not None:
            self.finalized.inc()
        yield from self._finish(state, step, ctx, stored[8])

    def _finish(
        self, state: DailyState, step: DailyStep, ctx: Any, old_timer: int | None
    ) -> Iterator[Any]:
        if step.emit is not None:
            yield sink_record(daily_json(step.emit), step.emit, DAILY_COLUMNS)
        if old_timer is not None and old_timer != step.timer_ms:
            ctx.timer_service().delete_event_time_timer(old_timer)
        if step.timer_ms is not None and step.timer_ms != old_timer:
            ctx.timer_service().register_event_time_timer(step.timer_ms)
        self.state.update(daily_value(state, step.timer_ms))
        persist(state.seen, self.seen)
        persist(state.in_effect, self.in_effect)
        persist_map(state.spans, self.spans, spans_text)

    def _stored(self) -> list[Any] | None:
        value = self.state.value()
        return None if value is None else state_fields(value, DAILY_LAYOUT, "driver-day")

    def _day(self, stored: list[Any]) -> DailyState:
        """The stored day, its sets read through on demand from map state."""
        return daily_state(
            stored,
            StagedMapSet(self.seen, stored[9]),
            StagedMapSet(self.in_effect, stored[10]),
            StagedMap(self.spans, spans_of, spans_text),
        )


def _retired(kind: str, key: str, subtask: int, live: int) -> str:
    """State for ``key`` was cleared; ``live_after`` is what this subtask still holds."""
    return dumps({"kind": kind, "key": key, "subtask": subtask, "live_after": live})


def _audit(kind: str, event: OrderEvent, watermark: int, **more: str) -> str:
    return dumps(
        {
            "kind": kind,
            "event_id": event.event_id,
            "order_id": event.order_id,
            "event_time": format_ms(event.time_ms),
            "watermark": format_ms(watermark) if watermark > _NO_WATERMARK else None,
            **more,
        }
    )


def _line_fields(kind: str, line: PayLine) -> dict[str, Any]:
    return {
        "kind": kind,
        "line_id": line.line_id,
        "line_kind": line.kind.value,
        "order_id": line.interval.order_id,
        "driver_id": line.interval.driver_id,
        "pay_date": line.pay_date.isoformat(),
        "amount": str(line.amount),
    }


def _line_audit(kind: str, line: PayLine, cap: int | None = None) -> str:
    record = _line_fields(kind, line)
    if cap is not None:
        record["reason"] = f"driver-day has {cap} lines already; this one is not applied"
    return dumps(record)


def currency_mismatch(line: PayLine, day_currency: str) -> str:
    """The quarantine record of a line whose currency is not its driver-day's."""
    record = _line_fields("DAY_CURRENCY_MISMATCH", line)
    record.update(
        zone=line.interval.zone,
        currency=line.currency,
        day_currency=day_currency,
        reason=f"the driver-day is paid in {day_currency}; a {line.currency} line is not added",
    )
    return dumps(record)


_NO_WATERMARK = -(2**62)  # Flink reports Long.MIN_VALUE before the first watermark
_LINE_COUNTER = {
    LineKind.LINE: "pay_lines",
    LineKind.REVERSAL: "reversals",
    LineKind.ADJUSTMENT: "adjustments",
}
