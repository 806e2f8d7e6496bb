"""CPU by service over a window of a benchmark run: where each event's CPU goes.

On a machine that runs Kafka, PostgreSQL, the JobManager and the TaskManagers on the same
cores, events/s alone cannot say what limits the job. Two snapshots of every process's
``utime + stime`` (``/proc/<pid>/stat``), taken when the source's count crosses the window's
two ends, give each service's share of a core and the machine's CPU per event
(docs/design.md, "Throughput").
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Process command-line markers -> service; anything else on the machine is "other".
SERVICES = (
    ("driverpay.bench", "bench"),  # the benchmark itself: its polling is part of the load
    ("TaskManagerRunner", "taskmanagers"),
    ("StandaloneSessionClusterEntrypoint", "jobmanager"),
    ("kafka.Kafka", "kafka"),
    ("postgres", "postgres"),
)
Snapshot = dict[int, tuple[str, int]]  # pid -> (service, utime + stime in clock ticks)


def service(cmdline: str) -> str:
    """The service a process belongs to, from its command line."""
    return next((name for marker, name in SERVICES if marker in cmdline), "other")


def stat_ticks(stat: str) -> int:
    """``utime + stime`` of one ``/proc/<pid>/stat`` line (the name may contain spaces)."""
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is the state, field 3 of stat(5)
    return int(fields[11]) + int(fields[12])


def snapshot(proc: Path = Path("/proc")) -> Snapshot:
    """Every process readable now; ones that vanish while being read are left out."""
    out: Snapshot = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            out[int(entry.name)] = (service(cmdline), stat_ticks((entry / "stat").read_text()))
        except (OSError, IndexError, ValueError):
            continue
    return out


def shares(before: Snapshot, after: Snapshot, seconds: float, hz: int) -> dict[str, float]:
    """Percent of one core per service between two snapshots, for processes in both."""
    out: dict[str, float] = {}
    for pid, (name, ticks) in after.items():
        if pid in before and seconds > 0:
            used = (ticks - before[pid][1]) / hz / seconds * 100
            out[name] = out.get(name, 0.0) + used
    return {name: round(value, 1) for name, value in sorted(out.items())}


class CpuWindow:
    """Snapshots at the first count reaching ``start`` records and the first reaching ``end``.

    ``observe`` is called with the source's cumulative count at every sample.
    """

    def __init__(
        self,
        start: float,
        end: float,
        clock: Callable[[], float] = time.monotonic,
        proc: Path = Path("/proc"),
    ) -> None:
        self.start, self.end = start, end
        self.clock = clock
        self.proc = proc
        self.first: tuple[float, float, Snapshot] | None = None
        self.last: tuple[float, float, Snapshot] | None = None

    def observe(self, count: float) -> None:
        """Take the window's snapshots as the count crosses its ends."""
        if self.first is None and count >= self.start:
            self.first = (self.clock(), count, snapshot(self.proc))
        elif self.first is not None and self.last is None and count >= self.end:
            self.last = (self.clock(), count, snapshot(self.proc))

    def result(self) -> dict[str, Any]:
        """Seconds, events, percent of a core per service and CPU µs per event; {} if unset."""
        if self.first is None or self.last is None:
            return {}
        seconds, events = self.last[0] - self.first[0], self.last[1] - self.first[1]
        percent = shares(self.first[2], self.last[2], seconds, os.sysconf("SC_CLK_TCK"))
        busy_s = sum(percent.values()) / 100 * seconds
        return {
            "seconds": round(seconds, 1),
            "events": events,
            "percent_of_a_core": percent,
            "cpu_us_per_event": round(busy_s / events * 1e6, 1) if events > 0 else None,
        }
