"""Pure parts of ``driverpay.bench``: rates, percentiles, the report's JSON and its tables.

Nothing here touches a service, so tests/unit/test_bench_report.py checks it on made-up samples.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

Sample = tuple[float, float]  # (seconds since the run started, cumulative records read)
# Targets of the throughput issue (README, "Benchmark").
TARGET_EMBEDDED_RATIO = 0.5
TARGET_KAFKA_P2_EVENTS_PER_S = 15_000.0
TARGET_P99_SLACK_MS = 2_000.0  # p99 latency <= checkpoint interval + this
REPORT_KEYS = (
    "date",
    "machine",
    "config",
    "kafka",
    "baseline",
    "kafka_floors",
    "embedded",
    "ratios",
    "targets",
)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100), linear between closest ranks; None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile out of range: {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class SteadyRate:
    """Records/s over the steady window: from ``low`` to ``high`` of the backlog read."""

    events_per_s: float
    window_s: float
    window_events: float
    start_s: float


def steady_rate(
    samples: Sequence[Sample], total: int, low: float = 0.05, high: float = 0.95
) -> SteadyRate | None:
    """Rate between the first sample with >= ``low``·total read and the last with <= ``high``.

    Start-up (job deployment, the first fetches, JIT) is before the window and the drain of the
    last partitions after it; None if fewer than two samples fall inside.
    """
    start = next((s for s in samples if s[1] >= low * total), None)
    if start is None:
        return None
    inside = [s for s in samples if s[0] > start[0] and s[1] <= high * total]
    if not inside or inside[-1][1] <= start[1]:
        return None
    end = inside[-1]
    window, events = end[0] - start[0], end[1] - start[1]
    return SteadyRate(events / window, window, events, start[0])


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50, p99 and max of append -> visible latencies, in milliseconds."""
    ms = [s * 1000 for s in latencies_s]
    return {
        "count": len(ms),
        "p50_ms": _round(percentile(ms, 50)),
        "p99_ms": _round(percentile(ms, 99)),
        "max_ms": _round(max(ms) if ms else None),
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class KafkaRun:
    """One run of the real job on the cluster (``events`` = the preloaded backlog)."""

    parallelism: int
    events: int
    rate: SteadyRate | None
    latency: dict[str, float | int | None] = field(default_factory=dict)
    live_events_per_s: float = 0.0
    checkpoints: dict[str, Any] = field(default_factory=dict)
    rss_mb: dict[str, float | None] = field(default_factory=dict)
    correct: bool | None = None
    mismatched: int = 0
    job_id: str = ""
    # The same run's rate over the backlog's last part only, after the JIT compilers of the
    # freshly started TaskManagers have settled: the sustained rate (README, "Benchmark").
    warm: SteadyRate | None = None
    # CPU by service over the warm window (driverpay.cpu_window.CpuWindow.result)
    cpu: dict[str, Any] = field(default_factory=dict)
    # --profile: flame graph file -> "ok" or why not (driverpay.profile_window)
    profiles: dict[str, str] = field(default_factory=dict)
    # The cores' speed while the backlog was read (driverpay.host_speed.HostSpeed.result)
    host: dict[str, Any] = field(default_factory=dict)


@dataclass
class BaselineRun:
    """One run of a program other than the job on the cluster over the same backlog.

    ``name`` is ``baseline`` (the SQL baseline) or ``floor-<shape>`` (``jobs.bench_floor``).
    """

    parallelism: int
    events: int
    rate: SteadyRate | None
    job_id: str = ""
    name: str = "baseline"
    host: dict[str, Any] = field(default_factory=dict)  # the cores' speed (driverpay.host_speed)


@dataclass(frozen=True)
class EmbeddedRun:
    """An embedded run over the events file: wall time including start-up."""

    name: str
    events: int
    seconds: float
    host: dict[str, Any] = field(default_factory=dict)  # the cores' speed (driverpay.host_speed)

    @property
    def events_per_s(self) -> float:
        """Events over seconds (0 for an empty run)."""
        return self.events / self.seconds if self.seconds > 0 else 0.0


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` rounded, or None when either side is missing."""
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def _rate(run: KafkaRun | BaselineRun) -> float | None:
    return run.rate.events_per_s if run.rate else None


def _warm(run: KafkaRun) -> float | None:
    return run.warm.events_per_s if run.warm else None


def build_report(
    meta: dict[str, Any],
    kafka: Sequence[KafkaRun],
    baseline: Sequence[BaselineRun],
    embedded: Sequence[EmbeddedRun],
    checkpoint_interval_ms: float,
    floors: Sequence[BaselineRun] = (),
) -> dict[str, Any]:
    """The JSON document of one bench call (keys: ``REPORT_KEYS``)."""
    base = {b.parallelism: _rate(b) for b in baseline}
    ratios = {f"kafka_p{k.parallelism}": ratio(_rate(k), base.get(k.parallelism)) for k in kafka}
    for k in kafka:
        ratios[f"kafka_p{k.parallelism}_warm"] = ratio(_warm(k), base.get(k.parallelism))
    for f in floors:
        ratios[f"kafka_{f.name}_p{f.parallelism}"] = ratio(_rate(f), base.get(f.parallelism))
    emb = {e.name: e.events_per_s for e in embedded}
    ratios["embedded"] = ratio(emb.get("job"), emb.get("baseline"))
    return {
        "date": meta["date"],
        "machine": meta["machine"],
        "config": meta["config"],
        "kafka": [asdict(k) for k in kafka],
        "baseline": [asdict(b) for b in baseline],
        "kafka_floors": [asdict(f) for f in floors],
        "embedded": [{**asdict(e), "events_per_s": round(e.events_per_s, 1)} for e in embedded],
        "ratios": ratios,
        "targets": targets(kafka, ratios["embedded"], checkpoint_interval_ms),
    }


def _sustained(run: KafkaRun | None) -> float | None:
    """The warm window's rate, else the whole window's (a run too short to have warmed)."""
    if run is None:
        return None
    return _warm(run) or _rate(run)


def targets(
    kafka: Sequence[KafkaRun], embedded_ratio: float | None, checkpoint_interval_ms: float
) -> dict[str, dict[str, Any]]:
    """Each target of the issue with what was measured and whether it is met."""
    p2 = next((k for k in kafka if k.parallelism == 2), None)
    p99s = [k.latency.get("p99_ms") for k in kafka]
    worst = max((float(p) for p in p99s if p is not None), default=None)
    goals: list[tuple[str, float | None, float, bool]] = [
        ("embedded_ratio", embedded_ratio, TARGET_EMBEDDED_RATIO, True),
        ("kafka_p2_events_per_s", _sustained(p2), TARGET_KAFKA_P2_EVENTS_PER_S, True),
        ("p99_latency_ms", worst, checkpoint_interval_ms + TARGET_P99_SLACK_MS, False),
    ]
    out = {}
    for name, measured, target, at_least in goals:
        met = None if measured is None else (measured >= target if at_least else measured <= target)
        out[name] = {"target": target, "measured": _round(measured, 3), "met": met}
    return out


FLOOR_NAMES = {  # jobs.bench_floor's shapes, as table rows
    "floor-map": "floor: one Python map",
    "floor-sql-lifecycle": "floor: SQL dedup, one keyed Python stage, no work",
    "floor-sql-lifecycle-daily": "floor: SQL dedup, lifecycle + daily in Python",
    "floor-job-shape": "floor: the job's Python stages, no work",
}


def warm_label(config: dict[str, Any]) -> str:
    """Which part of the backlog the warm rate covers, from the report's config."""
    start = config.get("warm_from")
    return f"from {start:.0%} of the backlog" if start is not None else "the backlog's end"


def rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per run, for the terminal table and the markdown copy."""
    out = []
    for run in report["kafka"]:
        p = run["parallelism"]
        lat, cp, rss = run["latency"], run["checkpoints"], run["rss_mb"]
        out.append(
            [
                f"Kafka job p={p}",
                f"{run['events']:,}",
                fmt(run["rate"]["events_per_s"] if run["rate"] else None),
                fmt(report["ratios"].get(f"kafka_p{p}"), ".2f"),
                f"{fmt(lat.get('p50_ms'))} / {fmt(lat.get('p99_ms'))}",
                f"{fmt(cp.get('avg_ms'))} / {fmt(cp.get('max_ms'))}",
                f"{fmt(rss.get('start'))} -> {fmt(rss.get('peak'))}",
                {True: "yes", False: "NO", None: "-"}[run["correct"]],
                host_cell(run),
            ]
        )
        warm = run.get("warm")
        if warm:
            name = f"Kafka job p={p}, warm: {warm_label(report['config'])}"
            r = fmt(report["ratios"].get(f"kafka_p{p}_warm"), ".2f")
            events = f"{warm['window_events']:,.0f}"
            out.append(_rate_row(name, events, warm["events_per_s"], r, host_cell(run)))
    for run in report["baseline"]:
        rate = run["rate"]["events_per_s"] if run["rate"] else None
        name = f"SQL baseline p={run['parallelism']}"
        out.append(_rate_row(name, f"{run['events']:,}", rate, "1", host_cell(run)))
    for run in report["kafka_floors"]:
        p, rate = run["parallelism"], run["rate"]["events_per_s"] if run["rate"] else None
        name = f"Kafka {FLOOR_NAMES.get(run['name'], run['name'])} p={p}"
        r = fmt(report["ratios"].get(f"kafka_{run['name']}_p{p}"), ".2f")
        out.append(_rate_row(name, f"{run['events']:,}", rate, r, host_cell(run)))
    names = {
        "job": "embedded driverpay run p=1",
        "baseline": "embedded SQL baseline p=1",
        "core": "the pure core alone, one CPython, no Flink",
        **{name: f"embedded {label} p=1" for name, label in FLOOR_NAMES.items()},
    }
    base = next((e["events_per_s"] for e in report["embedded"] if e["name"] == "baseline"), None)
    for run in report["embedded"]:
        r = "1" if run["name"] == "baseline" else fmt(ratio(run["events_per_s"], base), ".2f")
        name = names.get(run["name"], run["name"])
        out.append(_rate_row(name, f"{run['events']:,}", run["events_per_s"], r, host_cell(run)))
    return out


def _rate_row(
    name: str, events: str, rate: float | None, ratio_cell: str, host: str = "-"
) -> list[str]:
    """A row with a rate only: the latency, checkpoint, memory and truth columns are ``-``."""
    return [name, events, fmt(rate), ratio_cell] + ["-"] * (len(COLUMNS) - 5) + [host]


def host_cell(run: dict[str, Any]) -> str:
    """The cores' speed during a run: median ns per loop (fastest-slowest); ``-`` if unmeasured.

    Runs are comparable only at similar speeds (driverpay.host_speed).
    """
    host = run.get("host") or {}
    if not host:
        return "-"
    return f"{host['loop_ns_median']:.0f} ({host['loop_ns_min']:.0f}-{host['loop_ns_max']:.0f})"


COLUMNS = (
    "run",
    "events",
    "events/s",
    "ratio to baseline",
    "latency p50 / p99 ms",
    "checkpoint avg / max ms",
    "TM RSS MB start -> peak",
    "totals = truth",
    "host: ns per loop (lower = faster)",
)


def fmt(value: Any, spec: str = ",.0f") -> str:
    """A table cell: ``-`` for a figure that was not measured."""
    return "-" if value is None else format(value, spec)


VERDICT = {True: "[green]met[/]", False: "[red]not met[/]", None: "not measured"}


def print_table(
    title: str, columns: Sequence[str], rows_: Sequence[Sequence[str]], min_width: int
) -> Console:
    """A bench's figures as a rich table (``run`` left, figures right); the console, for more."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column == "run" else "right")
    for row in rows_:
        table.add_row(*row)
    out = Console(width=max(Console().width, min_width))
    out.print(table)
    return out


def write_report(report: dict[str, Any], out: Path, name: str, started: datetime, md: str) -> Path:
    """``<name>-<date>.json`` and the markdown table ``md`` next to it (same stem, ``.md``)."""
    path = out / f"{name}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    path.with_suffix(".md").write_text(md)
    return path


def markdown(report: dict[str, Any]) -> str:
    """The table as GitHub markdown (what the README's "Benchmark" section shows)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(report)]
    cpu = cpu_lines(report)
    return "\n".join([*lines, "", *cpu] if cpu else lines) + "\n"


def cpu_lines(report: dict[str, Any]) -> list[str]:
    """Per Kafka run, warm: each service's share of a core and CPU per event.

    Then, when measured, the TaskManagers' threads: Flink's task threads are the job's stages.
    """
    out = []
    for run in report["kafka"]:
        cpu = run.get("cpu") or {}
        if not cpu:
            continue
        out.append(
            f"CPU over the warm window, p={run['parallelism']} ({cpu['seconds']} s): "
            f"{_percents(cpu['percent_of_a_core'])}; {fmt(cpu['cpu_us_per_event'])} µs per event"
        )
        if cpu.get("taskmanager_threads"):
            out.append(
                f"TaskManager threads, p={run['parallelism']}: "
                f"{_percents(cpu['taskmanager_threads'])}"
            )
    return out


def _percents(shares: dict[str, float]) -> str:
    return ", ".join(f"{name} {pct:,.0f} %" for name, pct in shares.items())
