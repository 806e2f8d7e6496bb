"""Reconciliation: the ledger lines that turn what was streamed into what a recompute says.

History is never edited. A streamed line the recompute does not contain is cancelled by a
``REVERSAL`` (the same id ``udfs.lifecycle.reverse`` gives, so the streaming job and a
reconcile can never cancel one line twice); a recomputed line the stream lacks is paid by an
``ADJUSTMENT`` carrying the recomputed line's content. One adjustment per missing line, not one
net amount per driver-day: every cent of a correction then points at an interval, and the
daily stage's interval bookkeeping stays exact.

Lines are compared by what they pay for (order, driver, day, the day's part of the interval,
amount, currency), not by id: a line priced under another zones version, or re-issued by a
correction, is the same line when it pays the same money for the same work. Ids derive from
that content and the corrected line's id, never from the run, so reconciling the same state
twice gives the same lines, and once the corrections are in the ledger a new run finds none.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

from udfs.daily import DayBase
from udfs.events import (
    MAX_EVENT_MS,
    MIN_EVENT_MS,
    MalformedEventError,
    has_control_characters,
    valid_identifier,
)
from udfs.jsontext import refuse_constant
from udfs.ledger import LineKind, PaidInterval, PayLine, line_id
from udfs.lifecycle import reverse
from udfs.localday import pay_date
from udfs.money import from_minor, pay_amount, to_minor
from udfs.timefmt import parse_rfc3339_ms
from udfs.zones import MAX_MULTIPLIER, MAX_RATE_PER_MINUTE

DriverDay = tuple[str, str]  # (driver_id, pay_date ISO)
# What a correction on the ``pay-corrections`` input may carry (docs/contracts.md §5,
# "corrections (input)"): its text and numbers reach PostgreSQL, where a NUL, a BIGINT overflow
# or a NUMERIC out of range would fail the sink and restart the job on the same record forever.
MAX_CORRECTION_MINOR = 10**12  # |amount| in minor units: 5,000 lines a day stay inside BIGINT
MAX_REASON_CHARS = 500
_MAX_SPAN_MS = MAX_EVENT_MS - MIN_EVENT_MS
# The local dates that event times in range fall on, in any zone (UTC-12 to UTC+14).
_PAY_DATES = (
    datetime.fromtimestamp(MIN_EVENT_MS // 1000, UTC).date() - timedelta(days=1),
    datetime.fromtimestamp(MAX_EVENT_MS // 1000 - 1, UTC).date() + timedelta(days=1),
)
_CORRECTION_IDS = ("line_id", "driver_id", "zone", "currency")  # required
_OPTIONAL_IDS = (
    "order_id",
    "start_event_id",
    "end_event_id",
    "end_type",
    "zones_version",
    "schedule_version",
)
ContentKey = tuple[str, str, str, int, int, int, str]


def content_key(line: PayLine) -> ContentKey:
    """What a line pays for, independent of its id, kind and zones version."""
    iv = line.interval
    return (
        iv.order_id,
        iv.driver_id,
        line.pay_date.isoformat(),
        line.start_ms,
        line.end_ms,
        to_minor(line.amount, line.currency),
        line.currency,
    )


def driver_day(line: PayLine) -> DriverDay:
    """The daily total a line belongs to."""
    return (line.interval.driver_id, line.pay_date.isoformat())


def in_effect(lines: Iterable[PayLine]) -> list[PayLine]:
    """Lines not cancelled by a reversal in the same set (reversals themselves drop out)."""
    lines = list(lines)
    reversed_ids = {line.line_id for line in lines if line.kind is LineKind.REVERSAL}
    return [
        line
        for line in lines
        if line.kind is not LineKind.REVERSAL
        and line_id(LineKind.REVERSAL.value, line.line_id) not in reversed_ids
    ]


def total_minor(lines: Iterable[PayLine]) -> int:
    """Exact sum of the lines' rounded amounts, in minor units (reversals are negative)."""
    return sum(to_minor(line.amount, line.currency) for line in lines)


def mixed_currencies(lines: Iterable[PayLine]) -> set[DriverDay]:
    """Driver-days whose lines are in more than one currency.

    A driver-day is paid in one currency, its first line's (``udfs.daily``). If the stream and
    a recompute disagree on which one (lines applied in another order), correcting would reverse
    the stream's lines and then offer adjustments the daily stage refuses for their currency:
    the driver would lose pay. Such days are left for a person, never corrected here.
    """
    seen: dict[DriverDay, str] = {}
    mixed: set[DriverDay] = set()
    for line in lines:
        key = driver_day(line)
        if seen.setdefault(key, line.currency) != line.currency:
            mixed.add(key)
    return mixed


def corrections(
    streamed_lines: Iterable[PayLine], recomputed_lines: Iterable[PayLine], run_id: str
) -> list[PayLine]:
    """Reversals and adjustments for every driver-day whose totals differ.

    ``streamed_lines``: the ledger as streamed, reversals and earlier corrections included.
    ``recomputed_lines``: a recompute of the same driver-days. ``run_id`` only goes into the
    ``reason``. Per driver-day, reversals come before adjustments (a reversal frees the
    interval an adjustment then pays), each group sorted by the corrected line's id. A
    driver-day whose lines, on either side, are in more than one currency gets none
    (``mixed_currencies``).
    """
    streamed: dict[DriverDay, list[PayLine]] = defaultdict(list)
    recomputed: dict[DriverDay, list[PayLine]] = defaultdict(list)
    for line in streamed_lines:
        streamed[driver_day(line)].append(line)
    for line in recomputed_lines:
        recomputed[driver_day(line)].append(line)
    out: list[PayLine] = []
    for key in sorted(set(streamed) | set(recomputed)):
        have, want = in_effect(streamed[key]), in_effect(recomputed[key])
        if mixed_currencies([*have, *want]) or total_minor(have) == total_minor(want):
            continue
        extra = _unmatched(have, want)
        missing = _unmatched(want, have)
        for line in extra:
            why = f"reconcile {run_id}: streamed line {line.line_id} is not in the recompute"
            out.append(reverse(line, why))
        for line in missing:
            why = f"reconcile {run_id}: recomputed line {line.line_id} is missing from the stream"
            out.append(adjustment(line, why))
    return out


def by_driver_day(
    streamed: Iterable[PayLine], recomputed: Iterable[PayLine]
) -> Iterator[tuple[DriverDay, list[PayLine], list[PayLine]]]:
    """Both ledgers' lines, one driver-day at a time: ``(key, streamed, recomputed)``.

    Each input must come in ``(pay_date, driver_id)`` order, as the recompute writes its ledger
    and PostgreSQL returns it under the ``"C"`` collation (both byte order, which is code point
    order for UTF-8), so only one driver-day's lines are held, whatever the size of the day. An
    input out of that order raises ``ValueError``: merging it would make a driver-day look
    missing on one side, and "correct" it.
    """
    left, right = _groups(streamed, "streamed"), _groups(recomputed, "recomputed")
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            yield (a[0][1], a[0][0]), a[1], []
            a = next(left, None)
        elif a is None or b[0] < a[0]:
            yield (b[0][1], b[0][0]), [], b[1]
            b = next(right, None)
        else:
            yield (a[0][1], a[0][0]), a[1], b[1]
            a, b = next(left, None), next(right, None)


def _groups(lines: Iterable[PayLine], side: str) -> Iterator[tuple[tuple[str, str], list[PayLine]]]:
    """Runs of one ``(pay_date, driver_id)``, checked to come in increasing order."""
    previous: tuple[str, str] | None = None
    for key, run in groupby(lines, key=lambda x: (x.pay_date.isoformat(), x.interval.driver_id)):
        if previous is not None and key <= previous:
            raise ValueError(f"{side} ledger is not in (pay_date, driver_id) order at {key}")
        previous = key
        yield key, list(run)


def adjustment(line: PayLine, reason: str) -> PayLine:
    """Pay ``line``'s content as an ``ADJUSTMENT``; the id depends on content only."""
    driver, day = driver_day(line)
    ident = line_id(LineKind.ADJUSTMENT.value, "reconcile", driver, day, line.line_id, line.amount)
    return replace(line, line_id=ident, kind=LineKind.ADJUSTMENT, reason=reason)


def _unmatched(lines: list[PayLine], others: list[PayLine]) -> list[PayLine]:
    """``lines`` minus ``others`` as multisets of content, in line-id order."""
    remaining = Counter(content_key(line) for line in others)
    out = []
    for line in sorted(lines, key=lambda x: x.line_id):
        key = content_key(line)
        if remaining[key]:
            remaining[key] -= 1
        else:
            out.append(line)
    return out


def line_from_record(record: Mapping[str, Any]) -> PayLine:
    """A ledger record (``PayLine.to_record``'s shape) back as a line.

    Fields a source lacks (PostgreSQL's ``pay_lines`` keeps no event ids or interval bounds)
    fall back to the line's own bounds and empty ids; ``line_id`` and content stay exact.
    """
    start = _ms(record.get("start"))
    end = _ms(record.get("end"))
    interval = PaidInterval(
        str(record.get("order_id") or ""),
        str(record["driver_id"]),
        str(record.get("zone") or ""),
        _ms(record.get("interval_start"), start),
        _ms(record.get("interval_end"), end),
        str(record.get("start_event_id") or ""),
        str(record.get("end_event_id") or ""),
        str(record.get("end_type") or ""),
    )
    return PayLine(
        line_id=str(record["line_id"]),
        kind=LineKind(record["kind"]),
        interval=interval,
        pay_date=date.fromisoformat(str(record["pay_date"])[:10]),
        start_ms=start,
        end_ms=end,
        base_ms=int(record.get("base_ms") or 0),
        weighted_ms=Decimal(str(record.get("weighted_ms") or 0)),
        rate_per_minute=Decimal(str(record.get("rate_per_minute") or 0)),
        amount=Decimal(str(record["amount"])),
        currency=str(record["currency"]),
        zones_version=str(record.get("zones_version") or ""),
        schedule_version=str(record.get("schedule_version") or ""),
        reason=record.get("reason"),
    )


def _ms(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    return parse_rfc3339_ms(str(value))


class CorrectionError(ValueError):
    """A record on the corrections input that is not a correction line."""


CORRECTION_KINDS = frozenset({LineKind.REVERSAL, LineKind.ADJUSTMENT})


def correction_line(payload: bytes | None, zones: Mapping[str, Any]) -> PayLine:
    """A correction from its JSON record (``PayLine.to_record``'s shape), validated."""
    return correction(payload, zones)[0]


def correction(payload: bytes | None, zones: Mapping[str, Any]) -> tuple[PayLine, DayBase | None]:
    """A correction line and the driver-day it says it applies to (``correction_record``).

    Only reversals and adjustments with a reason, for a known zone, are corrections: the daily
    stage then applies each at most once, like any line.
    """
    try:
        record = json.loads(payload or b"", parse_constant=refuse_constant)
    except RecursionError:
        raise CorrectionError("not a JSON object: nested too deeply") from None
    except ValueError as exc:
        raise CorrectionError(f"not a JSON object: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(record, dict):
        raise CorrectionError("not a JSON object")
    _check_texts(record)
    try:
        line = line_from_record(record)
    except (KeyError, ValueError, ArithmeticError, TypeError) as exc:
        raise CorrectionError(f"not a ledger line: {type(exc).__name__}: {exc}") from None
    if line.kind not in CORRECTION_KINDS:
        raise CorrectionError(f"kind {line.kind.value} is not a correction")
    if line.interval.zone not in zones:
        raise CorrectionError(f"unknown zone {line.interval.zone!r}")
    _check_bounds(line)
    _check_priced(line, zones[line.interval.zone])
    return line, _day_base(record)


# A correction's driver-day as reconcile read it (udfs.daily.DayBase), in its record.
DAY_BASE_FIELDS = ("day_total_minor", "day_line_count", "day_version")
_MAX_DAY_MINOR = MAX_CORRECTION_MINOR * 10_000  # far above any day, far inside BIGINT
_MAX_DAY_COUNT = 10**9


def correction_record(line: PayLine, base: DayBase) -> dict[str, Any]:
    """What ``reconcile --apply`` sends: the line, and its day as it stands before the line."""
    values = (base.total_minor, base.line_count, base.version)
    return line.to_record() | dict(zip(DAY_BASE_FIELDS, values, strict=True))


def day_bases(
    lines: Iterable[PayLine], days: Mapping[DriverDay, DayBase]
) -> list[tuple[PayLine, DayBase]]:
    """Each correction with its driver-day as it stands once the ones before it are applied.

    ``days``: the served driver-days (a day the stream never served starts at zero). Lines of
    one driver-day must be applied in the order given: they are sent keyed by the driver-day.
    """
    current = dict(days)
    out = []
    for line in lines:
        key = driver_day(line)
        base = current.get(key, DayBase(0, 0, 0))
        out.append((line, base))
        step = -1 if line.kind is LineKind.REVERSAL else 1
        current[key] = DayBase(
            base.total_minor + line.amount_minor, base.line_count + step, base.version + 1
        )
    return out


def _day_base(record: Mapping[str, Any]) -> DayBase | None:
    """All three day fields, whole numbers within the columns' range, or none of them."""
    given = [record.get(name) for name in DAY_BASE_FIELDS]
    if all(value is None for value in given):
        return None
    bounds = (_MAX_DAY_MINOR, _MAX_DAY_COUNT, _MAX_DAY_COUNT)
    numbers: list[int] = []
    for name, value, bound in zip(DAY_BASE_FIELDS, given, bounds, strict=True):
        low = 0 if name == "day_version" else -bound  # a count as reversals leave it
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= bound:
            raise CorrectionError(
                f"{', '.join(DAY_BASE_FIELDS)}: all three whole numbers in range, or none "
                f"({name} is {value!r})"
            )
        numbers.append(value)
    return DayBase(*numbers)


def _check_texts(record: Mapping[str, Any]) -> None:
    """Ids under the event contract's rules; a reason that is short, printable text."""
    try:
        for field in _CORRECTION_IDS:
            valid_identifier(record.get(field), field)
        for field in _OPTIONAL_IDS:
            if record.get(field) not in (None, ""):
                valid_identifier(record[field], field)
    except MalformedEventError as exc:
        raise CorrectionError(str(exc)) from None
    reason = record.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise CorrectionError("a correction must name its reason")
    if len(reason) > MAX_REASON_CHARS or has_control_characters(reason):
        raise CorrectionError(
            f"reason: at most {MAX_REASON_CHARS} characters, no control characters"
        )


def _check_priced(line: PayLine, zone: Any) -> None:
    """What reconcile's corrections always are: refuse what it could never have sent.

    Every line is in its zone's currency, and pricing never pays a negative amount (rates and
    multipliers are not negative), so a reversal takes pay away and an adjustment adds it. An
    adjustment pays a recomputed line: exactly its rate times its weighted time, on the local
    day it starts. A reversal negates a streamed line as it was, which a bug may have priced
    wrongly, so its amount is not checked against its fields. Who may write corrections at all
    is the topic's access control (contracts §5).
    """
    if line.currency != zone.currency:
        raise CorrectionError(
            f"currency: {line.currency} is not zone {line.interval.zone!r}'s {zone.currency}"
        )
    sign = -1 if line.kind is LineKind.REVERSAL else 1
    if sign * line.amount < 0 or sign * line.weighted_ms < 0 or sign * line.base_ms < 0:
        what = "a reversal takes pay away" if sign < 0 else "an adjustment adds pay"
        raise CorrectionError(f"amount, weighted_ms, base_ms: signed against the kind ({what})")
    if line.kind is LineKind.REVERSAL:
        return
    if line.base_ms != line.end_ms - line.start_ms:
        raise CorrectionError("base_ms: not the line's end minus its start")
    priced = pay_amount(line.rate_per_minute, line.weighted_ms, line.currency)
    if to_minor(priced, line.currency) != line.amount_minor:
        raise CorrectionError(
            f"amount: {line.amount} is not rate_per_minute x weighted_ms ({priced})"
        )
    if pay_date(line.start_ms, zone.timezone) != line.pay_date:
        raise CorrectionError(f"pay_date: {line.pay_date} is not the local date of its start")


def _check_bounds(line: PayLine) -> None:
    """Numbers the ledger's columns hold, instants and a date the events could have had."""
    iv = line.interval
    instants = {"start": line.start_ms, "end": line.end_ms}
    instants |= {"interval_start": iv.start_ms, "interval_end": iv.end_ms}
    for name, ms in instants.items():
        if not MIN_EVENT_MS <= ms < MAX_EVENT_MS:
            raise CorrectionError(f"{name}: outside the supported range of event times")
    if not _PAY_DATES[0] <= line.pay_date <= _PAY_DATES[1]:
        raise CorrectionError("pay_date: outside the supported range of event times")
    if abs(line.base_ms) > _MAX_SPAN_MS:
        raise CorrectionError("base_ms: longer than any interval can be")
    bounds = {
        "weighted_ms": (line.weighted_ms, _MAX_SPAN_MS * MAX_MULTIPLIER),
        "rate_per_minute": (line.rate_per_minute, MAX_RATE_PER_MINUTE),
    }
    for name, (value, bound) in bounds.items():
        if not value.is_finite() or abs(value) > bound:
            raise CorrectionError(f"{name}: not a finite decimal within {bound}")
    try:
        minor = line.amount_minor
    except (ValueError, ArithmeticError) as exc:
        raise CorrectionError(f"amount: {exc}") from None
    if abs(minor) > MAX_CORRECTION_MINOR:
        raise CorrectionError(f"amount: more than {MAX_CORRECTION_MINOR} minor units")
    if from_minor(minor, line.currency) != line.amount:
        raise CorrectionError(
            f"amount: {line.amount} is not a whole number of {line.currency} minor units"
        )
