"""``driverpay status``: one screen of the running job's health, from the services themselves.

Collection and judgement are separate on purpose. ``collect`` reads Flink's REST API, the Flink
Prometheus reporter endpoints, Kafka (committed offsets of the job's consumer group against the
high watermarks) and PostgreSQL (as the read-only role), twice, ``window`` seconds apart, so
counters and lag have rates. It returns a ``Snapshot`` of plain values. ``evaluate`` is a pure
function from a snapshot and ``Thresholds`` to ``Finding``s, so every health rule is unit-tested
with recorded answers (tests/unit/test_status.py) and the stack test only checks the plumbing.

Exit codes of the command: 0 healthy, 1 unhealthy, 2 bad usage or a service unreachable.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from driverpay import topics
from jobs.endpoints import DEFAULT_READ_DSN
from jobs.settings import (
    DAILY_STATE,
    DEFAULT_GROUP_ID,
    DEFAULT_KAFKA,
    GROUP_ID_ENV,
    KAFKA_ENV,
    ORDER_STATE,
)

FLINK_REST_ENV = "DRIVERPAY_FLINK_REST"
DEFAULT_FLINK_REST = "http://127.0.0.1:8081"
# The reporter's port range (scripts/stack/flink-env.sh): the JobManager first, then each
# TaskManager. Ports nobody listens on are skipped; at least one must answer.
DEFAULT_PROMETHEUS = tuple(f"http://127.0.0.1:{port}/metrics" for port in range(9249, 9253))
DEFAULT_RECONCILE_DIR = Path(".run/reconcile")
JOB_NAME = "driverpay"  # pipeline.name set by scripts/stack/submit.sh
INPUT_TOPICS = (topics.ORDER_EVENTS, topics.PAY_CORRECTIONS)  # both read with the job's group id
HTTP_TIMEOUT_S = 5.0
METRIC_PREFIX = "flink_taskmanager_job_task_operator_driverpay_"
# State held, from RocksDB's own key estimate of each keyed value state (its column family):
# unlike a counter kept by the job, it is right after a restart or an upgrade from a savepoint.
STATE_GAUGES = {
    f"flink_taskmanager_job_task_operator_{state}_rocksdb_estimate_num_keys": name
    for state, name in ((ORDER_STATE, "open_orders"), (DAILY_STATE, "open_driver_days"))
}
# The counters the README's alert table names, in the order a person reads them.
KEY_COUNTERS = (
    "events_valid",
    "events_malformed",
    "duplicates",
    "duplicate_lines",
    "late_events",
    "quarantined",
    "poison_records",
    "adjustments",
    "open_orders",
    "open_driver_days",
)
TERMINAL_STATES = frozenset({"CANCELED", "FINISHED", "FAILED"})


class UnreachableError(RuntimeError):
    """A service did not answer in time: the status is unknown, not unhealthy (exit 2)."""


@dataclass(frozen=True)
class Thresholds:
    """When a measured value makes the job unhealthy; defaults are documented in the README."""

    checkpoint_intervals: float = 3.0  # last checkpoint older than this many intervals
    max_lag: int = 10_000  # records behind, summed over partitions
    max_lag_growth: float = 200.0  # records/s the lag grew by over the sampling window
    max_skew: float = 4.0  # busiest subtask's records-in over the median of the others
    skew_min_records: int = 1_000  # vertices that saw fewer records are not judged


@dataclass(frozen=True)
class JobView:
    """What Flink's REST API says about the job."""

    job_id: str
    name: str
    state: str
    uptime_s: float  # since the job last entered RUNNING (a restart resets it)
    restarts: int
    checkpoint_interval_s: float
    last_checkpoint_age_s: float | None  # None: no checkpoint completed yet
    last_checkpoint_duration_ms: int | None
    checkpoints_completed: int
    checkpoints_failed: int


@dataclass(frozen=True)
class PartitionLag:
    """One input partition: the group's committed offset against the high watermark."""

    topic: str
    partition: int
    committed: int | None  # None: the group has committed nothing here yet
    high: int
    lag: int
    growth_per_s: float | None = None  # lag change over the window; None without a window


@dataclass(frozen=True)
class VertexLoad:
    """Records in per subtask of one job vertex, and how far the busiest is above the rest."""

    name: str
    records_in: tuple[int, ...]
    skew: float | None  # max / median of the other subtasks; None for parallelism 1


@dataclass(frozen=True)
class CounterView:
    """A ``driverpay.*`` metric summed over every operator and subtask of the job."""

    name: str
    total: float
    rate_per_s: float | None = None


@dataclass(frozen=True)
class ReconcileView:
    """The latest reconcile of one date (and zone), from its ``reconcile-summary.json``."""

    date: str
    zone: str | None
    run_id: str
    drivers_affected: int
    delta_minor_by_currency: dict[str, int]
    corrections_applied: int


@dataclass(frozen=True)
class ReadModel:
    """The PostgreSQL read path, as the API's read-only role sees it."""

    driver_days: int
    last_write_age_s: float | None


@dataclass
class Snapshot:
    """Everything ``evaluate`` judges: plain values, recorded or collected."""

    job: JobView | None
    lags: list[PartitionLag] = field(default_factory=list)
    vertices: list[VertexLoad] = field(default_factory=list)
    counters: dict[str, CounterView] = field(default_factory=dict)
    reconciles: list[ReconcileView] = field(default_factory=list)
    read_model: ReadModel | None = None
    window_s: float = 0.0


@dataclass(frozen=True)
class Finding:
    """One broken rule: which, and what was measured against what."""

    rule: str
    message: str


# --- judgement (pure) -------------------------------------------------------------------------


def evaluate(snapshot: Snapshot, limits: Thresholds) -> list[Finding]:
    """Every rule the snapshot breaks; an empty list means healthy."""
    job = snapshot.job
    if job is None:
        return [Finding("job", f"no Flink job named {JOB_NAME!r}")]
    findings = [*_job_rules(job, limits), *_lag_rules(snapshot.lags, limits)]
    findings += _skew_rules(snapshot.vertices, limits)
    poison = snapshot.counters.get("poison_records")
    if poison is not None and poison.total > 0:
        findings.append(
            Finding("poison", f"{poison.total:.0f} poison records: a bug reached by input (DLQ)")
        )
    for rec in snapshot.reconciles:
        if rec.drivers_affected:
            where = rec.date + (f" zone {rec.zone}" if rec.zone else "")
            deltas = ", ".join(
                f"{v:+d} {c}" for c, v in sorted(rec.delta_minor_by_currency.items())
            )
            findings.append(
                Finding(
                    "reconcile",
                    f"{where}: {rec.drivers_affected} drivers paid differently from the "
                    f"recompute ({deltas} minor units) in {rec.run_id}",
                )
            )
    return findings


def _job_rules(job: JobView, limits: Thresholds) -> list[Finding]:
    if job.state != "RUNNING":
        return [Finding("job", f"job {job.job_id} is {job.state}, not RUNNING")]
    allowed = limits.checkpoint_intervals * job.checkpoint_interval_s
    # Before the first checkpoint the time since RUNNING stands in for the checkpoint's age.
    age = job.last_checkpoint_age_s if job.last_checkpoint_age_s is not None else job.uptime_s
    if age > allowed:
        what = "last checkpoint" if job.last_checkpoint_age_s is not None else "no checkpoint, up"
        return [Finding("checkpoint", f"{what} {age:.0f} s ago > {allowed:.0f} s allowed")]
    return []


def _lag_rules(lags: Sequence[PartitionLag], limits: Thresholds) -> list[Finding]:
    findings = []
    total = sum(p.lag for p in lags)
    if total > limits.max_lag:
        findings.append(Finding("lag", f"consumer lag {total} records > {limits.max_lag}"))
    growths = [p.growth_per_s for p in lags if p.growth_per_s is not None]
    if growths and sum(growths) > limits.max_lag_growth:
        findings.append(
            Finding(
                "lag-growth",
                f"consumer lag growing by {sum(growths):.0f} records/s > {limits.max_lag_growth:g}",
            )
        )
    return findings


def _skew_rules(vertices: Sequence[VertexLoad], limits: Thresholds) -> list[Finding]:
    return [
        Finding(
            "skew",
            f"{v.name[:60]}: busiest subtask has {v.skew:.1f}x the records of the others "
            f"({', '.join(map(str, v.records_in))}) > {limits.max_skew:g}x",
        )
        for v in vertices
        if v.skew is not None
        and sum(v.records_in) >= limits.skew_min_records
        and v.skew > limits.max_skew
    ]


def skew(records_in: Sequence[int]) -> float | None:
    """The busiest subtask's records over the median of the other subtasks.

    Not max/median of all: with parallelism 2 (this job's default) the median is the mean of
    both, so max/median can never exceed 2 however hot one subtask is. Against the rest, a
    subtask doing everything while its peers idle is infinitely skewed, as it should be.
    """
    if len(records_in) < 2:
        return None
    ordered = sorted(records_in)
    busiest, rest = ordered[-1], ordered[:-1]
    median = statistics.median(rest)
    if median == 0:
        return float("inf") if busiest > 0 else 1.0
    return busiest / median


# --- reading recorded or live answers (pure) ---------------------------------------------------


def pick_job(overview: Mapping[str, Any], job_id: str | None = None) -> str | None:
    """The job to report: ``job_id`` if given, else the newest live ``driverpay`` job.

    A cancelled or failed job is reported when no live one exists, so ``status`` right after a
    cancel says CANCELED (unhealthy) instead of "no job".
    """
    jobs = overview.get("jobs", [])
    if job_id is not None:
        return job_id if any(j["jid"] == job_id for j in jobs) else None
    ours = sorted(
        (j for j in jobs if j.get("name") == JOB_NAME),
        key=lambda j: (j["state"] not in TERMINAL_STATES, j.get("start-time", 0)),
    )
    return ours[-1]["jid"] if ours else None


def job_view(
    job: Mapping[str, Any],
    checkpoints: Mapping[str, Any],
    checkpoint_config: Mapping[str, Any],
    restarts: int,
) -> JobView:
    """The job's state, uptime and checkpoints, with ages on the JobManager's own clock."""
    now = int(job["now"])
    running_since = int(job.get("timestamps", {}).get("RUNNING") or job["start-time"])
    latest = (checkpoints.get("latest") or {}).get("completed")
    counts = checkpoints.get("counts", {})
    return JobView(
        job_id=job["jid"],
        name=job["name"],
        state=job["state"],
        uptime_s=max(0, now - running_since) / 1000,
        restarts=restarts,
        checkpoint_interval_s=int(checkpoint_config["interval"]) / 1000,
        last_checkpoint_age_s=(now - int(latest["latest_ack_timestamp"])) / 1000
        if latest
        else None,
        last_checkpoint_duration_ms=int(latest["end_to_end_duration"]) if latest else None,
        checkpoints_completed=int(counts.get("completed", 0)),
        checkpoints_failed=int(counts.get("failed", 0)),
    )


def vertex_loads(vertices: Iterable[Mapping[str, Any]]) -> list[VertexLoad]:
    """Records in per subtask of each vertex (``/jobs/<id>/vertices/<vid>`` answers)."""
    loads = []
    for vertex in vertices:
        records = tuple(int(s["metrics"]["read-records"]) for s in vertex["subtasks"])
        loads.append(VertexLoad(vertex["name"], records, skew(records)))
    return loads


def driverpay_totals(texts: Iterable[str], job_id: str) -> dict[str, float]:
    """Each ``driverpay.*`` metric of ``job_id``, and the state held, summed over subtasks.

    The Flink reporter exports counters as gauges named
    ``flink_taskmanager_job_task_operator_driverpay_<name>``; a counter restarts at zero with
    its task, so totals count since the job's last (re)start. ``open_orders`` and
    ``open_driver_days`` are RocksDB's key estimates of the order and driver-day states
    (``STATE_GAUGES``): what the state holds, restarts included.
    """
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[str, float] = {}
    for text in texts:
        ours = "\n".join(line for line in text.splitlines() if _ours(line))
        for family in text_string_to_metric_families(ours + "\n"):
            for sample in family.samples:
                if sample.labels.get("job_id") != job_id:
                    continue
                if sample.name.startswith(METRIC_PREFIX):
                    name = sample.name.removeprefix(METRIC_PREFIX)
                elif sample.name in STATE_GAUGES:
                    name = STATE_GAUGES[sample.name]
                else:
                    continue
                totals[name] = totals.get(name, 0.0) + sample.value
    return totals


def _ours(line: str) -> bool:
    """A line of a ``driverpay.*`` metric or of a state gauge (the pages hold many more)."""
    return "_driverpay_" in line or any(gauge in line for gauge in STATE_GAUGES)


def counter_views(
    before: Mapping[str, float] | None, after: Mapping[str, float], window_s: float
) -> dict[str, CounterView]:
    """Totals of the second sample, with per-second rates against the first when there is one."""
    views = {}
    for name in sorted(set(after) | set(KEY_COUNTERS)):
        total = after.get(name, 0.0)
        rate = None
        if before is not None and window_s > 0 and name in before:
            rate = (total - before[name]) / window_s
        views[name] = CounterView(name, total, rate)
    return views


def partition_lags(
    committed: Mapping[tuple[str, int], int | None],
    low: Mapping[tuple[str, int], int],
    high: Mapping[tuple[str, int], int],
    earlier: Sequence[PartitionLag] = (),
    window_s: float = 0.0,
) -> list[PartitionLag]:
    """Lag per partition; a partition the group never committed lags from its first offset."""
    before = {(p.topic, p.partition): p.lag for p in earlier}
    lags = []
    for key in sorted(high):
        done = committed.get(key)
        lag = max(0, high[key] - (done if done is not None else low.get(key, 0)))
        growth = (lag - before[key]) / window_s if key in before and window_s > 0 else None
        lags.append(PartitionLag(key[0], key[1], done, high[key], lag, growth))
    return lags


def read_reconciles(folder: Path) -> list[ReconcileView]:
    """The latest reconcile of each date (and zone): one run folder each, newest first.

    ``driverpay reconcile`` keeps one folder per date (``<date>[-<zone>]``) under
    ``.run/reconcile`` and overwrites its ``reconcile-summary.json`` on every run, so a delta
    stays reported until a later reconcile of that day finds none.
    """
    views = []
    for path in folder.glob("*/reconcile-summary.json"):
        try:
            summary = json.loads(path.read_text())
            views.append(
                ReconcileView(
                    date=str(summary["date"]),
                    zone=summary.get("zone"),
                    run_id=str(summary["run_id"]),
                    drivers_affected=int(summary["drivers_affected"]),
                    delta_minor_by_currency={
                        str(k): int(v) for k, v in summary["delta_minor_by_currency"].items()
                    },
                    corrections_applied=int(summary.get("corrections_applied", 0)),
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a half-written or foreign file is not a reconcile result
    return sorted(views, key=lambda v: (v.date, v.zone or ""), reverse=True)


def to_json(snapshot: Snapshot, findings: Sequence[Finding]) -> dict[str, Any]:
    """The ``--json`` object: ``healthy``, ``findings`` and every measured value."""
    body = asdict(snapshot)
    body["counters"] = {
        k: {"total": v.total, "rate_per_s": v.rate_per_s} for k, v in snapshot.counters.items()
    }
    for vertex in body["vertices"]:
        if vertex["skew"] == float("inf"):
            vertex["skew"] = None if not sum(vertex["records_in"]) else "inf"
    return {"healthy": not findings, "findings": [asdict(f) for f in findings], **body}


def textfile(snapshot: Snapshot, findings: Sequence[Finding]) -> str:
    """Prometheus textfile (node_exporter's textfile collector) of what Flink does not export.

    Consumer lag as the group committed it, and each date's last reconcile, under the metric
    names ``driverpay reconcile`` writes into its own run folder, so one alert rule serves both.
    """
    lines = [
        "# HELP driverpay_status_healthy 1 if driverpay status found nothing wrong.",
        "# TYPE driverpay_status_healthy gauge",
        f"driverpay_status_healthy {0 if findings else 1}",
        "# HELP driverpay_consumer_lag Records between the group's committed offset and the end.",
        "# TYPE driverpay_consumer_lag gauge",
    ]
    lines += [
        f'driverpay_consumer_lag{{topic="{p.topic}",partition="{p.partition}"}} {p.lag}'
        for p in snapshot.lags
    ]
    lines += [
        "# HELP driverpay_reconcile_drivers_affected Drivers whose streamed pay differs.",
        "# TYPE driverpay_reconcile_drivers_affected gauge",
    ]
    lines += [
        f'driverpay_reconcile_drivers_affected{{date="{r.date}",zone="{r.zone or "all"}"}} '
        f"{r.drivers_affected}"
        for r in snapshot.reconciles
    ]
    return "\n".join(lines) + "\n"


# --- collection (I/O) --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    """Where the status is read from (environment defaults, docs/contracts.md §9)."""

    flink_rest: str = DEFAULT_FLINK_REST
    prometheus: tuple[str, ...] = DEFAULT_PROMETHEUS
    kafka: str = DEFAULT_KAFKA
    group_id: str = DEFAULT_GROUP_ID
    read_dsn: str = DEFAULT_READ_DSN
    reconcile_dir: Path = DEFAULT_RECONCILE_DIR
    job_id: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Sources:
        """The same variables the job and the API read, so status looks where they work."""
        from driverpay.api import READ_DSN_ENV

        env = os.environ
        base = cls(
            flink_rest=env.get(FLINK_REST_ENV, DEFAULT_FLINK_REST),
            kafka=env.get(KAFKA_ENV, DEFAULT_KAFKA),
            group_id=env.get(GROUP_ID_ENV, DEFAULT_GROUP_ID),
            read_dsn=env.get(READ_DSN_ENV) or DEFAULT_READ_DSN,
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def collect(sources: Sources, window_s: float) -> Snapshot:
    """Sample Kafka and the counters, wait ``window_s``, sample it all (UnreachableError)."""
    import httpx

    with httpx.Client(base_url=sources.flink_rest, timeout=HTTP_TIMEOUT_S) as rest:
        overview = _get_json(rest, "/jobs/overview")
        job_id = pick_job(overview, sources.job_id)
        if job_id is None:
            return Snapshot(job=None, reconciles=read_reconciles(sources.reconcile_dir))
        first_lags = kafka_lags(sources) if window_s > 0 else []
        first_counts = prometheus_totals(sources.prometheus, job_id) if window_s > 0 else None
        started = time.monotonic()
        time.sleep(window_s)
        lags = kafka_lags(sources, first_lags, window_s)
        counts = prometheus_totals(sources.prometheus, job_id)
        elapsed = time.monotonic() - started
        job = _get_json(rest, f"/jobs/{job_id}")
        vertices = [_get_json(rest, f"/jobs/{job_id}/vertices/{v['id']}") for v in job["vertices"]]
        view = job_view(
            job,
            _get_json(rest, f"/jobs/{job_id}/checkpoints"),
            _get_json(rest, f"/jobs/{job_id}/checkpoints/config"),
            _restarts(rest, job_id),
        )
    return Snapshot(
        job=view,
        lags=[*lags],
        vertices=vertex_loads(vertices),
        counters=counter_views(first_counts, counts, elapsed if first_counts else 0.0),
        reconciles=read_reconciles(sources.reconcile_dir),
        read_model=read_model(sources.read_dsn),
        window_s=round(elapsed, 3) if window_s > 0 else 0.0,
    )


def _get_json(client: Any, path: str) -> Any:
    import httpx

    try:
        response = client.get(path)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise UnreachableError(f"Flink REST {client.base_url}{path}: {exc}") from None
    try:
        return response.json()
    except ValueError:  # e.g. a proxy's login page answering 200
        raise UnreachableError(f"Flink REST {client.base_url}{path}: not a JSON answer") from None


def _restarts(client: Any, job_id: str) -> int:
    """``numRestarts`` through the REST metrics endpoint (no reporter needed)."""
    for metric in _get_json(client, f"/jobs/{job_id}/metrics?get=numRestarts"):
        if metric.get("id") == "numRestarts":
            return int(float(metric["value"]))
    return 0


def prometheus_totals(urls: Sequence[str], job_id: str) -> dict[str, float]:
    """``driverpay.*`` totals over every reporter endpoint that answers (at least one must)."""
    import httpx

    texts, errors = [], []
    for url in urls:
        try:
            response = httpx.get(url, timeout=HTTP_TIMEOUT_S)
            response.raise_for_status()
            texts.append(response.text)
        except httpx.HTTPError as exc:
            errors.append(f"{url}: {exc}")
    if not texts:
        raise UnreachableError(f"no Prometheus endpoint answered ({'; '.join(errors)})")
    return driverpay_totals(texts, job_id)


def kafka_lags(
    sources: Sources, earlier: Sequence[PartitionLag] = (), window_s: float = 0.0
) -> list[PartitionLag]:
    """Committed offsets of the job's group against each input partition's watermarks."""
    from confluent_kafka import KafkaException, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    from driverpay.group_offsets import committed_offsets

    admin = AdminClient({"bootstrap.servers": sources.kafka, "log_level": 0})
    try:
        committed = committed_offsets(sources.kafka, sources.group_id, INPUT_TOPICS, HTTP_TIMEOUT_S)
        if not committed:
            return []
        parts = [TopicPartition(t, p) for t, p in committed]
        low = _offsets(admin, parts, OffsetSpec.earliest())
        high = _offsets(admin, parts, OffsetSpec.latest())
    except KafkaException as exc:
        raise UnreachableError(f"Kafka {sources.kafka}: {exc}") from None
    return partition_lags(committed, low, high, earlier, window_s)


def _offsets(admin: Any, parts: Sequence[Any], spec: Any) -> dict[tuple[str, int], int]:
    answers = admin.list_offsets(dict.fromkeys(parts, spec), request_timeout=HTTP_TIMEOUT_S)
    return {(tp.topic, tp.partition): info.result().offset for tp, info in answers.items()}


def read_model(dsn: str) -> ReadModel:
    """Driver-days served and how long ago the job last wrote one (read-only role)."""
    import psycopg

    from driverpay.secrets import ensure_pgpassfile_env

    ensure_pgpassfile_env()
    try:
        with psycopg.connect(dsn, connect_timeout=int(HTTP_TIMEOUT_S)) as conn:
            row = conn.execute(
                "SELECT count(*), extract(epoch FROM now() - max(updated_at))::float8 "
                "FROM driver_daily_pay"
            ).fetchone()
    except psycopg.Error as exc:  # down, or no table / no privilege: no answer either way
        raise UnreachableError(
            f"PostgreSQL: {(str(exc).strip() or repr(exc)).splitlines()[0]}"
        ) from None
    assert row is not None  # an aggregate always returns one row
    return ReadModel(int(row[0]), None if row[1] is None else float(row[1]))


# --- one screen ---------------------------------------------------------------------------------


def render(console: Any, snapshot: Snapshot, findings: Sequence[Finding]) -> None:
    """The rich screen: verdict, job, lag, counters, per-subtask load, reconcile, read model."""
    verdict = "[green]HEALTHY[/]" if not findings else f"[red]UNHEALTHY[/] ({len(findings)})"
    console.print(f"driverpay status: {verdict}")
    for finding in findings:
        console.print(f"  [red]✗[/] {finding.rule}: {finding.message}", soft_wrap=True)
    job = snapshot.job
    if job is None:
        return
    age = "none yet" if job.last_checkpoint_age_s is None else f"{job.last_checkpoint_age_s:.0f} s"
    console.print(
        f"job {job.job_id} {job.state}, up {job.uptime_s:.0f} s, {job.restarts} restarts; "
        f"last checkpoint {age} ago ({job.last_checkpoint_duration_ms or 0} ms, "
        f"{job.checkpoints_completed} completed, {job.checkpoints_failed} failed, "
        f"every {job.checkpoint_interval_s:g} s)",
        soft_wrap=True,
    )
    console.print(
        _table(
            "consumer lag",
            ("topic", "partition", "committed", "end", "lag", "growth/s"),
            [
                (p.topic, p.partition, p.committed, p.high, p.lag, _num(p.growth_per_s))
                for p in snapshot.lags
            ],
        )
    )
    console.print(
        _table(
            f"driverpay counters (rates over {snapshot.window_s:g} s)",
            ("metric", "total", "per s"),
            [(c.name, f"{c.total:.0f}", _num(c.rate_per_s)) for c in snapshot.counters.values()],
        )
    )
    console.print(
        _table(
            "records in per subtask",
            ("vertex", "subtasks", "skew"),
            [
                (v.name[:70], " ".join(map(str, v.records_in)), _num(v.skew))
                for v in snapshot.vertices
            ],
        )
    )
    if snapshot.reconciles:
        console.print(
            _table(
                "last reconcile per date",
                ("date", "zone", "drivers", "delta", "run"),
                [
                    (
                        r.date,
                        r.zone or "all",
                        r.drivers_affected,
                        ", ".join(
                            f"{v:+d} {c}" for c, v in sorted(r.delta_minor_by_currency.items())
                        ),
                        r.run_id,
                    )
                    for r in snapshot.reconciles[:7]
                ],
            )
        )
    if snapshot.read_model is not None:
        last = snapshot.read_model.last_write_age_s
        console.print(
            f"read model: {snapshot.read_model.driver_days} driver-days, last write "
            + ("never" if last is None else f"{last:.0f} s ago")
        )


def _table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(
            column,
            justify="right"
            if column not in ("topic", "metric", "vertex", "date", "zone", "run")
            else "left",
        )
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    return table


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:,.1f}"
