"""Thin Flink adapters: each maps Flink state and timers onto a pure transition in ``udfs``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from jobs.codec import (
    DAILY_STATE_TYPE,
    ORDER_STATE_TYPE,
    daily_state,
    delta_row,
    event_to_row,
    order_row,
    order_state,
    row_to_event,
)
from udfs.daily import DailyState, DailyTotals, LineDelta, daily_json
from udfs.events import MalformedEventError, OrderEvent, parse_event
from udfs.ledger import LineKind
from udfs.lifecycle import OrderLifecycle, OrderState, Step
from udfs.timefmt import format_ms

DEAD_LETTER = OutputTag("dead-letter", Types.STRING())
LEDGER = OutputTag("pay-ledger", Types.STRING())
QUARANTINE = OutputTag("quarantine", Types.STRING())
AUDIT = OutputTag("audit", Types.STRING())

Decoder = Callable[[Any], tuple[str, bytes]]


def decode_staged_line(value: str) -> tuple[str, bytes]:
    r"""File source records are ``<line number>\\t<base64 of the original bytes>``."""
    position, _, payload = value.partition("\t")
    return f"line {position}", base64.b64decode(payload)


def subtask_index(runtime_context: RuntimeContext) -> int:
    """Index of the running subtask, working around PyFlink 2.2.1's thread-mode wrapper.

    The wrapper calls ``getIndexOfThisSubtask``, which Flink 2.x moved to ``TaskInfo``.
    """
    try:
        return int(runtime_context.get_index_of_this_subtask())
    except AttributeError:  # Flink 2.x moved it to TaskInfo; the embedded wrapper did not follow
        return int(runtime_context._runtime_context.getTaskInfo().getIndexOfThisSubtask())


def dumps(record: dict[str, Any]) -> str:
    """Compact JSON in the field order given: the same record always gives the same bytes."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


class ParseEvents(ProcessFunction):  # type: ignore[misc]
    """Validate raw records against the contract; malformed ones go to the dead-letter output."""

    def __init__(self, zone_names: frozenset[str], decode: Decoder) -> None:
        self.zone_names = zone_names
        self.decode = decode

    def open(self, runtime_context: RuntimeContext) -> None:
        group = runtime_context.get_metrics_group().add_group("driverpay")
        self.valid = group.counter("events_valid")
        self.malformed = group.counter("events_malformed")

    def process_element(self, value: Any, ctx: ProcessFunction.Context) -> Iterator[Any]:
        position, payload = self.decode(value)
        try:
            event = parse_event(payload, self.zone_names)
        except MalformedEventError as exc:
            self.malformed.inc()
            text = payload.decode("utf-8", errors="replace")
            record = {"reason": str(exc), "payload": text, "position": position}
            if text.encode() != payload:  # not valid UTF-8: keep the exact bytes too
                record["payload_base64"] = base64.b64encode(payload).decode()
            yield DEAD_LETTER, dumps(record)
            return
        self.valid.inc()
        yield event_to_row(event), event.time_ms  # event time, never arrival time


class OrderLifecycleFunction(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by ``order_id``: dedup, lifecycle, pay lines, corrections, quarantine."""

    def __init__(self, lifecycle: OrderLifecycle) -> None:
        self.lifecycle = lifecycle

    def open(self, runtime_context: RuntimeContext) -> None:
        # One typed value per order: a single state read and write per event.
        self.order = runtime_context.get_state(ValueStateDescriptor("order", ORDER_STATE_TYPE))
        self.subtask = subtask_index(runtime_context)
        self.live = 0  # orders with state on this subtask since start (evidence, not state)
        group = runtime_context.get_metrics_group().add_group("driverpay")
        self.counters = {
            name: group.counter(name)
            for name in (
                "duplicates",
                "late_events",
                "quarantined",
                "pay_lines",
                "reversals",
                "adjustments",
                "open_orders",
            )
        }

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
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
        if fresh:
            self.live += 1
            self.counters["open_orders"].inc()
        yield from self._finish(state, step, ctx, event.time_ms)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        state = self._load()
        if not state.events:
            return
        step = self.lifecycle.on_timer(state, ctx.timer_service().current_watermark())
        yield from self._finish(state, step, ctx, timestamp)

    def _finish(self, state: OrderState, step: Step, ctx: Any, event_ms: int) -> Iterator[Any]:
        for line in step.lines:
            self.counters[_LINE_COUNTER[line.kind]].inc()
            yield LEDGER, line.to_json()
            yield delta_row(line, event_ms)
        for record in step.quarantine:
            self.counters["quarantined"].inc()
            yield QUARANTINE, dumps(record)
        old_timer = self._timer
        if old_timer is not None and old_timer != step.timer_ms:
            ctx.timer_service().delete_event_time_timer(old_timer)
        if step.discard:
            self.order.clear()
            self.live -= 1
            self.counters["open_orders"].dec()
            yield AUDIT, _retired("ORDER_RETIRED", ctx.get_current_key(), self.subtask, self.live)
            return
        self.order.update(order_row(state, step.timer_ms))
        if step.timer_ms is not None and step.timer_ms != old_timer:
            ctx.timer_service().register_event_time_timer(step.timer_ms)

    def _load(self) -> OrderState:
        stored = self.order.value()
        self._timer = stored[1] if stored is not None else None
        return order_state(stored) if stored is not None else OrderState()


class DailyTotalsFunction(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by ``driver_id|pay_date``: running totals, finalization, retention."""

    def __init__(self, totals: DailyTotals) -> None:
        self.totals = totals

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(ValueStateDescriptor("daily", DAILY_STATE_TYPE))
        self.subtask = subtask_index(runtime_context)
        self.live = 0
        group = runtime_context.get_metrics_group().add_group("driverpay")
        self.finalized = group.counter("days_finalized")
        self.post_final = group.counter("post_final_updates")
        self.too_late = group.counter("lines_beyond_retention")

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        stored = self.state.value()
        state = daily_state(stored) if stored is not None else None
        delta = LineDelta(*value)
        watermark = ctx.timer_service().current_watermark()
        new_state, step = self.totals.on_line(state, delta, watermark)
        if step.too_late:
            self.too_late.inc()
            yield AUDIT, dumps({"kind": "DAY_BEYOND_RETENTION", **delta.__dict__})
            return
        assert new_state is not None
        if stored is None:
            self.live += 1
        if new_state.post_final:
            self.post_final.inc()
        yield from self._finish(new_state, step, ctx, stored[8] if stored is not None else None)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        stored = self.state.value()
        if stored is None:
            return
        driver_id, _, pay_date = ctx.get_current_key().partition("|")
        state = daily_state(stored)
        step = self.totals.on_timer(
            state, driver_id, pay_date, ctx.timer_service().current_watermark()
        )
        if step.discard:
            self.state.clear()
            self.live -= 1
            yield AUDIT, _retired("DAY_RETIRED", ctx.get_current_key(), self.subtask, self.live)
            return
        if step.emit is not None:
            self.finalized.inc()
        yield from self._finish(state, step, ctx, stored[8])

    def _finish(
        self, state: DailyState, step: Any, ctx: Any, old_timer: int | None
    ) -> Iterator[str]:
        if step.emit is not None:
            yield daily_json(step.emit)
        if old_timer is not None and old_timer != step.timer_ms:
            ctx.timer_service().delete_event_time_timer(old_timer)
        if step.timer_ms is not None and step.timer_ms != old_timer:
            ctx.timer_service().register_event_time_timer(step.timer_ms)
        self.state.update(
            Row(
                state.currency,
                state.total_minor,
                state.line_count,
                state.version,
                state.final,
                state.post_final,
                state.day_end_ms,
                state.as_of_ms,
                step.timer_ms,
            )
        )


def _retired(kind: str, key: str, subtask: int, live: int) -> str:
    """State for ``key`` was cleared; ``live_after`` is what this subtask still holds."""
    return dumps({"kind": kind, "key": key, "subtask": subtask, "live_after": live})


def _audit(kind: str, event: OrderEvent, watermark: int) -> str:
    return dumps(
        {
            "kind": kind,
            "event_id": event.event_id,
            "order_id": event.order_id,
            "event_time": format_ms(event.time_ms),
            "watermark": format_ms(watermark) if watermark > _NO_WATERMARK else None,
        }
    )


_NO_WATERMARK = -(2**62)  # Flink reports Long.MIN_VALUE before the first watermark
_LINE_COUNTER = {
    LineKind.LINE: "pay_lines",
    LineKind.REVERSAL: "reversals",
    LineKind.ADJUSTMENT: "adjustments",
}
