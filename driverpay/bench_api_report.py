"""Pure parts of ``driverpay.bench_api``: the load generator's results, summaries, the report.

Nothing here touches a service or a clock, so tests/unit/test_bench_api_report.py checks it on
made-up results. Latencies are vegeta's (``vegeta encode --to csv``): each request is sent on a
fixed schedule whatever the earlier ones do (an open model), so a slow answer cannot hold back
the next requests and hide itself (no coordinated omission), as a closed-loop tool like ``wrk``
would.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from driverpay.bench_report import fmt, percentile

TARGET_RATE = 1_000.0  # requests/s at which p99 is measured (issue 9)
TARGET_P99_MS = 5.0
MIN_ACHIEVED_SHARE = 0.95  # a step counts only if at least this share of its rate was answered
REPORT_KEYS = ("date", "machine", "config", "fixed", "ramp", "max_sustainable", "targets")


@dataclass(frozen=True, slots=True)
class Result:
    """One request: when it was sent (ns), its status (0 = no answer), latency and error."""

    sent_ns: int
    code: int
    latency_ns: int
    error: str = ""


def parse_results(lines: Iterable[str]) -> list[Result]:
    """Vegeta's CSV encoding: timestamp ns, code, latency ns, bytes out, bytes in, error, ..."""
    out = []
    for row in csv.reader(lines):
        if not row:
            continue
        out.append(Result(int(row[0]), int(row[1]), int(row[2]), row[5] if len(row) > 5 else ""))
    return out


@dataclass
class Step:
    """Requests at one target rate: counts, achieved rate and latency percentiles."""

    rate: float
    requests: int
    ok: int
    achieved_per_s: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    codes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    # during the step: the machine's CPU in use (% of all cores; other tenants show up here)
    # and the API's processes (% of one core)
    cpu_busy_pct: float | None = None
    api_cpu_pct: float | None = None

    @property
    def error_count(self) -> int:
        """Requests without a 2xx answer."""
        return self.requests - self.ok


def summarize(rate: float, results: Sequence[Result]) -> Step:
    """A step from its results; latency percentiles over every request, answered or not."""
    ms = [r.latency_ns / 1e6 for r in results]
    ok = sum(1 for r in results if 200 <= r.code < 300)
    if results:
        start = min(r.sent_ns for r in results)
        end = max(r.sent_ns + r.latency_ns for r in results)
        span_s = (end - start) / 1e9
        achieved = ok / span_s if span_s > 0 else 0.0
    else:
        achieved = 0.0
    errors = Counter(r.error.split(": ")[-1][:80] for r in results if r.error)
    return Step(
        rate=rate,
        requests=len(results),
        ok=ok,
        achieved_per_s=round(achieved, 1),
        p50_ms=_round(percentile(ms, 50)),
        p90_ms=_round(percentile(ms, 90)),
        p99_ms=_round(percentile(ms, 99)),
        max_ms=_round(max(ms) if ms else None),
        codes={str(k): v for k, v in sorted(Counter(r.code for r in results).items())},
        errors=dict(errors.most_common(5)),
    )


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def without_errors(step: Step) -> bool:
    """Every request answered 2xx, and (nearly) the whole rate served."""
    return (
        step.requests > 0
        and step.error_count == 0
        and step.achieved_per_s >= MIN_ACHIEVED_SHARE * step.rate
    )


def within_p99(step: Step, p99_ms: float = TARGET_P99_MS) -> bool:
    """Without errors and with p99 at or under ``p99_ms``."""
    return without_errors(step) and step.p99_ms is not None and step.p99_ms <= p99_ms


def max_sustainable(ramp: Sequence[Step], p99_ms: float = TARGET_P99_MS) -> dict[str, float | None]:
    """Highest ramp rate served without errors, and the highest also within the p99 target.

    Each is the highest rate below which every step also passed, so a lucky step above a
    failed one does not count.
    """

    def highest(passes: Any) -> float | None:
        best = None
        for step in sorted(ramp, key=lambda s: s.rate):
            if not passes(step):
                break
            best = step.rate
        return best

    return {
        "no_errors_per_s": highest(without_errors),
        "p99_within_target_per_s": highest(lambda s: within_p99(s, p99_ms)),
    }


def build_report(
    meta: dict[str, Any], fixed: Step | None, ramp: Sequence[Step], p99_ms: float = TARGET_P99_MS
) -> dict[str, Any]:
    """The JSON document of one ``bench_api`` call (keys: ``REPORT_KEYS``)."""
    best = max_sustainable(ramp, p99_ms)
    measured = fixed.p99_ms if fixed else None
    met = None if fixed is None else within_p99(fixed, p99_ms)
    return {
        "date": meta["date"],
        "machine": meta["machine"],
        "config": meta["config"],
        "fixed": asdict(fixed) if fixed else None,
        "ramp": [asdict(s) for s in ramp],
        "max_sustainable": best,
        "targets": {
            "p99_ms_at_rate": {
                "rate": fixed.rate if fixed else None,
                "target": p99_ms,
                "measured": measured,
                "met": met,
            }
        },
    }


COLUMNS = (
    "run",
    "rate/s",
    "answered/s",
    "2xx",
    "errors",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "machine CPU %",
    "API CPU % of a core",
)


def rows(report: dict[str, Any]) -> list[list[str]]:
    """One row for the fixed-rate run, then one per ramp step."""
    steps = ([("fixed", report["fixed"])] if report["fixed"] else []) + [
        ("ramp", s) for s in report["ramp"]
    ]
    return [
        [
            name,
            fmt(s["rate"]),
            fmt(s["achieved_per_s"]),
            f"{s['ok']:,}",
            f"{s['requests'] - s['ok']:,}",
            fmt(s["p50_ms"], ".2f"),
            fmt(s["p90_ms"], ".2f"),
            fmt(s["p99_ms"], ".2f"),
            fmt(s["max_ms"], ".1f"),
            fmt(s.get("cpu_busy_pct")),
            fmt(s.get("api_cpu_pct")),
        ]
        for name, s in steps
    ]


def markdown(report: dict[str, Any]) -> str:
    """The table as GitHub markdown, then the maximum sustainable rates."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(report)]
    best = report["max_sustainable"]
    lines += [
        "",
        f"max sustainable: {fmt(best['no_errors_per_s'])}/s without errors, "
        f"{fmt(best['p99_within_target_per_s'])}/s with p99 <= "
        f"{report['targets']['p99_ms_at_rate']['target']:g} ms",
    ]
    return "\n".join(lines) + "\n"
