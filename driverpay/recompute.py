"""``driverpay recompute``: a day's pay, recomputed in batch from the raw event archive.

The archive (``jobs/archive.py``) holds every valid event as Parquet under
``zone=<z>/event_date=<YYYY-MM-DD>/``. A recompute of local date D reads D-1, D and D+1: an
order open across local midnight (at most ``max_open``, 12 h) has events on both sides, and
nothing that pays on D can have events further away.

DuckDB sorts the events by ``(order_id, time_ms)``; it spills to ``temp_directory`` past its
``memory_limit``, so a day of any size is sorted in bounded memory. The sorted rows stream into
Python in Arrow batches, grouped by order, and each order goes through the same pure transitions
the streaming job uses (:func:`order_lines`, the one adapter over ``udfs.lifecycle``). Lines
are spooled to Parquet per worker and sorted by DuckDB again for the ledger file, so no stage
holds the day in memory; only the per-driver-day totals (one small entry per driver-day) are
kept. ``workers`` processes split the orders by hash to use every core.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from udfs.events import EventType, OrderEvent
from udfs.ledger import LineKind, PayLine, json_number, lines_for
from udfs.lifecycle import OrderLifecycle, OrderState, derive_of
from udfs.money import from_minor, to_minor
from udfs.pay import RULE_VERSION
from udfs.timefmt import format_ms
from udfs.zones_history import history_from

HOUR = 3_600_000
_SORT_ROW_BYTES = 120
_TYPES = {t.value: t for t in EventType}
# Same tie order as udfs.lifecycle's derivation (release < accept < pick-up < end), so feeding
# an order's events in this order never pays an interval that a later tie would correct.
_RANK = {"UNASSIGNED": 0, "ACCEPTED": 1, "PICKED_UP": 2, "CANCELLED": 3, "DELIVERED": 3}


class RecomputeError(ValueError):
    """Bad input to a recompute (no archive, no events for the date, unknown zone)."""


def order_lines(lifecycle: OrderLifecycle, events: list[OrderEvent]) -> list[PayLine]:
    """The net ledger lines of one order: what a clean streaming run emits for its events.

    The ONE place the batch path touches the lifecycle, so changes to ``udfs.lifecycle`` are
    adjusted here only. It uses the pure parts the streaming transition is built from —
    dedup by ``event_id``, ``derive_of`` (the same derivation, caps included) and ``lines_for``
    — instead of feeding ``on_event`` once per event: that re-derives the order at every event
    and cost 44 µs per order against 21 µs here, the difference between ~60k and ~110k
    events/s. A streaming run that saw no corrections emits exactly these ``LINE``s, with the
    same ids; one that corrected an order has the same lines in effect, under other ids.
    """
    state = OrderState()
    cap = getattr(lifecycle, "max_events", None)  # the stream's per-order event cap, if any
    for event in sorted(events, key=lambda e: (e.time_ms, _RANK[e.type.value], e.event_id)):
        if event.event_id not in state.events and (cap is None or len(state.events) < cap):
            state.events[event.event_id] = event
    derivation = derive_of(state, lifecycle)
    return [line for iv in derivation.intervals for line in lines_for(iv, lifecycle.zones)]


# The archive's files, with ``zone`` and ``event_date`` from their paths read as text: DuckDB
# would otherwise guess a type, and a zone named "123" or "2026-01-01" would come back a number
# or a date and match no zone of the file.
READ_ARCHIVE = (
    "read_parquet(?, hive_partitioning = true, "
    "hive_types = {'zone': 'VARCHAR', 'event_date': 'VARCHAR'})"
)


def checked_count(con: Any, files: tuple[str, ...]) -> int:
    """The archive's events, once every row was found whole: RecomputeError otherwise.

    A truncated file, another schema, a row without an id or time, or a type the contract does
    not know would otherwise fail a worker half-way with a trace, or be priced as something.
    """
    import duckdb

    known = ", ".join(f"'{t}'" for t in _TYPES)
    try:
        total, broken = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE event_id IS NULL OR order_id IS NULL "
            f"OR driver_id IS NULL OR time_ms IS NULL OR type IS NULL OR type NOT IN ({known})) "
            f"FROM {READ_ARCHIVE}",
            [list(files)],
        ).fetchone()
    except duckdb.Error as exc:
        raise RecomputeError(f"archive: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    if broken:
        raise RecomputeError(
            f"archive: {broken} of {total} events lack an id or a time, or have a type the "
            "contract does not know (docs/contracts.md §1)"
        )
    return int(total)


def partition(zone: str, local_date: str) -> str:
    """The archive's folder, relative to its root, for one zone's events of one local date."""
    return f"zone={zone}/event_date={local_date}"


def archive_files(archive: Path, day: date, zone: str | None) -> list[Path]:
    """Committed Parquet files of dates D-1..D+1 (in-progress ``.``/``_`` files are skipped)."""
    if not archive.is_dir():
        raise RecomputeError(f"archive: no such folder: {archive}")
    zones = [zone] if zone else sorted(p.name[len("zone=") :] for p in archive.glob("zone=*"))
    files: list[Path] = []
    for name in zones:
        for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
            part = archive / partition(name, d.isoformat())
            if part.is_dir():
                files += sorted(
                    p for p in part.iterdir() if p.is_file() and not p.name.startswith((".", "_"))
                )
    if not any(f"event_date={day.isoformat()}" in str(f.parent) for f in files):
        where = f"zone {zone}" if zone else "any zone"
        raise RecomputeError(f"archive {archive} has no events on {day.isoformat()} for {where}")
    return files


@dataclass
class DayTotal:
    """A driver-day's recomputed total, in minor units, and what the stream's record needs."""

    currency: str
    total_minor: int = 0
    line_count: int = 0
    lines: int = 0  # emissions: each line is one version of the streamed total
    as_of_ms: int = 0
    # The earliest line by (its interval's end, id): the stream applies a driver-day's lines in
    # about that order, so this decides which currency a driver-day is paid in.
    first: tuple[int, str] = (2**63, "")

    def add(self, line: PayLine, amount_minor: int) -> None:
        """Exact integer sum of the lines' rounded amounts; reversals count -1 line."""
        self.total_minor += amount_minor
        self.line_count += -1 if line.kind is LineKind.REVERSAL else 1
        self.lines += 1
        self.as_of_ms = max(self.as_of_ms, line.interval.end_ms)
        self.first = min(self.first, (line.interval.end_ms, line.line_id))

    def merge(self, other: DayTotal) -> None:
        """Combine the partial totals of two workers (disjoint orders)."""
        self.total_minor += other.total_minor
        self.line_count += other.line_count
        self.lines += other.lines
        self.as_of_ms = max(self.as_of_ms, other.as_of_ms)
        self.first = min(self.first, other.first)


DayCurrency = tuple[str, str, str]  # (driver_id, pay_date, currency)


def one_currency_per_day(
    parts: Mapping[DayCurrency, DayTotal],
) -> tuple[dict[tuple[str, str], DayTotal], dict[DayCurrency, int]]:
    """Each driver-day's total in one currency, and the lines left out in another.

    The daily stage pays a driver-day in the currency of its first line and quarantines lines
    in any other (``udfs.daily.Verdict.CURRENCY_MISMATCH``); the recompute does the same, with
    "first" made deterministic: the earliest line by its interval's end, then its id.
    """
    by_day: dict[tuple[str, str], list[tuple[str, DayTotal]]] = {}
    for (driver_id, day, currency), total in parts.items():
        by_day.setdefault((driver_id, day), []).append((currency, total))
    totals: dict[tuple[str, str], DayTotal] = {}
    left_out: dict[DayCurrency, int] = {}
    for key, candidates in by_day.items():
        ranked = sorted(candidates, key=lambda c: c[1].first)
        totals[key] = ranked[0][1]
        for currency, total in ranked[1:]:
            left_out[(*key, currency)] = total.lines
    return totals, left_out


def daily_record(driver_id: str, pay_date: str, t: DayTotal) -> dict[str, Any]:
    """The final version a clean stream emits for the day (one version per line, then final)."""
    return {
        "driver_id": driver_id,
        "pay_date": pay_date,
        "total": str(from_minor(t.total_minor, t.currency)),
        "total_cents": t.total_minor,
        "currency": t.currency,
        "line_count": t.line_count,
        "version": t.lines + 1,
        "final": True,
        "post_final": False,
        "as_of": format_ms(t.as_of_ms),
    }


@dataclass(frozen=True)
class Job:
    """One worker's share of a recompute (picklable: it crosses a process boundary)."""

    files: tuple[str, ...]
    zones_yaml: bytes
    day: date
    worker: int
    workers: int
    partitions: int  # order-hash partitions in all; this worker sorts every workers-th one
    spool: str
    memory_limit: str
    version_records: tuple[str, ...] = ()  # zones versions beyond zones_yaml (topic order)
    grace_ms: int = HOUR
    max_open_ms: int = 12 * HOUR
    batch_rows: int = 10_000  # rows per Arrow batch: bounds the Python side's working set


@dataclass
class WorkerResult:
    """Counts and partial driver-day totals from one worker; its lines are in its spool file."""

    events: int = 0
    orders: int = 0
    lines: int = 0
    totals: dict[DayCurrency, DayTotal] = field(default_factory=dict)


def _connect(memory_limit: str, temp_dir: str, threads: int = 1) -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET temp_directory = ?", [temp_dir])
    con.execute(f"SET threads = {threads}")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # ours is on stderr already
    return con


def sorted_events(job: Job) -> Iterator[list[OrderEvent]]:
    """Orders of this worker's share, each as its list of events, in ``(order_id, time_ms)`` order.

    One sort per order-hash partition: DuckDB spills sort keys but not wide string rows well
    (a 46 MB sort of events failed within 32 MB), so each partition is sized to fit the limit.
    Orders never straddle partitions, so the stream of orders is complete.
    """
    con = _connect(job.memory_limit, job.spool)
    for partition in range(job.worker, job.partitions, job.workers):
        share = f"WHERE hash(order_id) % {job.partitions} = {partition}"
        reader = con.execute(
            "SELECT event_id, order_id, driver_id, type, time_ms, zone "
            f"FROM {READ_ARCHIVE} "
            f"{share if job.partitions > 1 else ''} ORDER BY order_id, time_ms, event_id",
            [list(job.files)],
        ).fetch_record_batch(job.batch_rows)
        current: list[OrderEvent] = []
        current_id = None
        types = _TYPES
        for batch in reader:
            cols = batch.to_pydict()
            for eid, oid, did, typ, t, zone in zip(
                cols["event_id"],
                cols["order_id"],
                cols["driver_id"],
                cols["type"],
                cols["time_ms"],
                cols["zone"],
                strict=True,
            ):
                if oid != current_id:
                    if current:
                        yield current
                    current, current_id = [], oid
                current.append(OrderEvent(eid, oid, did, types[typ], t, zone))
        if current:
            yield current
    con.close()


class _Spool:
    """Lines of the day, buffered and written to one Parquet file for the final sort."""

    def __init__(self, path: Path, rows: int = 5_000) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.schema = pa.schema([(n, pa.string()) for n in _SPOOL_COLUMNS])
        self.writer = pq.ParquetWriter(str(path), self.schema)
        self.rows = rows
        self.buffer: list[list[str]] = [[] for _ in _SPOOL_COLUMNS]

    def add(self, line: PayLine, text: str) -> None:
        iv = line.interval
        for col, value in zip(
            self.buffer,
            (
                line.pay_date.isoformat(),
                iv.driver_id,
                iv.order_id,
                line.line_id,
                line.currency,
                text,
            ),
            strict=True,
        ):
            col.append(value)
        if len(self.buffer[0]) >= self.rows:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if self.buffer[0]:
            self.writer.write_table(pa.Table.from_arrays(self.buffer, schema=self.schema))
            self.buffer = [[] for _ in _SPOOL_COLUMNS]

    def close(self) -> None:
        self.flush()
        self.writer.close()


class LedgerText:
    """``PayLine.to_json`` bytes at a fraction of the cost, checked against it as it goes.

    ``to_json`` formats four instants through ``datetime`` per line: 60 % of a recompute's
    per-line cost (29 µs of a line's ~45 µs on this machine). This builds the same record
    with a per-day cache for the date part. It never trusts itself: the first
    ``check_first`` lines and every ``check_every``-th line after are compared with
    ``to_json``; if the first comparison fails (the ledger format changed) it uses
    ``to_json`` for everything, and a later mismatch is an error, never a silent difference.
    """

    def __init__(self, check_first: int = 100, check_every: int = 997) -> None:
        self.check_first = check_first
        self.check_every = check_every
        self.count = 0
        self.trusted: bool | None = None
        self.days: dict[int, str] = {}

    def __call__(self, line: PayLine, amount_minor: int) -> str:
        """The line's canonical JSON text."""
        self.count += 1
        if self.trusted is False:
            return line.to_json()
        text = json.dumps(
            self._record(line, amount_minor), separators=(",", ":"), ensure_ascii=False
        )
        if self.count <= self.check_first or self.count % self.check_every == 0:
            slow = line.to_json()
            if text != slow:
                if self.trusted is None:
                    self.trusted = False
                    return slow
                raise RuntimeError(f"ledger text differs from PayLine.to_json: {slow}")
            if self.count == self.check_first:
                self.trusted = True
        return text

    def _record(self, line: PayLine, amount_minor: int) -> dict[str, Any]:
        iv = line.interval
        fmt = self._format
        start, end = fmt(line.start_ms), fmt(line.end_ms)
        return {
            "line_id": line.line_id,
            "kind": line.kind.value,
            "order_id": iv.order_id,
            "driver_id": iv.driver_id,
            "zone": iv.zone,
            "pay_date": line.pay_date.isoformat(),
            "start": start,
            "end": end,
            "base_ms": line.base_ms,
            "weighted_ms": json_number(line.weighted_ms),
            "rate_per_minute": str(line.rate_per_minute),
            "amount": str(line.amount),
            "amount_minor": amount_minor,
            "currency": line.currency,
            "zones_version": line.zones_version,
            "schedule_version": line.schedule_version,
            "rule_version": RULE_VERSION,
            "interval_start": start if iv.start_ms == line.start_ms else fmt(iv.start_ms),
            "interval_end": end if iv.end_ms == line.end_ms else fmt(iv.end_ms),
            "start_event_id": iv.start_event_id,
            "end_event_id": iv.end_event_id,
            "end_type": iv.end_type,
            "reason": line.reason,
        }

    def _format(self, ms: int) -> str:
        day, rem = divmod(ms, 86_400_000)
        date_part = self.days.get(day)
        if date_part is None:
            date_part = self.days[day] = format_ms(day * 86_400_000)[:10]
        seconds, milli = divmod(rem, 1000)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{date_part}T{hours:02d}:{minutes:02d}:{seconds:02d}.{milli:03d}Z"


_SPOOL_COLUMNS = ("pay_date", "driver_id", "order_id", "line_id", "currency", "json")


def run_worker(job: Job, progress: Callable[[int], None] = lambda n: None) -> WorkerResult:
    """Recompute this worker's orders; keep lines paid on ``job.day``."""
    zones = history_from(job.zones_yaml, job.version_records)
    lifecycle = OrderLifecycle(zones, job.grace_ms, job.max_open_ms)
    spool = _Spool(Path(job.spool) / f"lines-{job.worker}.parquet")
    result = WorkerResult()
    text = LedgerText()
    pending = 0
    for events in sorted_events(job):
        result.orders += 1
        pending += len(events)
        for line in order_lines(lifecycle, events):
            if line.pay_date != job.day:
                continue
            key = (line.interval.driver_id, line.pay_date.isoformat(), line.currency)
            total = result.totals.get(key)
            if total is None:
                total = result.totals[key] = DayTotal(line.currency)
            minor = to_minor(line.amount, line.currency)
            total.add(line, minor)
            spool.add(line, text(line, minor))
            result.lines += 1
        if pending >= 20_000:
            progress(pending)
            result.events += pending
            pending = 0
    progress(pending)
    result.events += pending
    spool.close()
    return result


def _worker_main(job: Job, progress_queue: Any, result_path: str) -> None:
    """Process entry point: run, then hand the (small) result back through a pickle file."""
    import pickle

    result = run_worker(job, progress_queue.put)
    Path(result_path).write_bytes(pickle.dumps(result))


@dataclass
class Summary:
    """What a recompute read and wrote, and how long it took."""

    events: int
    orders: int
    lines: int
    driver_days: int
    total_minor: dict[str, int]
    seconds: float
    currency_mismatch_lines: int = 0  # in another currency than their driver-day: not paid

    @property
    def rate(self) -> float:
        """Events per second, end to end (listing, sort, pay, output)."""
        return self.events / self.seconds if self.seconds else 0.0


def recompute(
    archive: Path,
    day: date,
    zones_yaml: bytes,
    output: Path,
    zone: str | None = None,
    workers: int | None = None,
    memory_limit: str = "512MB",
    progress: Callable[[int, int], None] = lambda done, total: None,
    grace_ms: int = HOUR,
    max_open_ms: int = 12 * HOUR,
    passes: int | None = None,
    version_records: tuple[str, ...] = (),
) -> Summary:
    """Write ``output/pay_ledger.jsonl`` and ``output/driver_daily_pay.jsonl`` for ``day``.

    ``memory_limit`` is DuckDB's, per process; ``progress(done, total)`` counts events;
    ``passes`` (sorts per worker) is derived from the limit unless given. The day is priced
    with the zones versions the stream had: ``zones_yaml`` (the submission's) and
    ``version_records`` (the ``zones`` topic's records, in topic order).
    """
    started = time.monotonic()
    parse_bytes(memory_limit)
    zones = history_from(zones_yaml, version_records)
    if zone is not None and zone not in zones:
        raise RecomputeError(f"zone: unknown zone {zone!r}")
    files = tuple(str(f) for f in archive_files(archive, day, zone))
    workers = workers or min(2, os.cpu_count() or 1)
    output.mkdir(parents=True, exist_ok=True)
    spool = Path(tempfile.mkdtemp(prefix="recompute-", dir=output))
    try:
        total_events = checked_count(_connect(memory_limit, str(spool), threads=workers), files)
        # ~120 bytes per event row in a sort; a quarter of the limit per sort leaves room
        passes = passes or -(
            -total_events * _SORT_ROW_BYTES // workers // (parse_bytes(memory_limit) // 4)
        )
        partitions = workers * max(1, passes)
        jobs = [
            Job(files, zones_yaml, day, i, workers, partitions, str(spool), memory_limit)
            for i in range(workers)
        ]
        jobs = [
            replace(j, grace_ms=grace_ms, max_open_ms=max_open_ms, version_records=version_records)
            for j in jobs
        ]
        results = _run_jobs(jobs, total_events, progress)
        parts: dict[DayCurrency, DayTotal] = {}
        for result in results:
            for key, part in result.totals.items():
                if key in parts:
                    parts[key].merge(part)
                else:
                    parts[key] = part
        totals, left_out = one_currency_per_day(parts)
        _write_ledger(spool, output / "pay_ledger.jsonl", memory_limit, workers, left_out)
        with (output / "driver_daily_pay.jsonl").open("w", encoding="utf-8") as fh:
            for driver_id, pay_date in sorted(totals):
                record = daily_record(driver_id, pay_date, totals[(driver_id, pay_date)])
                fh.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    by_currency: dict[str, int] = {}
    for t in totals.values():
        by_currency[t.currency] = by_currency.get(t.currency, 0) + t.total_minor
    return Summary(
        events=sum(r.events for r in results),
        orders=sum(r.orders for r in results),
        lines=sum(r.lines for r in results) - sum(left_out.values()),
        driver_days=len(totals),
        total_minor=by_currency,
        seconds=time.monotonic() - started,
        currency_mismatch_lines=sum(left_out.values()),
    )


def _run_jobs(
    jobs: list[Job], total: int, progress: Callable[[int, int], None]
) -> list[WorkerResult]:
    """One job runs in this process; more run as spawned processes (no fork after DuckDB)."""
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        progress(done, total)

    if len(jobs) == 1:
        return [run_worker(jobs[0], advance)]
    import pickle

    ctx = multiprocessing.get_context("spawn")
    updates = ctx.Queue()
    procs = []
    for job in jobs:
        path = str(Path(job.spool) / f"result-{job.worker}.pickle")
        proc = ctx.Process(target=_worker_main, args=(job, updates, path), daemon=True)
        proc.start()
        procs.append((proc, path))
    while any(p.is_alive() for p, _ in procs):
        _drain(updates, advance, timeout=0.2)
    _drain(updates, advance, timeout=0)
    for proc, _ in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"recompute worker failed with exit code {proc.exitcode}")
    return [pickle.loads(Path(path).read_bytes()) for _, path in procs]


def _drain(updates: Any, advance: Callable[[int], None], timeout: float) -> None:
    try:
        advance(updates.get(timeout=timeout) if timeout else updates.get_nowait())
        while True:
            advance(updates.get_nowait())
    except queue.Empty:
        pass


def _write_ledger(
    spool: Path,
    target: Path,
    memory_limit: str,
    threads: int,
    left_out: Mapping[DayCurrency, int] | None = None,
) -> None:
    """The ledger in ``driverpay run``'s order, sorted by DuckDB in bounded memory.

    Lines of a driver-day in a currency ``left_out`` names are not in it (the stream
    quarantines them: ``one_currency_per_day``).

    DuckDB's sort spills fixed-width keys well but not wide text payloads: a 140 MB spool of
    JSON lines failed to sort within 64 MB. So the sort runs per range of drivers, each range
    holding at most an eighth of the memory limit of JSON text; the ranges come out in order.
    """
    con = _connect(memory_limit, str(spool), threads=threads)
    source = str(spool / "lines-*.parquet")
    con.execute(
        "CREATE TEMP TABLE left_out (driver_id VARCHAR, pay_date VARCHAR, currency VARCHAR)"
    )
    if left_out:
        con.executemany(
            "INSERT INTO left_out VALUES (?, ?, ?)",
            [[driver_id, day, currency] for driver_id, day, currency in left_out],
        )
    sizes = con.execute(
        "SELECT driver_id, sum(strlen(json)) FROM read_parquet(?) GROUP BY driver_id "
        "ORDER BY driver_id",
        [source],
    ).fetchall()
    budget = max(1, parse_bytes(memory_limit) // 8)
    ranges: list[tuple[str, str]] = []
    first, size = None, 0
    for driver_id, n in sizes:
        first = first or driver_id
        size += n
        if size >= budget:
            ranges.append((first, driver_id))
            first, size = None, 0
    if first is not None:
        ranges.append((first, sizes[-1][0]))
    with target.open("w", encoding="utf-8") as fh:
        for lo, hi in ranges:
            reader = con.execute(
                "SELECT s.json FROM read_parquet(?) s ANTI JOIN left_out o "
                "ON s.driver_id = o.driver_id AND s.pay_date = o.pay_date "
                "AND s.currency = o.currency WHERE s.driver_id BETWEEN ? AND ? "
                "ORDER BY s.pay_date, s.driver_id, s.order_id, s.line_id",
                [source, lo, hi],
            ).fetch_record_batch(10_000)
            for batch in reader:
                fh.writelines(text + "\n" for text in batch.column(0).to_pylist())
    con.close()


_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KIB": 1024, "MIB": 1024**2}
_UNITS |= {"GIB": 1024**3}


def parse_bytes(text: str) -> int:
    """``'512MB'`` or ``'1GiB'`` as bytes (DuckDB's memory_limit spellings)."""
    value = text.strip().upper()
    number = value.rstrip("KMGIB ")
    unit = value[len(number) :].strip()
    try:
        return int(float(number) * _UNITS[unit])
    except (KeyError, ValueError):
        raise RecomputeError(f"memory limit: not a size like 512MB: {text!r}") from None


def read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    """Records of a JSON-lines file (shared by reconcile and chart)."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
