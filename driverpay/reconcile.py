"""``driverpay reconcile``: streamed pay against a recompute of the same day, and corrections.

The streamed side is PostgreSQL (``pay_lines``, ``driver_daily_pay``) or an embedded run's
output folder. The recomputed side is ``driverpay recompute`` over the archive, written into
the reconcile's own run folder. Every driver-day whose totals differ is reported; with
``apply`` the corrections (``udfs.reconcile.corrections``) go to Kafka ``pay-corrections``
(PostgreSQL mode) or to ``DIR/pay_corrections.jsonl`` (folder mode). A folder's corrections
file counts as part of its streamed ledger, so a second reconcile after ``--apply`` finds no
delta and adds nothing.

Each run leaves ``reconcile-summary.json`` and ``reconcile.prom`` (Prometheus textfile format,
for node_exporter's textfile collector) in its run folder.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from driverpay import topics
from driverpay.recompute import partition, read_jsonl, recompute
from jobs.endpoints import DEFAULT_PG_DSN
from jobs.settings import DEFAULT_KAFKA
from udfs.daily import DayBase
from udfs.ledger import PayLine
from udfs.localday import pay_date
from udfs.money import from_minor
from udfs.reconcile import (
    by_driver_day,
    correction_record,
    corrections,
    day_bases,
    driver_day,
    in_effect,
    line_from_record,
    mixed_currencies,
)
from udfs.zones import Zone, parse_zones

TOPIC = topics.PAY_CORRECTIONS
CORRECTIONS_FILE = "pay_corrections.jsonl"


class ReconcileError(ValueError):
    """Bad input: no such stream folder, unreadable files."""


@dataclass
class Streamed:
    """The streamed side of one date: served totals, and its ledger lines read on demand.

    ``lines()`` reads the ledger anew on each call, in ``(pay_date, driver_id)`` order
    (``udfs.reconcile.by_driver_day``): reconcile passes over it twice and never holds it.
    """

    totals: dict[tuple[str, str], tuple[int, str]]  # (driver, date) -> (minor, currency)
    lines: Callable[[], Iterator[PayLine]]
    # (driver, date) -> the served row's total, line count and version: what a correction
    # restates once the job no longer holds the day (udfs.daily.DayBase)
    days: dict[tuple[str, str], DayBase] = field(default_factory=dict)


@dataclass
class Report:
    """What a reconcile found (and did)."""

    date: str
    zone: str | None
    run_id: str
    stream: str
    deltas: list[dict[str, Any]] = field(default_factory=list)
    # driver-days paid in one currency by the stream and another by the recompute (or in two
    # on one side): never corrected automatically (udfs.reconcile.mixed_currencies)
    currency_conflicts: list[dict[str, Any]] = field(default_factory=list)
    corrections: list[PayLine] = field(default_factory=list)
    applied: int = 0
    driver_days: int = 0

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object: date, drivers_affected, delta_minor, deltas (and more)."""
        by_currency: dict[str, int] = {}
        for d in self.deltas:
            delta = d["recomputed_minor"] - d["streamed_minor"]
            by_currency[d["currency"]] = by_currency.get(d["currency"], 0) + delta
        return {
            "date": self.date,
            "zone": self.zone,
            "run_id": self.run_id,
            "stream": self.stream,
            "driver_days": self.driver_days,
            "drivers_affected": len(
                {d["driver_id"] for d in (*self.deltas, *self.currency_conflicts)}
            ),
            "delta_minor": sum(by_currency.values()),
            "delta_minor_by_currency": by_currency,
            "deltas": self.deltas,
            "currency_conflicts": self.currency_conflicts,
            "corrections": len(self.corrections),
            "corrections_applied": self.applied,
        }


def read_stream_folder(folder: Path, day: str) -> Streamed:
    """An embedded run's outputs, plus corrections already issued into the folder.

    Held in memory: the folder is an embedded run's, whose own output files were sorted in
    memory (``jobs.embedded``). PostgreSQL is the streamed side that grows without bound.
    """
    if not (folder / "driver_daily_pay.jsonl").is_file():
        raise ReconcileError(f"--stream: {folder} has no driver_daily_pay.jsonl")
    totals = {
        (r["driver_id"], r["pay_date"]): (int(r["total_cents"]), str(r["currency"]))
        for r in read_jsonl(folder / "driver_daily_pay.jsonl")
        if r["pay_date"] == day
    }
    lines = [
        line_from_record(r) for r in read_jsonl(folder / "pay_ledger.jsonl") if r["pay_date"] == day
    ]
    issued = folder / CORRECTIONS_FILE
    if issued.is_file():
        for record in read_jsonl(issued):
            if record["pay_date"] != day:
                continue
            line = line_from_record(record)
            lines.append(line)
            minor, currency = totals.get(driver_day(line), (0, line.currency))
            totals[driver_day(line)] = (minor + int(record["amount_minor"]), currency)
    lines.sort(key=lambda x: (x.pay_date.isoformat(), x.interval.driver_id))
    return Streamed(totals, lambda: iter(lines))


# ``pay_lines`` columns a line is rebuilt from, in ``pg_line``'s order. The first 14 are those of
# migration 001; the interval identity (migration 003) makes a rebuilt line the streamed one.
PG_LINE_COLUMNS = (
    "line_id",
    "kind",
    "order_id",
    "driver_id",
    "zone",
    "start_ts",
    "end_ts",
    "base_ms",
    "weighted_ms",
    "rate_per_minute",
    "amount_cents",
    "currency",
    "zones_version",
    "reason",
    "interval_start",
    "interval_end",
    "start_event_id",
    "end_event_id",
    "end_type",
    "schedule_version",
)
_PG_001_COLUMNS = 14


@contextmanager
def read_postgres(dsn: str, day: str) -> Iterator[Streamed]:
    """``driver_daily_pay`` of the date, and its ``pay_lines`` on demand, from one snapshot.

    One read-only ``REPEATABLE READ`` transaction stays open while the side is in use, so the
    totals and both passes over the lines see the same database however long the recompute
    between them takes, even while the job writes (it holds back vacuum for that long). The
    totals are one row per driver-day and held; the lines are not (``pg_lines``). Passwords
    come from PGPASSFILE.
    """
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        rows = conn.execute(
            "SELECT driver_id, total_cents, currency, line_count, version FROM driver_daily_pay "
            "WHERE pay_date = %s",
            (day,),
        ).fetchall()
        totals = {(d, day): (int(c), cur_) for d, c, cur_, _, _ in rows}
        days = {(d, day): DayBase(int(c), int(n), int(v)) for d, c, _, n, v in rows}
        yield Streamed(totals, lambda: pg_lines(conn, day), days)


PG_FETCH_ROWS = 2_000  # rows per round trip of the server-side cursor: ~3 KB each in Python


def pg_lines(conn: Any, day: str) -> Iterator[PayLine]:
    """The date's ``pay_lines`` through a server-side cursor, in ``driver_id`` byte order.

    ``conn``: the connection of :func:`read_postgres`, in its transaction. ``COLLATE "C"``
    orders by bytes, i.e. by code point as Python compares ``str``, which
    ``udfs.reconcile.by_driver_day`` checks; PostgreSQL sorts, spilling to disk past
    ``work_mem``, and sends ``PG_FETCH_ROWS`` at a time.
    """
    query = (
        f"SELECT {', '.join(PG_LINE_COLUMNS)} FROM pay_lines WHERE pay_date = %s "
        'ORDER BY driver_id COLLATE "C"'
    )
    with conn.cursor(name="reconcile_pay_lines") as cur:
        cur.itersize = PG_FETCH_ROWS
        cur.execute(query, (day,))
        for row in cur:
            yield pg_line(row, day)


def pg_line(row: tuple[Any, ...], day: str) -> PayLine:
    """A ``pay_lines`` row (``PG_LINE_COLUMNS``) as the line the job streamed.

    The amount comes from the exact integer cents. The interval identity (bounds, event ids,
    end type) and ``schedule_version`` make ``line_id``, ``interval_key`` and the record those
    of the streamed line, so a reversal built from it is accepted by the daily stage. A row
    written before migration 003 has them NULL, and a caller selecting only 001's 14 columns
    has none: both fall back to the line's own bounds and empty ids, as before
    (``udfs.reconcile.line_from_record``).
    """
    if len(row) not in (_PG_001_COLUMNS, len(PG_LINE_COLUMNS)):
        raise ValueError(f"pay_lines row of {len(row)} columns, expected {PG_LINE_COLUMNS}")
    col = dict(zip(PG_LINE_COLUMNS, row, strict=False))
    currency = col["currency"]
    return line_from_record(
        {
            "line_id": col["line_id"],
            "kind": col["kind"],
            "order_id": col["order_id"],
            "driver_id": col["driver_id"],
            "zone": col["zone"],
            "pay_date": day,
            "start": _iso(col["start_ts"]),
            "end": _iso(col["end_ts"]),
            "base_ms": col["base_ms"],
            "weighted_ms": col["weighted_ms"],
            "rate_per_minute": _unpadded(col["rate_per_minute"]),
            "amount": str(from_minor(int(col["amount_cents"]), currency)),
            "currency": currency,
            "zones_version": col["zones_version"],
            "schedule_version": col.get("schedule_version"),
            "reason": col["reason"],
            "interval_start": _iso(col.get("interval_start")),
            "interval_end": _iso(col.get("interval_end")),
            "start_event_id": col.get("start_event_id"),
            "end_event_id": col.get("end_event_id"),
            "end_type": col.get("end_type"),
        }
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _unpadded(value: Decimal | None) -> str | None:
    """A rate without the zeros the sink's fixed scale added (``0.350000`` -> ``0.35``).

    The job writes rates as DECIMAL(38, 6) and PostgreSQL keeps that scale, so the zones file's
    own text is lost: the shortest exact text is the best guess (``0.30`` comes back ``0.3``).
    """
    return None if value is None else format(value.normalize(), "f")


def reconcile(
    day: date,
    zones_yaml: bytes,
    archive: Path,
    run_dir: Path,
    stream: Path | None = None,
    dsn: str = DEFAULT_PG_DSN,
    zone: str | None = None,
    apply: bool = False,
    kafka: str = DEFAULT_KAFKA,
    progress: Callable[[int, int], None] = lambda done, total: None,
    version_records: tuple[str, ...] = (),
) -> Report:
    """Recompute ``day`` into ``run_dir``, diff it with the streamed side, maybe correct.

    ``zones_yaml`` and ``version_records``: the zones versions the stream priced with (the
    submission's file and the ``zones`` topic), so only real differences become corrections.
    """
    if stream is not None and not stream.is_dir():
        raise ReconcileError(f"--stream: no such folder: {stream}")
    iso = day.isoformat()
    run_id = f"{iso}{'-' + zone if zone else ''}@{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    report = Report(iso, zone, run_id, str(stream) if stream else "postgresql")
    opened = nullcontext(read_stream_folder(stream, iso)) if stream else read_postgres(dsn, iso)
    with opened as side:

        def streamed_lines() -> Iterator[PayLine]:
            return (x for x in side.lines() if zone is None or x.interval.zone == zone)

        missing = missing_partitions(archive, day, streamed_lines(), parse_zones(zones_yaml))
        if missing:
            raise ReconcileError(
                f"archive {archive} lacks {', '.join(missing[:5])}"
                f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}, where events "
                "the stream paid were archived: a recompute without them would reverse that pay"
            )
        recomputed = run_dir / "recomputed"
        recompute(archive, day, zones_yaml, recomputed, zone=zone, progress=progress,
                  version_records=version_records)  # fmt: skip
        want = {
            (r["driver_id"], r["pay_date"]): (int(r["total_cents"]), str(r["currency"]))
            for r in read_jsonl(recomputed / "driver_daily_pay.jsonl")
        }
        recomputed_lines = (
            line
            for line in map(line_from_record, read_jsonl(recomputed / "pay_ledger.jsonl"))
            if zone is None or line.interval.zone == zone
        )
        compare(report, side.totals, want, streamed_lines(), recomputed_lines)
    if apply and report.corrections:
        if stream is not None:
            report.applied = append_corrections(stream / CORRECTIONS_FILE, report.corrections)
        else:
            report.applied = produce_corrections(kafka, day_bases(report.corrections, side.days))
    write_metrics(run_dir, report)
    return report


def compare(
    report: Report,
    have: Mapping[tuple[str, str], tuple[int, str]],
    want: Mapping[tuple[str, str], tuple[int, str]],
    streamed: Iterable[PayLine],
    recomputed: Iterable[PayLine],
) -> None:
    """Every driver-day's delta, currency conflict and corrections, into ``report``.

    ``have`` and ``want``: the served and recomputed totals. With ``report.zone`` they are
    replaced by the sums of the zone's own lines: a driver-day's total spans every zone the
    driver worked in that day, and the recompute read only this zone, so the other zones' pay
    would look unearned and be reversed. The ledgers are read one driver-day at a time.
    """
    zone_have: dict[tuple[str, str], tuple[int, str]] = {}
    zone_want: dict[tuple[str, str], tuple[int, str]] = {}
    if report.zone is not None:
        have, want = zone_have, zone_want
    conflicts = set()
    for key, streamed_day, recomputed_day in by_driver_day(streamed, recomputed):
        if report.zone is not None:
            zone_have.update(line_sums(streamed_day))
            zone_want.update(line_sums(recomputed_day))
        got, expected = have.get(key), want.get(key)
        if mixed_currencies([*in_effect(streamed_day), *in_effect(recomputed_day)]) or (
            got and expected and got[1] != expected[1]
        ):
            conflicts.add(key)
        elif (got or (0, ""))[0] != (expected or (0, ""))[0]:
            report.corrections += corrections(streamed_day, recomputed_day, report.run_id)
    keys = set(want) | set(have)
    report.driver_days = len(keys)
    conflicts |= {k for k in keys if k in have and k in want and have[k][1] != want[k][1]}
    for key in sorted(keys):
        if key in conflicts:
            report.currency_conflicts.append(currency_conflict(key, have, want))
            continue
        got_minor, currency = have.get(key, (0, want.get(key, (0, ""))[1]))
        expected_minor = want.get(key, (0, currency))[0]
        if got_minor != expected_minor:
            report.deltas.append(
                {
                    "driver_id": key[0],
                    "pay_date": key[1],
                    "currency": currency,
                    "streamed_minor": got_minor,
                    "recomputed_minor": expected_minor,
                }
            )


def currency_conflict(
    key: tuple[str, str],
    have: Mapping[tuple[str, str], tuple[int, str]],
    want: Mapping[tuple[str, str], tuple[int, str]],
) -> dict[str, Any]:
    """One driver-day that reconcile reports but does not correct: each side in its currency."""
    streamed, recomputed = have.get(key), want.get(key)
    return {
        "driver_id": key[0],
        "pay_date": key[1],
        "streamed_minor": streamed[0] if streamed else 0,
        "streamed_currency": streamed[1] if streamed else None,
        "recomputed_minor": recomputed[0] if recomputed else 0,
        "recomputed_currency": recomputed[1] if recomputed else None,
    }


def missing_partitions(
    archive: Path, day: date, lines: Iterable[PayLine], zones: Mapping[str, Zone]
) -> list[str]:
    """Partitions of D-1..D+1 that hold the events of streamed ``lines`` but are not there.

    Each line's interval starts and ends at an event; the archive files that event under its
    zone and local date. A recompute without it would find the order unpaid or shorter.
    """
    window = {(day + timedelta(days=n)).isoformat() for n in (-1, 0, 1)}
    needed: set[str] = set()
    for line in lines:
        zone = zones.get(line.interval.zone)
        if zone is None:  # not in the zones file: the recompute refuses it on its own
            continue
        for instant in (line.interval.start_ms, line.interval.end_ms):
            local = pay_date(instant, zone.timezone).isoformat()
            if local in window:
                needed.add(partition(line.interval.zone, local))
    return sorted(part for part in needed if not (archive / part).is_dir())


def line_sums(lines: Iterable[PayLine]) -> dict[tuple[str, str], tuple[int, str]]:
    """Per driver-day, the sum of ``lines`` in minor units and their currency."""
    sums: dict[tuple[str, str], tuple[int, str]] = {}
    for line in lines:
        key = driver_day(line)
        minor, _ = sums.get(key, (0, line.currency))
        sums[key] = (minor + line.amount_minor, line.currency)
    return sums


def append_corrections(path: Path, lines: Iterable[PayLine]) -> int:
    """Add lines whose id the file does not hold yet (re-applying adds nothing).

    The file is rewritten whole beside itself, synced and renamed over: a crash part-way leaves
    it as it was, never with a torn last line that every later reconcile would fail to read.
    """
    held = path.read_text(encoding="utf-8") if path.is_file() else ""
    seen = {r["line_id"] for r in read_jsonl(path)} if held else set()
    new = [line for line in lines if line.line_id not in seen]
    if not new:
        return 0
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(held)
        fh.writelines(line.to_json() + "\n" for line in new)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return len(new)


def produce_corrections(bootstrap: str, lines: list[tuple[PayLine, DayBase]]) -> int:
    """Send to ``pay-corrections`` with an idempotent producer, keyed by driver-day, in order.

    Each record carries its driver-day as it stands before the line (``correction_record``):
    the job restates a day it no longer holds from it (udfs.daily, ``RESTATED``).
    """
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for line, base in lines:
        key = "|".join(driver_day(line))
        value = json.dumps(correction_record(line, base), separators=(",", ":"), ensure_ascii=False)
        producer.produce(TOPIC, key=key, value=value, on_delivery=delivered)
        producer.poll(0)
    remaining = producer.flush(30)
    if remaining or errors:
        raise RuntimeError(f"{TOPIC}: {remaining} undelivered, errors: {errors[:3]}")
    return len(lines)


def write_metrics(run_dir: Path, report: Report) -> None:
    """``reconcile-summary.json`` and ``reconcile.prom`` (Prometheus textfile) in the run dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    summary = report.to_json()
    summary["corrections_lines"] = [c.to_record() for c in report.corrections]
    (run_dir / "reconcile-summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    labels = f'date="{report.date}",zone="{report.zone or "all"}"'
    lines = [
        "# HELP driverpay_reconcile_drivers_affected Drivers whose streamed pay differs.",
        "# TYPE driverpay_reconcile_drivers_affected gauge",
        f"driverpay_reconcile_drivers_affected{{{labels}}} {summary['drivers_affected']}",
        "# HELP driverpay_reconcile_delta_minor Recomputed minus streamed pay, minor units.",
        "# TYPE driverpay_reconcile_delta_minor gauge",
    ]
    for currency, delta in sorted(summary["delta_minor_by_currency"].items()) or [("", 0)]:
        lines.append(f'driverpay_reconcile_delta_minor{{{labels},currency="{currency}"}} {delta}')
    lines += [
        "# HELP driverpay_reconcile_corrections Correction lines produced by the last run.",
        "# TYPE driverpay_reconcile_corrections gauge",
        f"driverpay_reconcile_corrections{{{labels}}} {len(report.corrections)}",
        "# HELP driverpay_reconcile_last_run_seconds Unix time of the last reconcile.",
        "# TYPE driverpay_reconcile_last_run_seconds gauge",
        f"driverpay_reconcile_last_run_seconds{{{labels}}} {int(time.time())}",
    ]
    tmp = run_dir / "reconcile.prom.tmp"  # the collector must never read half a file
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(run_dir / "reconcile.prom")
