"""Zones reference data (docs/contracts.md §3): load, validate, and version by content hash.

A zones document is one version of the reference data: its ``version`` is the hash of its
exact bytes and its optional top-level ``effective`` instant says from when it prices
(``udfs.zones_history`` orders versions by it). Peaks are dated (``peak_windows``) and/or
weekly (``weekly_peaks``, ``udfs.weekly``).
"""

from __future__ import annotations

import hashlib
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from udfs.events import EventType
from udfs.money import minor_unit
from udfs.schedule import PeakSchedule, PeakWindow, Schedule
from udfs.timefmt import TimestampError, from_datetime, parse_rfc3339_ms
from udfs.weekly import WEEKDAYS, WeeklySchedule, WeeklyWindow

DEFAULT_PAID_ON = frozenset({EventType.DELIVERED, EventType.CANCELLED})
# A zones document travels as one Kafka record (the broker's default limit is 1 MB).
MAX_ZONES_BYTES = 512 * 1024
# Values in a document once YAML aliases are expanded: a few hundred bytes of nested aliases
# ("billion laughs") expand to billions, which any walk or rendering of them would follow.
MAX_ZONES_VALUES = 100_000
# Rates and multipliers beyond any real tariff. With intervals bounded by the lifecycle's
# max_open (longer work is unpaid), they keep every line and every day's total far inside the
# sinks' BIGINT minor units: 1,000/min x 100 x 720 min is 7.2e7 per line.
MAX_RATE_PER_MINUTE = Decimal(1000)
MAX_MULTIPLIER = Decimal(100)
# Decimal places of a rate or a multiplier, again beyond any tariff. They keep W(t) (epoch ms x
# multiplier, udfs.schedule) exact in Decimal's 28 digits and the product rate x weighted time
# exact in udfs.money.pay_amount, so a line is rounded once: with 32 places, a rate of
# 0.00499999999999999999999999999999 paid one minute 0.01 after rounding twice.
MAX_DECIMAL_PLACES = 10
_TOP_LEVEL = frozenset({"zones", "effective"})


class ZonesError(ValueError):
    """The zones file breaks its contract; the message names the offending path."""


@dataclass(frozen=True)
class Zone:
    """One market: its clock, currency, base rate, paying end types and peak schedule."""

    name: str
    timezone: ZoneInfo
    currency: str
    rate_per_minute: Decimal
    paid_on: frozenset[EventType]
    schedule: Schedule = field(compare=False)


@dataclass(frozen=True)
class Zones(Mapping[str, Zone]):
    """All zones of one version: ``version`` (content hash, on every pay line), ``effective``.

    ``effective_ms`` is when this version starts pricing (``None``: since forever); ``source``
    is the exact document, whose hash ``version`` is.
    """

    version: str
    by_name: Mapping[str, Zone]
    effective_ms: int | None = None
    source: bytes = field(default=b"", repr=False, compare=False)

    def governing(self, zone: str, start_ms: int) -> Zones:
        """The version in force for ``zone`` at ``start_ms``: this one."""
        return self

    def segments(self, zone: str, start_ms: int, end_ms: int) -> list[tuple[int, int, Zones]]:
        """``[start, end)`` cut where another version takes effect: one piece, this version."""
        return [(start_ms, end_ms, self)]

    def __getitem__(self, name: str) -> Zone:
        return self.by_name[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.by_name)

    def __len__(self) -> int:
        return len(self.by_name)


def load_zones(path: str | Path) -> Zones:
    """Read and validate a zones file."""
    data = Path(path).read_bytes()
    return parse_zones(data, source=str(path))


def parse_zones(data: bytes, source: str = "<zones>") -> Zones:
    """Validate zones YAML; the version is a hash of the exact bytes, so any edit is visible."""
    if len(data) > MAX_ZONES_BYTES:
        raise ZonesError(f"{source}: document: larger than {MAX_ZONES_BYTES} bytes")
    doc = _yaml_document(data, source)
    top = _mapping(doc, "")
    entries = _mapping(top.get("zones"), "zones")
    if not entries:
        raise ZonesError(f"{source}: zones: at least one zone is required")
    # A misspelt ``effective`` would otherwise silently mean "effective since forever".
    unknown = sorted(str(k) for k in top if k not in _TOP_LEVEL)
    if unknown:
        raise ZonesError(f"{source}: {unknown[0]}: unknown top-level key (known: zones, effective)")
    effective = _effective(top.get("effective"))
    return Zones(
        zones_version(data),
        {str(k): _zone(str(k), v) for k, v in entries.items()},
        effective,
        data,
    )


def _yaml_document(data: bytes, source: str) -> Any:
    """The document's values, refused before they are built if aliases would expand them.

    The check runs on the composed node graph, where an alias is the node it names, shared:
    building the values first would already pay for the expansion. A merge key (``<<: [*a,
    *a]``) doubles what it names at each level, so under 1 kB took 29 s and 419 MB to build.
    """
    loader = yaml.SafeLoader(data)
    try:
        node = loader.get_single_node()
        if node is not None and _expands_beyond(node, MAX_ZONES_VALUES):
            raise ZonesError(
                f"{source}: document: more than {MAX_ZONES_VALUES} values once its YAML aliases "
                "are expanded"
            )
        # the stubs leave construct_document untyped; it is what yaml.safe_load returns
        return None if node is None else loader.construct_document(node)  # type: ignore[no-untyped-call]
    except yaml.YAMLError as exc:
        raise ZonesError(f"{source}: invalid YAML: {_one_line(exc)}") from None
    except RecursionError:
        raise ZonesError(f"{source}: invalid YAML: nested too deeply") from None


def _expands_beyond(root: yaml.Node, limit: int) -> bool:
    """Whether ``root`` holds more than ``limit`` values, each alias counted every time.

    Each node's expanded size is computed once (sizes only grow, capped at ``limit + 1``), so
    this takes time linear in the document however often aliases repeat a node. A recursive
    alias (a node inside itself) would expand forever.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            open_nodes.discard(id(node))
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[id(node)] = min(total, limit + 1)
        elif id(node) in open_nodes:
            return True
        elif id(node) not in sizes:
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return sizes[id(root)] > limit


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


_BOUNDED = reprlib.Repr()  # Python 3.11 takes no settings in the constructor
_BOUNDED.maxlevel, _BOUNDED.maxlist, _BOUNDED.maxdict = 2, 4, 4
_BOUNDED.maxstring = _BOUNDED.maxother = 60


def bounded_repr(value: Any) -> str:
    """A bounded rendering of an untrusted value for a reason (never the whole value)."""
    return _BOUNDED.repr(value)


def _one_line(exc: yaml.YAMLError) -> str:
    """A YAML error as one line: what went wrong and where (PyYAML's own text spans lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def zones_version(data: bytes) -> str:
    """The version of a zones document: a hash of its exact bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


def _effective(raw: Any) -> int | None:
    """``effective``: an RFC 3339 instant with offset (a YAML timestamp must carry one too)."""
    if raw is None:
        return None
    if isinstance(raw, datetime):
        if raw.tzinfo is None:
            raise ZonesError("effective: needs an offset, like 2026-11-24T17:00:00-08:00")
        return from_datetime(raw)
    if not isinstance(raw, str):
        raise ZonesError("effective: must be an RFC 3339 instant like 2026-11-24T17:00:00Z")
    try:
        return parse_rfc3339_ms(raw)
    except TimestampError as exc:
        raise ZonesError(f"effective: {exc}") from None


def _zone(name: str, raw: Any) -> Zone:
    where = f"zones.{name}"
    spec = _mapping(raw, where)
    tz_name = _text(_required(spec, where, "timezone"), f"{where}.timezone")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory like 'America'
        raise ZonesError(f"{where}.timezone: unknown time zone {bounded_repr(tz_name)}") from None
    currency = _text(_required(spec, where, "currency"), f"{where}.currency")
    try:
        minor_unit(currency)
    except ValueError:
        raise ZonesError(f"{where}.currency: unknown currency {bounded_repr(currency)}") from None
    rate = _decimal(
        _required(spec, where, "rate_per_minute"), f"{where}.rate_per_minute", MAX_RATE_PER_MINUTE
    )
    paid_on = _paid_on(spec.get("paid_on"), f"{where}.paid_on")
    windows = [
        _window(w, tz, f"{where}.peak_windows[{i}]")
        for i, w in enumerate(_list(spec.get("peak_windows"), f"{where}.peak_windows"))
    ]
    weekly = [
        _weekly(w, f"{where}.weekly_peaks[{i}]")
        for i, w in enumerate(_list(spec.get("weekly_peaks"), f"{where}.weekly_peaks"))
    ]
    # Without weekly windows the schedule (and its version) is exactly what it always was.
    schedule: Schedule = WeeklySchedule(windows, weekly, tz) if weekly else PeakSchedule(windows)
    return Zone(name, tz, currency, rate, paid_on, schedule)


def _list(raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ZonesError(f"{where}: must be a list")
    return raw


def _weekly(raw: Any, where: str) -> WeeklyWindow:
    spec = _mapping(raw, where)
    days_raw = _required(spec, where, "days")
    if not isinstance(days_raw, list) or not days_raw:
        raise ZonesError(f"{where}.days: must be a non-empty list like [MON, TUE]")
    days = set()
    for day in days_raw:
        if not isinstance(day, str) or day not in WEEKDAYS:
            raise ZonesError(f"{where}.days: {bounded_repr(day)} is not one of {list(WEEKDAYS)}")
        days.add(WEEKDAYS.index(day))
    start = _time_of_day(_required(spec, where, "start"), f"{where}.start")
    end = _time_of_day(_required(spec, where, "end"), f"{where}.end")
    if end <= start:
        raise ZonesError(f"{where}: end must be after start (split a window across midnight)")
    multiplier = _decimal(
        _required(spec, where, "multiplier"), f"{where}.multiplier", MAX_MULTIPLIER
    )
    return WeeklyWindow(frozenset(days), start, end, multiplier)


def _time_of_day(raw: Any, where: str) -> int:
    """``"HH:MM"`` (00:00-24:00) as minutes after local midnight; YAML's 11:00 is a number."""
    if not isinstance(raw, str):
        raise ZonesError(
            f'{where}: must be a quoted local time like "11:00", got {bounded_repr(raw)}'
        )
    hours, sep, minutes = raw.partition(":")
    if not (
        sep
        and len(hours) == 2
        and len(minutes) == 2
        and (hours + minutes).isascii()
        and (hours + minutes).isdigit()
    ):
        raise ZonesError(f'{where}: not a local time like "11:00": {bounded_repr(raw)}')
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 24 * 60:
        raise ZonesError(
            f'{where}: not a time of day between "00:00" and "24:00": {bounded_repr(raw)}'
        )
    return value


def _window(raw: Any, tz: ZoneInfo, where: str) -> PeakWindow:
    spec = _mapping(raw, where)
    start = _local_instant(_required(spec, where, "start"), tz, f"{where}.start")
    end = _local_instant(_required(spec, where, "end"), tz, f"{where}.end")
    if end < start:
        raise ZonesError(f"{where}: end is before start")
    multiplier = _decimal(
        _required(spec, where, "multiplier"), f"{where}.multiplier", MAX_MULTIPLIER
    )
    return PeakWindow(start, end, multiplier)


def _local_instant(raw: Any, tz: ZoneInfo, where: str) -> int:
    """Wall-clock time in the zone (an explicit offset is honoured); DST gaps map forward."""
    text = raw.isoformat() if isinstance(raw, datetime) else str(raw)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ZonesError(
            f"{where}: not a local date-time like 2026-11-24T11:00: {bounded_repr(text)}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return from_datetime(moment)


def _paid_on(raw: Any, where: str) -> frozenset[EventType]:
    if raw is None:
        return DEFAULT_PAID_ON
    if not isinstance(raw, list):
        raise ZonesError(f"{where}: must be a list of end event types")
    # UNASSIGNED ends an interval unpaid (contracts §2): a zone paying on it would pay intervals
    # the lifecycle never bounds by max_open (one late ACCEPTED paid 731 lines, two years' worth).
    allowed = {t.value for t in DEFAULT_PAID_ON}
    for item in raw:
        if not isinstance(item, str) or item not in allowed:  # a mapping item is unhashable
            raise ZonesError(f"{where}: {bounded_repr(item)} is not one of {sorted(allowed)}")
    return frozenset(EventType(item) for item in raw)


def _decimal(raw: Any, where: str, at_most: Decimal) -> Decimal:
    """Decimals from strings or ints; a YAML float is read from its shortest text, never binary."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ZonesError(f'{where}: must be a decimal string like "0.30"')
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ZonesError(f"{where}: not a decimal: {bounded_repr(raw)}") from None
    if not value.is_finite() or value < 0:
        raise ZonesError(f"{where}: must be a finite, non-negative decimal: {bounded_repr(raw)}")
    if value > at_most:
        raise ZonesError(f"{where}: at most {at_most}, got {bounded_repr(raw)}")
    if -value.as_tuple().exponent > MAX_DECIMAL_PLACES:  # type: ignore[operator]  # finite: int
        raise ZonesError(
            f"{where}: at most {MAX_DECIMAL_PLACES} decimal places, got {bounded_repr(raw)}"
        )
    return value


def _text(raw: Any, where: str) -> str:
    if not isinstance(raw, str):
        raise ZonesError(f"{where}: must be text, got {type(raw).__name__}")
    return raw


def _mapping(raw: Any, where: str) -> dict[Any, Any]:
    if not isinstance(raw, dict):
        raise ZonesError(f"{where or 'document'}: must be a mapping")
    return raw


def _required(spec: dict[Any, Any], where: str, key: str) -> Any:
    if spec.get(key) is None:
        raise ZonesError(f"{where}.{key}: required")
    return spec[key]
