"""A seeded synthetic day of order events, made messy on purpose, with its expected truth."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from udfs.events import EventType
from udfs.ledger import PaidInterval, lines_for
from udfs.localday import day_end_ms, day_start_ms
from udfs.timefmt import format_ms, parse_rfc3339_ms
from udfs.zones_history import ZonesHistory, ZonesLike

MINUTE = 60_000
HOUR = 60 * MINUTE


@dataclass(frozen=True)
class GenConfig:
    """Knobs of a generated day; rates are per event (malformed: per valid event)."""

    seed: int = 7
    day: date = date(2026, 11, 24)
    drivers: int = 200
    orders: int = 2_000
    duplicate_rate: float = 0.05
    out_of_order_rate: float = 0.2
    max_disorder_ms: int = 90_000
    late_rate: float = 0.01
    late_delay_ms: tuple[int, int] = (10 * MINUTE, 45 * MINUTE)
    malformed_rate: float = 0.01
    unassign_rate: float = 0.08
    cancel_rate: float = 0.05
    abandon_rate: float = 0.002
    hot_driver_share: float = 0.0  # share of orders taken by one driver (d00000): a hot key
    hot_order_retries: int = 0  # extra copies of one order's delivery: a client retry storm


@dataclass
class Truth:
    """What a correct pipeline must produce for the generated file."""

    zones_version: str
    daily: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def to_json(self, config: GenConfig) -> str:
        """Truth document: per driver-day totals plus how much mess was injected."""
        rows = [
            {
                "driver_id": d,
                "pay_date": p,
                "total": str(v[0]),
                "currency": v[1],
                "line_count": v[2],
            }
            for (d, p), v in sorted(self.daily.items())
        ]
        conf = {k: str(v) if isinstance(v, date) else v for k, v in asdict(config).items()}
        doc = {
            "config": conf,
            "zones_version": self.zones_version,
            "counts": dict(sorted(self.counts.items())),
            "daily": rows,
        }
        return json.dumps(doc, indent=1)


def generate(
    config: GenConfig,
    zones: ZonesLike,
    out: Path,
    truth_path: Path,
    progress: Callable[[int], None] = lambda n: None,
) -> Truth:
    """Write the events file (arrival order) and the truth file; return the truth.

    ``zones`` may be a history of versions: the truth is then priced the way the job prices
    with those versions (each piece of an interval by the version in force over it).
    """
    rng = random.Random(config.seed)
    if isinstance(zones, ZonesHistory):
        truth = Truth(",".join(v.version for v in zones.versions))
    else:
        truth = Truth(zones.version)
    records: list[tuple[int, int, bytes]] = []
    zone_names = sorted(zones)
    hot_order_end: dict[str, Any] | None = None
    for index in range(config.orders):
        driver = rng.randrange(config.drivers)
        if config.hot_driver_share and rng.random() < config.hot_driver_share:
            driver = 0
        zone = zone_names[driver % len(zone_names)]
        events, intervals = _order(rng, config, zones, index, driver, zone)
        if index == 0:
            hot_order_end = events[-1]
        truth.counts["abandoned"] += len(events) == 1
        for interval in intervals:
            _book(truth, interval, zones)
        for event in events:
            _arrive(rng, config, truth, records, event)
        if index % 1000 == 999:
            progress(1000)
    progress(config.orders % 1000)
    for _ in range(round(truth.counts["valid_events"] * config.malformed_rate)):
        at = rng.choice(records)[0] + rng.randrange(MINUTE)
        records.append((at, len(records), _malformed(rng)))
        truth.counts["malformed"] += 1
    if (
        config.hot_order_retries and hot_order_end
    ):  # its own generator: the rest of the day stays byte-identical
        storm = random.Random(config.seed + 1)
        _retry_storm(storm, truth, records, hot_order_end, config.hot_order_retries)
    records.sort()
    with out.open("wb") as fh:
        fh.writelines(line + b"\n" for _, _, line in records)
    truth.counts["lines_written"] = len(records)
    truth_path.write_text(truth.to_json(config))
    return truth


def _order(
    rng: random.Random, config: GenConfig, zones: ZonesLike, index: int, driver: int, zone: str
) -> tuple[list[dict[str, Any]], list[PaidInterval]]:
    tz = zones[zone].timezone
    start = rng.randrange(day_start_ms(config.day, tz), day_end_ms(config.day, tz))
    order_id = f"o{index:07d}"
    seq = iter(range(100))

    def event(kind: EventType, who: int, at: int) -> dict[str, Any]:
        return {
            "event_id": f"{order_id}-{next(seq)}",
            "order_id": order_id,
            "driver_id": f"d{who:05d}",
            "type": kind.value,
            "event_time": format_ms(at),
            "zone": zone,
        }

    events = [event(EventType.ACCEPTED, driver, start)]
    if rng.random() < config.abandon_rate:  # never closed: flagged, never paid
        return events, []  # counted by the caller from the single-event order
    roll = rng.random()
    if roll < config.unassign_rate:
        unassigned = start + rng.randrange(MINUTE, 15 * MINUTE)
        events.append(event(EventType.UNASSIGNED, driver, unassigned))
        start = unassigned + rng.randrange(1000, 10 * MINUTE)
        driver = _colleague(rng, config, driver, len(zones))
        events.append(event(EventType.ACCEPTED, driver, start))
    end = start + rng.randrange(3 * MINUTE, 70 * MINUTE)
    closing = EventType.CANCELLED if rng.random() < config.cancel_rate else EventType.DELIVERED
    if closing is EventType.DELIVERED or rng.random() < 0.5:
        events.append(event(EventType.PICKED_UP, driver, rng.randrange(start, end)))
    events.append(event(closing, driver, end))
    paid = closing in zones.governing(zone, start)[zone].paid_on
    interval = PaidInterval(
        order_id,
        f"d{driver:05d}",
        zone,
        start,
        end,
        events[_accept_index(events)]["event_id"],
        events[-1]["event_id"],
        closing.value,
    )
    return events, [interval] if paid else []


def _accept_index(events: list[dict[str, Any]]) -> int:
    """Index of the last ACCEPTED: the one that opened the paid interval."""
    return max(i for i, e in enumerate(events) if e["type"] == EventType.ACCEPTED.value)


def _colleague(rng: random.Random, config: GenConfig, driver: int, n_zones: int) -> int:
    """Another driver of the same zone (drivers are assigned to zones round-robin)."""
    others = range(driver % n_zones, config.drivers, n_zones)
    pick = rng.choice(others)
    return (
        pick
        if pick != driver or len(others) == 1
        else others[(others.index(pick) + 1) % len(others)]
    )


def _book(truth: Truth, interval: PaidInterval, zones: ZonesLike) -> None:
    for line in lines_for(interval, zones):
        key = (line.interval.driver_id, line.pay_date.isoformat())
        total, currency, count = truth.daily.get(key, (Decimal(0), line.currency, 0))
        truth.daily[key] = [total + line.amount, currency, count + 1]
        truth.counts["pay_lines"] += 1


def _arrive(
    rng: random.Random,
    config: GenConfig,
    truth: Truth,
    records: list[tuple[int, int, bytes]],
    event: dict[str, Any],
) -> None:
    line = json.dumps(event, separators=(",", ":")).encode()
    at = _event_ms(event)
    truth.counts["valid_events"] += 1
    if rng.random() < config.late_rate:
        at += rng.randrange(*config.late_delay_ms)
        truth.counts["late"] += 1
    elif rng.random() < config.out_of_order_rate:
        at += rng.randrange(config.max_disorder_ms)
        truth.counts["out_of_order"] += 1
    records.append((at, len(records), line))
    if rng.random() < config.duplicate_rate:
        records.append((at + rng.randrange(5 * MINUTE), len(records), line))
        truth.counts["duplicates"] += 1


def _retry_storm(
    rng: random.Random,
    truth: Truth,
    records: list[tuple[int, int, bytes]],
    event: dict[str, Any],
    copies: int,
) -> None:
    """``copies`` more arrivals of ``event`` over the hour after it: one very hot order key."""
    line = json.dumps(event, separators=(",", ":")).encode()
    at = _event_ms(event)
    for _ in range(copies):
        records.append((at + rng.randrange(HOUR), len(records), line))
    truth.counts["duplicates"] += copies


def _event_ms(event: dict[str, Any]) -> int:
    return parse_rfc3339_ms(event["event_time"])


def _malformed(rng: random.Random) -> bytes:
    """One record breaking the contract in one of many ways; oversize ones are kept rare."""
    if rng.random() < 0.01:
        return _dump(_valid_like(rng, padding="p" * 70_000))
    return rng.choice(_MALFORMED_KINDS)(rng)


def _valid_like(rng: random.Random, **changes: Any) -> dict[str, Any]:
    doc = {
        "event_id": f"bad-{rng.getrandbits(48):012x}",
        "order_id": "o-bad",
        "driver_id": "d-bad",
        "type": "DELIVERED",
        "event_time": "2026-11-24T17:05:03.120Z",
        "zone": "sf",
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not _DROP}


_DROP = object()


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


_MALFORMED_KINDS: list[Callable[[random.Random], bytes]] = [
    lambda r: b'{"event_id": "truncated", "order_id": ',
    lambda r: b"[1, 2, 3]",
    lambda r: b"",
    lambda r: _dump(_valid_like(r, driver_id=_DROP)),
    lambda r: _dump(_valid_like(r, order_id=12345)),
    lambda r: _dump(_valid_like(r, type="TELEPORTED")),
    lambda r: _dump(_valid_like(r, zone="atlantis")),
    lambda r: _dump(_valid_like(r, event_time="2026-11-24 17:05:03")),
    lambda r: _dump(_valid_like(r, event_time="yesterday")),
    lambda r: _dump(_valid_like(r, schema_version=2)),
    lambda r: _dump(_valid_like(r, event_id="x" * 129)),
    lambda r: b'{"event_id": "bad-utf8-\xff\xfe", "type": "ACCEPTED"}',
]
