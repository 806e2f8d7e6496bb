"""Zones reference data (docs/contracts.md §3): load, validate, and version by content hash."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from udfs.events import END_TYPES, EventType
from udfs.money import minor_unit
from udfs.schedule import PeakSchedule, PeakWindow
from udfs.timefmt import from_datetime

DEFAULT_PAID_ON = frozenset({EventType.DELIVERED, EventType.CANCELLED})


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
    schedule: PeakSchedule = field(compare=False)


@dataclass(frozen=True)
class Zones(Mapping[str, Zone]):
    """All zones plus ``version``, the content hash recorded on every pay line."""

    version: str
    by_name: Mapping[str, Zone]

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
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ZonesError(f"{source}: invalid YAML: {exc}") from None
    zones = _mapping(doc, "").get("zones")
    entries = _mapping(zones, "zones")
    if not entries:
        raise ZonesError(f"{source}: zones: at least one zone is required")
    version = "sha256:" + hashlib.sha256(data).hexdigest()[:16]
    return Zones(version, {str(k): _zone(str(k), v) for k, v in entries.items()})


def _zone(name: str, raw: Any) -> Zone:
    where = f"zones.{name}"
    spec = _mapping(raw, where)
    tz_name = _required(spec, where, "timezone")
    try:
        tz = ZoneInfo(str(tz_name))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory like 'America'
        raise ZonesError(f"{where}.timezone: unknown time zone {tz_name!r}") from None
    currency = str(_required(spec, where, "currency"))
    try:
        minor_unit(currency)
    except ValueError:
        raise ZonesError(f"{where}.currency: unknown currency {currency!r}") from None
    rate = _decimal(_required(spec, where, "rate_per_minute"), f"{where}.rate_per_minute")
    paid_on = _paid_on(spec.get("paid_on"), f"{where}.paid_on")
    windows = [
        _window(w, tz, f"{where}.peak_windows[{i}]")
        for i, w in enumerate(spec.get("peak_windows") or [])
    ]
    return Zone(name, tz, currency, rate, paid_on, PeakSchedule(windows))


def _window(raw: Any, tz: ZoneInfo, where: str) -> PeakWindow:
    spec = _mapping(raw, where)
    start = _local_instant(_required(spec, where, "start"), tz, f"{where}.start")
    end = _local_instant(_required(spec, where, "end"), tz, f"{where}.end")
    if end < start:
        raise ZonesError(f"{where}: end is before start")
    multiplier = _decimal(_required(spec, where, "multiplier"), f"{where}.multiplier")
    return PeakWindow(start, end, multiplier)


def _local_instant(raw: Any, tz: ZoneInfo, where: str) -> int:
    """Wall-clock time in the zone (an explicit offset is honoured); DST gaps map forward."""
    text = raw.isoformat() if isinstance(raw, datetime) else str(raw)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ZonesError(
            f"{where}: not a local date-time like 2026-11-24T11:00: {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return from_datetime(moment)


def _paid_on(raw: Any, where: str) -> frozenset[EventType]:
    if raw is None:
        return DEFAULT_PAID_ON
    if not isinstance(raw, list):
        raise ZonesError(f"{where}: must be a list of end event types")
    allowed = {t.value for t in END_TYPES}
    for item in raw:
        if not isinstance(item, str) or item not in allowed:  # a mapping item is unhashable
            raise ZonesError(f"{where}: {item!r} is not one of {sorted(allowed)}")
    return frozenset(EventType(item) for item in raw)


def _decimal(raw: Any, where: str) -> Decimal:
    """Decimals from strings or ints; a YAML float is read from its shortest text, never binary."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ZonesError(f'{where}: must be a decimal string like "0.30"')
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ZonesError(f"{where}: not a decimal: {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise ZonesError(f"{where}: must be a finite, non-negative decimal: {raw!r}")
    return value


def _mapping(raw: Any, where: str) -> dict[Any, Any]:
    if not isinstance(raw, dict):
        raise ZonesError(f"{where or 'document'}: must be a mapping")
    return raw


def _required(spec: dict[Any, Any], where: str, key: str) -> Any:
    if spec.get(key) is None:
        raise ZonesError(f"{where}.{key}: required")
    return spec[key]
