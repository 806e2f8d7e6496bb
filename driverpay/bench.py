"""``make bench``: the job's throughput, latency, checkpoints and memory against a SQL baseline.

One call (README, "Benchmark"): generate a day; for each parallelism, reset topics and tables,
preload most of the day into ``order-events``, submit the real job (``make submit``), measure the
source's records/s over the steady window, then produce the rest of the day live at half that
rate with marker orders whose driver-day rows are polled in PostgreSQL (append -> visible
latency), check the settled totals against the generator's truth, read checkpoint durations and
the TaskManager's RSS; then the pure SQL baseline over the same topic, and both embedded.

Run it under the stack lock on a shared machine: it resets topics and tables.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from confluent_kafka import Producer
from rich.console import Console
from rich.progress import Progress, TaskID

from driverpay import stackctl, topics
from driverpay.bench_core import replay
from driverpay.bench_report import (
    COLUMNS,
    VERDICT,
    BaselineRun,
    EmbeddedRun,
    KafkaRun,
    Sample,
    build_report,
    cpu_lines,
    latency_summary,
    markdown,
    print_table,
    rows,
    steady_rate,
    write_report,
)
from driverpay.check import compare, daily_from_truth
from driverpay.cpu_window import CpuWindow
from driverpay.generate import GenConfig, generate
from driverpay.host_speed import HostSpeed
from driverpay.paths import ROOT
from driverpay.produce import order_key, produce, read_lines
from driverpay.profile_window import ProfileWindow
from driverpay.status import DEFAULT_PROMETHEUS, TERMINAL_STATES
from jobs.settings import ARCHIVE_ENV, GROUP_ID_ENV, KAFKA_ENV, PARALLELISM_ENV
from udfs.events import EventType
from udfs.money import from_minor
from udfs.timefmt import format_ms, parse_rfc3339_ms
from udfs.zones import load_zones

EVENTS_PER_ORDER = 3.32  # make demo: 20,000 orders -> 66,475 events
ORDERS_PER_DRIVER = 40  # make demo: 20,000 orders over 500 drivers
# ~425k preloaded: the warm window (from WARM_FROM of it to 95 %) holds ~150k events, > 40 s
DEFAULT_EVENTS = 500_000
# Where the warm window starts. Freshly started TaskManagers spend their first minutes
# compiling (C2 at ~23 % of a core each, 40k events in; 2 % by 400k events), and the job runs
# at half its rate until then (docs/design.md, "Throughput").
WARM_FROM = 0.6
WARM_TO = 0.95  # the steady window's end: the last partitions drain after it
QUICK_EVENTS = 20_000
JOB_SOURCE = "order_events_src"  # jobs/kafka_job.py's source table
KAFKA_FLOORS = ("sql-lifecycle", "sql-lifecycle-daily", "job-shape")  # doing no work
# The job's source count is read from every TaskManager's Prometheus page: each read costs the
# TaskManager's reporter and the bench's parsing CPU on the machine being measured (together
# 17-19 % of a core when read every second, docs/design.md, "Throughput"), so every 5 s, as a
# scraper would; the warm window still holds ten or more samples.
JOB_POLL_S = 5.0
PROFILE_SECONDS = 20  # --profile: inside the warm window at p=2 (~35 s), most of it at p=1
MARKER = "bench-"  # driver and order ids of latency markers (never in the generator's truth)
console = Console(stderr=True)
T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    """What one bench call does."""

    events: int
    parallelisms: tuple[int, ...]
    seed: int
    out: Path
    live_share: float  # the day's tail produced live during the latency phase
    live_load: float  # its rate, as a share of the measured steady rate
    marker_every_s: float
    embedded: bool
    baseline: bool
    cancel_leftovers: bool = False
    spread: bool = True  # one TaskManager per subtask of the job (one Python interpreter each)
    kafka_floors: tuple[str, ...] = KAFKA_FLOORS  # at the largest parallelism
    warm_from: float = WARM_FROM
    profile: bool = False  # py-spy flame graphs of the TaskManagers over the warm window

    @property
    def orders(self) -> int:
        """Orders to generate for about ``events`` events."""
        return max(1, round(self.events / EVENTS_PER_ORDER))


@dataclass
class Day:
    """The generated day: its lines (arrival order) and what it must pay."""

    path: Path
    lines: list[bytes]
    truth: dict[str, Any]

    def split(self, live_share: float) -> tuple[list[bytes], list[bytes]]:
        """Preloaded head and live tail."""
        cut = len(self.lines) - round(len(self.lines) * live_share)
        return self.lines[:cut], self.lines[cut:]


def generate_day(options: Options, work: Path) -> Day:
    """``driverpay generate`` into ``work``: events and truth."""
    zones = load_zones(ROOT / "config" / "zones.yaml")
    config = GenConfig(
        seed=options.seed,
        orders=options.orders,
        drivers=max(10, options.orders // ORDERS_PER_DRIVER),
    )
    events, truth = work / "events.jsonl", work / "truth.json"
    generate(config, zones, events, truth)
    return Day(events, read_lines(events), json.loads(truth.read_text()))


def records_in(text: str, job_id: str, source_table: str) -> float:
    """The source operator's numRecordsIn summed over subtasks, from a reporter's text."""
    head = "flink_taskmanager_job_task_operator_numRecordsIn{"
    total = 0.0
    for line in text.splitlines():
        if (
            line.startswith(head)
            and f'job_id="{job_id}"' in line
            and f'operator_name="Source:_{source_table}' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def source_count(job_id: str, source_table: str) -> float:
    """Records the job's source has read so far (every TaskManager's reporter)."""
    total = 0.0
    for url in DEFAULT_PROMETHEUS:
        try:
            total += records_in(httpx.get(url, timeout=5).text, job_id, source_table)
        except httpx.HTTPError:
            continue  # a port with no TaskManager behind it
    return total


def watch_backlog(
    job_id: str,
    source_table: str,
    total: int,
    timeout: float,
    advance: Callable[[float], None],
    observe: Callable[[float], None] | None = None,
    every: float = 0.25,
) -> list[Sample]:
    """Sample the source's count every ``every`` s until it has read ``total`` (or ``timeout``).

    ``advance`` gets each increase (a progress bar), ``observe`` each cumulative count. Each
    sample reads and parses every TaskManager's reporter page, which costs CPU on the machine
    being measured: short runs (the SQL baseline) need 0.25 s, the job's minutes need less.
    """
    started, seen = time.monotonic(), 0.0
    samples: list[Sample] = []
    while time.monotonic() - started < timeout:
        count = source_count(job_id, source_table)
        samples.append((time.monotonic() - started, count))
        if observe is not None:
            observe(count)
        advance(count - seen)
        seen = count
        if count >= total:
            return samples
        if len(samples) % 20 == 0 and stackctl.flink(f"/jobs/{job_id}")["state"] == "FAILED":
            raise RuntimeError(f"job {job_id} failed while reading the backlog")
        time.sleep(every)
    console.print(f"[yellow]backlog not read within {timeout:.0f} s ({seen:,.0f}/{total:,})")
    return samples


class RssSampler(threading.Thread):
    """Resident memory of the TaskManager processes (summed), sampled every second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.start_kb = self.peak_kb = self.total_kb()
        self._halt = threading.Event()

    @staticmethod
    def field_kb(pid: int, name: str) -> int:
        """One ``VmRSS``/``VmHWM``-style line of /proc/<pid>/status, in kB (0 if gone)."""
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(name + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def total_kb(self, name: str = "VmRSS") -> int:
        """Sum over the cluster's TaskManagers."""
        return sum(self.field_kb(pid, name) for pid in stackctl.taskmanager_pids())

    def run(self) -> None:
        """Sample until ``finish``."""
        while not self._halt.wait(1.0):
            self.peak_kb = max(self.peak_kb, self.total_kb())

    def finish(self) -> dict[str, float | None]:
        """Stop sampling; start, peak and lifetime high-water mark in MB."""
        self._halt.set()
        self.join(5)
        hwm = self.total_kb("VmHWM")
        return {"start": self.start_kb / 1024, "peak": self.peak_kb / 1024, "hwm": hwm / 1024}


def free_slots() -> int:
    """Task slots nobody uses (a job someone else left running would hold them)."""
    return int(stackctl.flink("/overview")["slots-available"])


def ensure_slots(parallelism: int, cancel_leftovers: bool) -> None:
    """Free slots for the job (2 at least: the archive writer runs at 2), else refuse to measure.

    A job left running by an earlier locked session holds the slots; with ``cancel_leftovers``
    it is cancelled, as the stack tests' ``fresh_start`` does, and named on the console.
    """
    needed = max(2, parallelism)
    if free_slots() >= needed:
        return
    running = [
        j for j in stackctl.flink("/jobs/overview")["jobs"] if j["state"] not in TERMINAL_STATES
    ]
    if cancel_leftovers:
        for job in running:
            console.print(f"cancelling leftover job {job['jid']} ({job['name']})")
            stackctl.cancel_job(job["jid"])
    what = f"{needed} free task slots (running: {[j['jid'] for j in running]})"
    stackctl.wait_for(lambda: free_slots() >= needed, 90, what)


def checkpoint_stats(job_id: str) -> dict[str, Any]:
    """Completed/failed counts and end-to-end durations (ms) from ``/jobs/<id>/checkpoints``."""
    answer = stackctl.flink(f"/jobs/{job_id}/checkpoints")
    durations = answer.get("summary", {}).get("end_to_end_duration", {})
    interval = stackctl.flink(f"/jobs/{job_id}/checkpoints/config").get("interval")
    return {
        "completed": answer["counts"]["completed"],
        "failed": answer["counts"]["failed"],
        "interval_ms": interval,
        **{f"{k}_ms": durations.get(k) for k in ("avg", "p50", "p99", "max")},
    }


def marker_events(tag: str, index: int, zone: str, at_ms: int) -> list[bytes]:
    """One marker order: ACCEPTED 5 min before ``at_ms``, DELIVERED at it, its own driver."""
    order = f"{MARKER}{tag}-{index:05d}"
    base = {"order_id": order, "driver_id": order, "zone": zone}
    return [
        json.dumps(
            {"event_id": f"{order}-{n}", **base, "type": kind, "event_time": format_ms(ms)},
            separators=(",", ":"),
        ).encode()
        for n, (kind, ms) in enumerate((("ACCEPTED", at_ms - 300_000), ("DELIVERED", at_ms)))
    ]


def event_ms(line: bytes) -> int | None:
    """A line's event time, None for a malformed one."""
    try:
        return parse_rfc3339_ms(json.loads(line)["event_time"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class MarkerPoller(threading.Thread):
    """Polls ``driver_daily_pay`` every 0.1 s for marker drivers not seen yet."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.pending: set[str] = set()
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self._halt = threading.Event()

    def expect(self, driver: str) -> None:
        """Start looking for ``driver``'s row."""
        with self.lock:
            self.pending.add(driver)

    def run(self) -> None:
        """Poll until ``finish``, recording when each marker's row first shows."""
        with stackctl.pg_connect(autocommit=True) as conn:
            while not self._halt.wait(0.1):
                with self.lock:
                    ids = list(self.pending)
                if not ids:
                    continue
                query = "SELECT DISTINCT driver_id FROM driver_daily_pay WHERE driver_id = ANY(%s)"
                found = [r[0] for r in conn.execute(query, (ids,)).fetchall()]
                now = time.time()
                with self.lock:
                    for driver in found:
                        self.pending.discard(driver)
                        self.seen.setdefault(driver, now)

    def finish(self) -> None:
        """Stop polling."""
        self._halt.set()
        self.join(5)


@dataclass
class LivePhase:
    """The day's tail at a fixed rate, one marker order every ``marker_every_s``."""

    tail: list[bytes]
    rate: float
    zone: str
    tag: str
    marker_every_s: float
    appended: dict[str, float] = field(default_factory=dict)

    def _delivered(self, err: object, msg: Any) -> None:
        key = (msg.key() or b"").decode(errors="replace")
        if err is None and key.startswith(MARKER):
            self.appended[key] = max(self.appended.get(key, 0.0), time.time())

    def run(self, poller: MarkerPoller, wait_s: float = 60) -> tuple[list[float], float]:
        """Produce, then wait for every marker; (latencies in s, achieved live rate)."""
        producer = Producer(
            {"bootstrap.servers": stackctl.KAFKA, "enable.idempotence": True, "linger.ms": 5}
        )
        started, sent, markers, clock = time.monotonic(), 0, 0, 0
        while sent < len(self.tail):
            due = min(len(self.tail), int((time.monotonic() - started) * self.rate) + 1)
            for line in self.tail[sent:due]:
                producer.produce(topics.ORDER_EVENTS, value=line, key=order_key(line))
                clock = max(clock, event_ms(line) or 0)
            sent = due
            if clock and time.monotonic() - started >= markers * self.marker_every_s:
                for line in marker_events(self.tag, markers, self.zone, clock):
                    producer.produce(
                        topics.ORDER_EVENTS, line, key=order_key(line), on_delivery=self._delivered
                    )
                poller.expect(f"{MARKER}{self.tag}-{markers:05d}")
                markers += 1
            producer.poll(0.01)
        producer.flush(60)
        achieved = len(self.tail) / (time.monotonic() - started)
        deadline = time.monotonic() + wait_s
        while poller.pending and time.monotonic() < deadline:
            time.sleep(0.2)
        lost = len(poller.pending)
        if lost:
            console.print(f"[yellow]{lost} marker(s) not visible in PostgreSQL after {wait_s} s")
        latencies = [poller.seen[k] - t for k, t in self.appended.items() if k in poller.seen]
        return latencies, achieved


def pg_totals() -> dict[tuple[str, str], tuple[Any, str, int]]:
    """``(total, currency, line_count)`` per driver-day in PostgreSQL, markers left out."""
    with stackctl.pg_connect() as conn:
        found = conn.execute(
            "SELECT driver_id, pay_date::text, total_cents, currency, line_count "
            "FROM driver_daily_pay WHERE driver_id NOT LIKE %s",
            (MARKER + "%",),
        ).fetchall()
    return {(d, day): (from_minor(c, cur), cur, n) for d, day, c, cur, n in found}


def settle(truth: dict[str, Any], timeout: float) -> tuple[bool, int]:
    """Wait until PostgreSQL holds the truth; (equal, driver-days that differ at the end)."""
    expected = daily_from_truth(truth)
    deadline = time.monotonic() + timeout
    while True:
        result = compare(expected, pg_totals())
        if result.ok or time.monotonic() > deadline:
            return result.ok, len(result.mismatched)
        time.sleep(3)


def paid_zone() -> str:
    """A zone that pays DELIVERED, for the markers."""
    zones = load_zones(ROOT / "config" / "zones.yaml")
    return next(name for name in sorted(zones) if EventType.DELIVERED in zones[name].paid_on)


def fresh_topic(lines: Sequence[bytes]) -> None:
    """Empty topics and tables, then preload ``lines`` into ``order-events``."""
    stackctl.reset_topics()
    stackctl.reset_tables()
    produce(lines, stackctl.KAFKA)


def backlog_timeout(events: int) -> float:
    """Generous: 300 events/s plus two minutes of start-up."""
    return events / 300 + 120


class Bench:
    """One bench call: its options, progress bar and output folder."""

    def __init__(self, options: Options, progress: Progress) -> None:
        self.options = options
        self.progress = progress
        self.tag = datetime.now(UTC).strftime("%H%M%S")

    def task(self, what: str, total: float | None = None) -> TaskID:
        """A line on the progress display."""
        return self.progress.add_task(what, total=total)

    def kafka_run(self, day: Day, parallelism: int) -> KafkaRun:
        """The real job at ``parallelism`` over the preloaded head, then the live tail."""
        head, tail = day.split(self.options.live_share)
        prep = self.task(f"p={parallelism}: reset, preload {len(head):,} events")
        if self.options.spread:
            stackctl.scale_taskmanagers(parallelism)
        ensure_slots(parallelism, self.options.cancel_leftovers)
        fresh_topic(head)
        rss = RssSampler()
        rss.start()
        archive = self.options.out / "archive" / self.tag
        env = {
            PARALLELISM_ENV: str(parallelism),
            ARCHIVE_ENV: (archive / f"p{parallelism}").resolve().as_uri(),
        }
        job = stackctl.submit(f"bench-{time.time_ns()}", env=env)
        self.progress.update(prep, completed=1, total=1)
        try:
            return self._measure(day, job, parallelism, head, tail, rss)
        finally:
            stackctl.cancel_job(job)
            rss.finish()

    def _measure(
        self,
        day: Day,
        job: str,
        parallelism: int,
        head: list[bytes],
        tail: list[bytes],
        rss: RssSampler,
    ) -> KafkaRun:
        read = self.task(f"p={parallelism}: job {job[:8]} reads the backlog", len(head))
        cpu = CpuWindow(self.options.warm_from * len(head), WARM_TO * len(head))
        prefix = self.options.out / f"profile-{self.tag}-p{parallelism}"
        profile = ProfileWindow(
            self.options.warm_from * len(head), PROFILE_SECONDS, prefix, stackctl.taskmanager_pids
        )

        def observe(count: float) -> None:
            cpu.observe(count)
            if self.options.profile:
                profile.observe(count)

        with HostSpeed() as speed:
            samples = watch_backlog(
                job,
                JOB_SOURCE,
                len(head),
                backlog_timeout(len(head)),
                self._advance(read),
                observe,
                every=JOB_POLL_S,
            )
        profiles = profile.finish()
        rate = steady_rate(samples, len(head))
        warm = steady_rate(samples, len(head), low=self.options.warm_from, high=WARM_TO)
        time.sleep(5)  # let the stages behind the source drain their buffers
        sustained = warm or rate  # the live phase runs on warm TaskManagers
        live_rate = max(
            50.0, (sustained.events_per_s if sustained else 500.0) * self.options.live_load
        )
        live = self.task(f"p={parallelism}: live tail at {live_rate:,.0f}/s + markers")
        phase = LivePhase(
            tail, live_rate, paid_zone(), f"{self.tag}p{parallelism}", self.options.marker_every_s
        )
        poller = MarkerPoller()
        poller.start()
        try:
            latencies, achieved = phase.run(poller)
        finally:
            poller.finish()
        self.progress.update(live, completed=1, total=1)
        check = self.task(f"p={parallelism}: settled totals == truth")
        correct, mismatched = settle(day.truth, timeout=180)
        self.progress.update(check, completed=1, total=1)
        return KafkaRun(
            parallelism,
            len(head),
            rate,
            latency_summary(latencies),
            round(achieved, 1),
            checkpoint_stats(job),
            {k: round(v, 1) if v is not None else None for k, v in rss.finish().items()},
            correct,
            mismatched,
            job,
            warm,
            cpu.result(),
            profiles,
            speed.result(),
        )

    def _advance(self, task: TaskID) -> Callable[[float], None]:
        return lambda n: self.progress.advance(task, n)

    def baseline_run(self, day: Day, parallelism: int) -> BaselineRun:
        """The pure SQL job at ``parallelism`` over the whole day in ``order-events``."""
        return self._over_topic(
            day, parallelism, "SQL", "baseline", lambda group: submit_baseline(group, parallelism)
        )

    def floor_run(self, day: Day, parallelism: int, shape: str) -> BaselineRun:
        """The Python floor ``shape`` (``jobs.bench_floor``) at ``parallelism`` over the topic.

        The same source and dedup as the baseline, then the shape's Python stages doing no
        work into a blackhole: the most the Kafka job could reach with that many Python stages.
        """
        if self.options.spread:
            stackctl.scale_taskmanagers(parallelism)
        return self._over_topic(
            day,
            parallelism,
            f"floor {shape}",
            f"floor-{shape}",
            lambda group: submit_floor(shape, group, parallelism),
        )

    def _over_topic(
        self, day: Day, parallelism: int, what: str, name: str, submit: Callable[[str], str]
    ) -> BaselineRun:
        from jobs.bench_sql import SOURCE_TABLE

        prep = self.task(f"{what} p={parallelism}: reset, preload {len(day.lines):,} events")
        ensure_slots(parallelism, self.options.cancel_leftovers)
        fresh_topic(day.lines)
        job = submit(f"bench-{name}-{time.time_ns()}")
        self.progress.update(prep, completed=1, total=1)
        try:
            read = self.task(f"{what} p={parallelism}: job {job[:8]} reads", len(day.lines))
            with HostSpeed() as speed:
                samples = watch_backlog(
                    job,
                    SOURCE_TABLE,
                    len(day.lines),
                    len(day.lines) / 2000 + 120,
                    self._advance(read),
                )
        finally:
            stackctl.cancel_job(job)
        rate = steady_rate(samples, len(day.lines))
        return BaselineRun(parallelism, len(day.lines), rate, job, name, speed.result())

    def embedded_runs(self, day: Day) -> list[EmbeddedRun]:
        """The runs on the events file, each at parallelism 1 and measured on its own.

        ``driverpay run`` and the SQL baseline on the embedded mini-cluster, the pure core
        without Flink, and the Python floors (``jobs.bench_floor``).
        """
        from jobs.bench_floor import SHAPES  # imports pyflink (no JVM): only when used

        runs: list[tuple[str, Callable[..., EmbeddedRun], tuple[Any, ...]]] = [
            (
                "driverpay run -p 1",
                embedded_job,
                (day.path, self.options.out / "embedded" / self.tag),
            ),
            ("SQL baseline -p 1", embedded_baseline, (day.path,)),
            ("the pure core alone, no Flink", core_replay, (day.path,)),
            *((f"Python floor, {s} -p 1", embedded_floor, (day.path, s)) for s in SHAPES),
        ]
        done = []
        for what, step, args in runs:
            task = self.task(f"embedded: {what}")
            with HostSpeed() as speed:
                run = attempt(step, *args)  # one failure leaves the others' figures
            done.append(replace(run, host=speed.result()) if run is not None else None)
            self.progress.update(task, completed=1, total=1)
        return [run for run in done if run is not None]


def submit_baseline(group_id: str, parallelism: int) -> str:
    """``flink run -py jobs/bench_sql.py`` (detached), like scripts/stack/submit.sh."""
    from jobs.bench_sql import JOB_NAME as BASELINE_NAME

    return submit_script("jobs/bench_sql.py", BASELINE_NAME, group_id, parallelism)


def submit_floor(shape: str, group_id: str, parallelism: int) -> str:
    """``flink run -py jobs/bench_floor.py`` (detached): the Python floor ``shape`` over Kafka."""
    from jobs.bench_floor import JOB_NAME as FLOOR_NAME

    name = f"{FLOOR_NAME}-{shape}"
    env = {"DRIVERPAY_FLOOR_SHAPE": shape}
    return submit_script("jobs/bench_floor.py", name, group_id, parallelism, env)


def submit_script(
    script: str, name: str, group_id: str, parallelism: int, extra: dict[str, str] | None = None
) -> str:
    """``flink run --detached -py script`` reading ``order-events`` as ``group_id``; its job id."""
    python = Path(sys.executable)
    command = (
        "source scripts/stack/common.sh && source scripts/stack/flink-env.sh && "
        f'exec "$FLINK_BIN/flink" run --detached -Dpipeline.name={name} '
        f'-pyclientexec "{python}" '
        f'-pyexec "{python}" -py {script}'
    )
    env = {
        **os.environ,
        "PYFLINK_CLIENT_EXECUTABLE": str(python),
        GROUP_ID_ENV: group_id,
        PARALLELISM_ENV: str(parallelism),
        KAFKA_ENV: stackctl.KAFKA,
        **(extra or {}),
    }
    out = subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=True,
    )
    try:
        return stackctl.job_id_from(out.stdout, out.stderr)
    except AssertionError:  # no "JobID" line: the newest running job of that name
        return newest_job(name)


def newest_job(name: str) -> str:
    """The most recently started RUNNING job called ``name``."""
    jobs = [j for j in stackctl.flink("/jobs/overview")["jobs"] if j["name"] == name]
    running = sorted((j for j in jobs if j["state"] == "RUNNING"), key=lambda j: j["start-time"])
    if not running:
        raise RuntimeError(f"no running {name} job after submission")
    return str(running[-1]["jid"])


def embedded_job(events: Path, output: Path) -> EmbeddedRun:
    """``driverpay run`` over the file; its own count and wall time (start-up included)."""
    command = [str(Path(sys.executable).with_name("driverpay")), "run", "-i", str(events)]
    out = subprocess.run(
        [*command, "-o", str(output), "--parallelism", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
        check=True,
    )
    found = re.search(r"(\d+) events in ([\d.]+) s", out.stderr + out.stdout)
    if found is None:
        raise RuntimeError(f"no throughput line from driverpay run:\n{out.stderr[-2000:]}")
    return EmbeddedRun("job", int(found[1]), float(found[2]))


def embedded_baseline(events: Path) -> EmbeddedRun:
    """``python -m jobs.bench_sql FILE 1``: the SQL baseline over the file, embedded."""
    return _embedded_json("baseline", [sys.executable, "-m", "jobs.bench_sql", str(events), "1"])


def core_replay(events: Path) -> EmbeddedRun:
    """The pure core over the file in this process (``driverpay.bench_core``)."""
    result = replay(events, load_zones(ROOT / "config" / "zones.yaml"))
    return EmbeddedRun("core", result["events"], result["seconds"])


def embedded_floor(events: Path, shape: str) -> EmbeddedRun:
    """``python -m jobs.bench_floor FILE SHAPE``: the job's Python stages doing no work."""
    return _embedded_json(
        "floor-" + shape, [sys.executable, "-m", "jobs.bench_floor", str(events), shape]
    )


def _embedded_json(name: str, command: list[str]) -> EmbeddedRun:
    """Run ``command``; its last JSON line is ``{"events": n, "seconds": s}``."""
    out = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=3600, check=True
    )
    last = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    result = json.loads(last)
    return EmbeddedRun(name, int(result["events"]), float(result["seconds"]))


def machine() -> dict[str, Any]:
    """Where the figures come from."""
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(int(mem) / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def attempt(step: Callable[..., T], *args: Any) -> T | None:
    """One measurement; a failure is reported and leaves it out, the others still count."""
    try:
        return step(*args)
    except Exception as exc:  # a broken run must not lose the figures of the others
        console.print(f"[red]{step.__name__}{args[1:]} failed: {type(exc).__name__}: {exc}")
        return None


def run_bench(options: Options) -> dict[str, Any]:
    """Every measurement of one call; the report (also written to ``options.out``)."""
    options.out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    with Progress(console=console) as progress:
        bench = Bench(options, progress)
        gen = progress.add_task(f"generating ~{options.events:,} events", total=1)
        day = generate_day(options, options.out)
        progress.update(gen, completed=1)
        kafka = [k for p in options.parallelisms if (k := attempt(bench.kafka_run, day, p))]
        runs = options.parallelisms if options.baseline else ()
        base = [b for p in runs if (b := attempt(bench.baseline_run, day, p))]
        top = max(options.parallelisms)
        floors = [f for s in options.kafka_floors if (f := attempt(bench.floor_run, day, top, s))]
        embedded = bench.embedded_runs(day) if options.embedded else []
    meta = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {
            "events": len(day.lines),
            "orders": options.orders,
            "seed": options.seed,
            "live_share": options.live_share,
            "warm_from": options.warm_from,
            "live_load": options.live_load,
            "marker_every_s": options.marker_every_s,
            "taskmanagers": "one per subtask" if options.spread else "as running",
            "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        },
    }
    interval = next((k.checkpoints.get("interval_ms") for k in kafka), None) or 10_000
    report = build_report(meta, kafka, base, embedded, float(interval), floors)
    write_report(report, options.out, "bench", started, markdown(report))
    return report


def show(report: dict[str, Any]) -> None:
    """The figures as a table, then the targets."""
    title = f"driverpay bench {report['date']} ({report['machine']['cpus']} cores)"
    out = print_table(title, COLUMNS, rows(report), 160)
    for line in cpu_lines(report):
        out.print(line)
    for run in report["kafka"]:
        for svg, outcome in (run.get("profiles") or {}).items():
            out.print(f"flame graph, p={run['parallelism']}: {svg}: {outcome}")
    for name, goal in report["targets"].items():
        out.print(f"{name}: {goal['measured']} vs target {goal['target']}: {VERDICT[goal['met']]}")


app = typer.Typer(add_completion=False)


@app.command()
def main(
    events: Annotated[int, typer.Option(min=100, help="events to generate (~)")] = DEFAULT_EVENTS,
    quick: Annotated[bool, typer.Option(help=f"smoke run: {QUICK_EVENTS:,} events")] = False,
    parallelism: Annotated[list[int] | None, typer.Option(min=1, max=4)] = None,
    seed: int = 7,
    output: Annotated[Path, typer.Option("--output", "-o", file_okay=False)] = Path(".out/bench"),
    live_share: Annotated[float, typer.Option(min=0.01, max=0.5)] = 0.15,
    warm_from: Annotated[
        float, typer.Option(min=0.05, max=0.9, help="the warm window starts here (of the backlog)")
    ] = WARM_FROM,
    live_load: Annotated[float, typer.Option(min=0.05, max=1.0)] = 0.5,
    marker_every: Annotated[float, typer.Option(min=0.05, help="seconds between markers")] = 0.5,
    embedded: Annotated[bool, typer.Option(help="also the embedded runs")] = True,
    baseline: Annotated[bool, typer.Option(help="also the SQL baseline")] = True,
    kafka_floors: Annotated[
        bool,
        typer.Option(help="also the Python floors over Kafka at the largest parallelism"),
    ] = True,
    cancel_leftovers: Annotated[
        bool, typer.Option(help="cancel jobs an earlier session left holding the slots")
    ] = False,
    spread: Annotated[
        bool,
        typer.Option(
            help="scale to one TaskManager per subtask before each Kafka run (thread mode: "
            "a TaskManager's Python operators share one interpreter)"
        ),
    ] = True,
    profile: Annotated[
        bool,
        typer.Option(
            help=f"py-spy flame graphs of each TaskManager for {PROFILE_SECONDS} s from the warm "
            "window's start (OUTPUT/profile-*.svg; needs ptrace rights over the JVMs)"
        ),
    ] = False,
) -> None:
    """Benchmark the deployed job against a pure Flink SQL baseline (README, "Benchmark")."""
    options = Options(
        events=QUICK_EVENTS if quick else events,
        parallelisms=tuple(parallelism or (1, 2)),
        seed=seed,
        out=output,
        live_share=live_share,
        warm_from=warm_from,
        live_load=live_load,
        marker_every_s=marker_every,
        embedded=embedded,
        baseline=baseline,
        cancel_leftovers=cancel_leftovers,
        spread=spread,
        kafka_floors=KAFKA_FLOORS if kafka_floors else (),
        profile=profile,
    )
    stackctl.flink("/overview")  # fail fast, before generating, if the stack is down
    report = run_bench(options)
    show(report)


if __name__ == "__main__":
    app()
