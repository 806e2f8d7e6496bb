"""Order lifecycles: from an order's events (any arrival order) to its paid intervals.

``derive`` is a pure function of the order's deduplicated event set, so the net pay of an order
does not depend on arrival order. ``OrderLifecycle`` is the streaming transition around it: it
returns what to emit (lines, reversals, adjustments, quarantine records), the next timer, and
whether the order's state can be discarded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from udfs.events import EventType, OrderEvent, event_record
from udfs.ledger import LineKind, PaidInterval, PayLine, line_id, lines_for
from udfs.timefmt import format_ms
from udfs.zones_history import ZonesLike

# Ties at one instant: a release comes before a new acceptance, which comes before its end,
# so "unassigned + re-accepted" and zero-length intervals both read naturally.
_RANK = {
    EventType.UNASSIGNED: 0,
    EventType.ACCEPTED: 1,
    EventType.PICKED_UP: 2,
    EventType.CANCELLED: 3,
    EventType.DELIVERED: 3,
}
# An honest order has a handful of events (accept, pick-up, end, maybe a release and re-accept);
# more than this is a replaying or hostile producer, and is quarantined instead of stored, so an
# order's state and per-event cost stay bounded (docs/contracts.md §2, "What is never paid").
MAX_ORDER_EVENTS = 64
_END_OF_TIME = 2**63 - 1  # Long.MAX_VALUE: the watermark once a bounded input has ended
_ZERO = Decimal(0)  # 0 - x, unlike -x, never yields a negative zero ("-0.00")
_CLOSING = frozenset({EventType.DELIVERED, EventType.CANCELLED})


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An event that makes no sense where it sits in the order's timeline.

    ``settled``: no later event can make it valid (it follows the order's close). Otherwise a
    late event (an earlier ``ACCEPTED`` or ``UNASSIGNED``) may still explain it.
    """

    event: OrderEvent
    reason: str
    settled: bool = False


@dataclass(frozen=True, slots=True)
class Derivation:
    """What an order's events say: its paying intervals, anomalies, and whether it is open."""

    intervals: tuple[PaidInterval, ...]
    anomalies: tuple[Anomaly, ...]
    open_accept: OrderEvent | None


def derive(
    events: Iterable[OrderEvent], zones: ZonesLike, max_open_ms: int | None = None
) -> Derivation:
    """Replay the events in event-time order through the order state machine.

    An interval longer than ``max_open_ms`` is implausible work: its end is an anomaly, unpaid.
    Events are kept in time order by the caller, so this sort is linear (timsort on a run).
    """
    intervals: list[PaidInterval] = []
    anomalies: list[Anomaly] = []
    current: OrderEvent | None = None
    closed_by: OrderEvent | None = None
    for e in sorted(events, key=_order_key):
        reason = _reject(e, current, closed_by)
        if reason:
            anomalies.append(Anomaly(e, reason, settled=closed_by is not None))
        elif e.type is EventType.ACCEPTED:
            current = e
        elif e.type is not EventType.PICKED_UP and current is not None:
            length = e.time_ms - current.time_ms
            if max_open_ms is not None and length > max_open_ms and e.type in _CLOSING:
                anomalies.append(Anomaly(e, _too_long(current, e, max_open_ms), settled=True))
            elif e.type in zones.governing(current.zone, current.time_ms)[current.zone].paid_on:
                intervals.append(
                    PaidInterval(
                        e.order_id,
                        e.driver_id,
                        current.zone,
                        current.time_ms,
                        e.time_ms,
                        current.event_id,
                        e.event_id,
                        e.type.value,
                    )
                )
            current = None
            closed_by = e if e.type in _CLOSING else None
    return Derivation(tuple(intervals), tuple(anomalies), current)


def _too_long(start: OrderEvent, end: OrderEvent, max_open_ms: int) -> str:
    minutes = (end.time_ms - start.time_ms) // 60_000
    return (
        f"implausible interval: {minutes} min from {format_ms(start.time_ms)} to "
        f"{format_ms(end.time_ms)} is longer than max_open ({max_open_ms // 60_000} min); unpaid"
    )


def _reject(e: OrderEvent, current: OrderEvent | None, closed_by: OrderEvent | None) -> str:
    """Why ``e`` is invalid given the state before it, or '' when it is a valid transition."""
    if closed_by is not None:
        what = "conflicting" if e.type in _CLOSING else "late"
        return (
            f"{what} {e.type} after the order closed ({closed_by.type} at "
            f"{format_ms(closed_by.time_ms)})"
        )
    if e.type is EventType.ACCEPTED:
        if current is not None:
            return f"ACCEPTED by {e.driver_id} while assigned to {current.driver_id}"
        return ""
    if current is None:
        return f"{e.type} by {e.driver_id} without an open acceptance"
    if e.driver_id != current.driver_id:
        return f"{e.type} by {e.driver_id}, who never accepted (assigned to {current.driver_id})"
    return ""


@dataclass
class OrderState:
    """Everything kept for one order; ``lines`` are the ledger lines currently in effect."""

    events: dict[str, OrderEvent] = field(default_factory=dict)
    quarantined: set[str] = field(default_factory=set)
    lines: list[PayLine] = field(default_factory=list)
    revision: int = 0


@dataclass
class Step:
    """What one transition produced; ``discard`` means the order's state can be cleared."""

    lines: list[PayLine] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    duplicate: bool = False
    late: bool = False
    timer_ms: int | None = None
    discard: bool = False
    capped: bool = False  # the event was quarantined before touching state: timers unchanged


def _insert_in_time_order(state: OrderState, event: OrderEvent) -> None:
    """Keep ``state.events`` sorted by event time, so derivation never sorts from scratch."""
    last = next(reversed(state.events.values()), None)
    state.events[event.event_id] = event
    if last is not None and _order_key(event) < _order_key(last):
        state.events = dict(sorted(state.events.items(), key=lambda kv: _order_key(kv[1])))


def _order_key(e: OrderEvent) -> tuple[int, int, str]:
    return (e.time_ms, _RANK[e.type], e.event_id)


@dataclass(frozen=True)
class OrderLifecycle:
    """Transitions of one order; ``grace_ms`` bounds lateness, ``max_open_ms`` open orders."""

    zones: ZonesLike
    grace_ms: int
    max_open_ms: int
    max_events: int = MAX_ORDER_EVENTS

    def on_event(self, state: OrderState, event: OrderEvent, watermark_ms: int) -> Step:
        """Apply one event: dedup by ``event_id``, re-derive, emit what changed."""
        if event.event_id in state.events:
            return Step(duplicate=True)  # nothing changes: state and timer stay as they are
        late = event.time_ms < watermark_ms
        if len(state.events) >= self.max_events:
            reason = f"order has more than {self.max_events} distinct events; this one is not kept"
            record = quarantine_record(event, reason, kind="ORDER_EVENT_CAP")
            return Step(quarantine=[record], late=late, capped=True)
        _insert_in_time_order(state, event)
        step = Step(late=late)
        derivation = derive_of(state, self)
        step.lines = self._reconcile(state, derivation, event)
        # A late event is judged no sooner than one grace period of event time after it came:
        # an order whose events all arrive a day late (a phone offline) gets the same chance to
        # complete as any other, instead of its acceptance being "open too long" on arrival.
        # At the end of time nothing more can come, and a timer past Long.MAX_VALUE cannot exist.
        waiting = late and watermark_ms <= _END_OF_TIME - self.grace_ms
        not_before = watermark_ms + self.grace_ms if waiting else None
        return self._settle(state, derivation, watermark_ms, step, not_before)

    def on_timer(self, state: OrderState, watermark_ms: int) -> Step:
        """The watermark moved: re-price under a newer zones version, settle, flag or discard.

        A zones version that arrived since the order's lines were priced, and that is in force
        over part of one of its intervals, re-prices it here at the latest (REVERSAL +
        ADJUSTMENTs): every order in state has a timer, so none leaves state priced under a
        superseded version.
        """
        derivation = derive_of(state, self)
        step = Step(lines=self._reconcile(state, derivation, None))
        return self._settle(state, derivation, watermark_ms, step)

    def _reconcile(
        self, state: OrderState, d: Derivation, cause: OrderEvent | None
    ) -> list[PayLine]:
        """Diff the paid intervals against the lines in effect; never edit a line in place.

        An interval's lines are in effect only while the zones versions in force over it
        (``ZonesHistory.segments``) are the ones they were priced with; otherwise they are
        reversed and the interval paid again. ``cause`` is the event that triggered this
        (None: a timer, re-pricing); the reason a correction carries is written only when
        there is one, which most events never need.
        """
        wanted = {iv: pieces_of(self.zones, iv) for iv in d.intervals}
        priced = priced_pieces(state.lines)
        current = [
            line for line in state.lines if wanted.get(line.interval) == priced[line.interval]
        ]
        paid = {line.interval for line in current}
        gone = [line for line in state.lines if line.interval not in paid]
        new = [iv for iv in d.intervals if iv not in paid]
        if not gone and not new:
            return []
        reason = REPRICED if cause is None else _because(cause)
        out: list[PayLine] = []
        if gone:
            state.revision += 1
            out += [reverse(line, reason) for line in gone]
            state.lines = current
        # Once an order has been corrected, every later line is part of that correction.
        corrected = bool(gone) or state.revision > 0
        kind = LineKind.ADJUSTMENT if corrected else LineKind.LINE
        reason_new = reason if corrected else None
        for interval in new:
            added = lines_for(interval, self.zones, kind, reason_new, state.revision)
            state.lines += added
            out += added
        return out

    def _settle(
        self,
        state: OrderState,
        d: Derivation,
        watermark_ms: int,
        step: Step,
        not_before: int | None = None,
    ) -> Step:
        deadline = self._deadline(state, d)
        if deadline is not None and not_before is not None:
            deadline = max(deadline, not_before)
        discard = deadline is not None and deadline <= watermark_ms
        for anomaly in d.anomalies:
            due = anomaly.settled and anomaly.event.time_ms + self.grace_ms <= watermark_ms
            if (due or discard) and anomaly.event.event_id not in state.quarantined:
                state.quarantined.add(anomaly.event.event_id)
                step.quarantine.append(quarantine_record(anomaly.event, anomaly.reason))
        if discard:
            if d.open_accept is not None:
                opened = d.open_accept
                step.quarantine.append(
                    quarantine_record(
                        opened,
                        f"order open too long: accepted at {format_ms(opened.time_ms)}, "
                        f"no end within {self.max_open_ms // 60_000} min",
                        kind="OPEN_TOO_LONG",
                    )
                )
            step.discard = True
        else:
            step.timer_ms = deadline
        return step

    def _deadline(self, state: OrderState, d: Derivation) -> int | None:
        """The next watermark that changes something for this order."""
        if not state.events:
            return None
        last = max(e.time_ms for e in state.events.values())
        clear = last + self.grace_ms
        # An order still open, or with events a late one could explain, waits up to max_open.
        unexplained = [a.event.time_ms for a in d.anomalies if not a.settled]
        if d.open_accept is not None:
            unexplained.append(d.open_accept.time_ms)
        if unexplained:
            clear = max(clear, min(unexplained) + self.max_open_ms)
        settled = [
            a.event.time_ms + self.grace_ms
            for a in d.anomalies
            if a.settled and a.event.event_id not in state.quarantined
        ]
        return min([clear, *settled])


REPRICED = "re-priced: a newer zones version governs this interval"

Pieces = tuple[tuple[int, int, str], ...]  # (start, end, zones version), in time order


def pieces_of(zones: ZonesLike, interval: PaidInterval) -> Pieces:
    """How the zones versions in force cut ``interval`` (``ZonesHistory.segments``)."""
    segments = zones.segments(interval.zone, interval.start_ms, interval.end_ms)
    return tuple((start, end, version.version) for start, end, version in segments)


def priced_pieces(lines: Iterable[PayLine]) -> dict[PaidInterval, Pieces]:
    """The pieces each interval's lines were priced as: per version, its first to last instant.

    A version's lines of one interval are its day parts of one piece, so they cover that piece
    exactly, and comparing with :func:`pieces_of` tells whether the pricing still holds.
    """
    spans: dict[PaidInterval, dict[str, tuple[int, int]]] = {}
    for line in lines:
        per = spans.setdefault(line.interval, {})
        first, last = per.get(line.zones_version, (line.start_ms, line.end_ms))
        per[line.zones_version] = (min(first, line.start_ms), max(last, line.end_ms))
    return {
        iv: tuple(sorted((first, last, version) for version, (first, last) in per.items()))
        for iv, per in spans.items()
    }


def _because(cause: OrderEvent) -> str:
    return f"corrected by {cause.type} {cause.event_id} at {format_ms(cause.time_ms)}"


def derive_of(state: OrderState, lifecycle: OrderLifecycle) -> Derivation:
    """Derive from the events not already quarantined."""
    live = (e for k, e in state.events.items() if k not in state.quarantined)
    return derive(live, lifecycle.zones, lifecycle.max_open_ms)


def reverse(line: PayLine, reason: str) -> PayLine:
    """The exact negation of a line in effect, with an id derived from the line it cancels."""
    return replace(
        line,
        line_id=line_id(LineKind.REVERSAL.value, line.line_id),
        kind=LineKind.REVERSAL,
        base_ms=-line.base_ms,
        weighted_ms=_ZERO - line.weighted_ms,
        amount=_ZERO - line.amount,
        reason=reason,
    )


def quarantine_record(
    event: OrderEvent, reason: str, kind: str = "INVALID_TRANSITION"
) -> dict[str, Any]:
    """The quarantine output's shape: the event as understood, plus why it was set aside."""
    return {"kind": kind, "reason": reason, **event_record(event)}
