"""CPU by service over a window of a benchmark run: where each event's CPU goes.

On a machine that runs Kafka, PostgreSQL, the JobManager and the TaskManagers on the same
cores, events/s alone cannot say what limits the job. Two snapshots of every process's
``utime + stime`` (``/proc/<pid>/stat``), taken when the source's count crosses the window's
two ends, give each service's share of a core and the machine's CPU per event
(docs/design.md, "Throughput"). The TaskManagers' threads are read the same way: Flink names a
task's thread after its chain, so their shares say which stage the TaskManagers' CPU goes to.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

# Process command-line markers -> service; anything else on the machine is "other".
SERVICES = (
    ("driverpay.bench", "bench"),  # the benchmark itself: its polling is part of the load
    ("TaskManagerRunner", "taskmanagers"),
    ("StandaloneSessionClusterEntrypoint", "jobmanager"),
    ("kafka.Kafka", "kafka"),
    ("postgres", "postgres"),
)
Snapshot = dict[int, tuple[str, int]]  # pid -> (service, utime + stime in clock ticks)
Threads = dict[tuple[int, int], tuple[str, int]]  # (pid, tid) -> (thread's stage, ticks)
K = TypeVar("K", bound=Hashable)
# Threads under this share of a core are summed as "other threads".
LEAST_THREAD_PERCENT = 2.0


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


def thread_stage(stat: str) -> str:
    """A thread's name from its stat line, without subtask, chain arrow or thread number.

    The kernel keeps 15 characters of a name: "daily-totals -> kafka-pay-ledger (1/2)#0" is
    "daily-totals ->", and "order-lifecycle (2/2)#0" "order-lifecycle".
    """
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    return re.sub(r"\s*(->.*|\(.*|#\d*)$", "", comm) or comm


def threads(pids: Iterable[int], proc: Path = Path("/proc")) -> Threads:
    """Every thread of ``pids`` readable now, by stage; ones that vanish are left out."""
    out: Threads = {}
    for pid in pids:
        try:
            tasks = list((proc / str(pid) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                stat = (task / "stat").read_text()
                out[(pid, int(task.name))] = (thread_stage(stat), stat_ticks(stat))
            except (OSError, IndexError, ValueError):
                continue
    return out


def shares(
    before: Mapping[K, tuple[str, int]], after: Mapping[K, tuple[str, int]], seconds: float, hz: int
) -> dict[str, float]:
    """Percent of one core per name between two snapshots, for processes (threads) in both."""
    out: dict[str, float] = {}
    for key, (name, ticks) in after.items():
        if key in before and seconds > 0:
            used = (ticks - before[key][1]) / hz / seconds * 100
            out[name] = out.get(name, 0.0) + used
    return {name: round(value, 1) for name, value in sorted(out.items())}


class Reading(NamedTuple):
    """One end of the window: when, the source's count, every process, the TaskManagers' threads."""

    at: float
    records: float
    processes: Snapshot
    threads: Threads


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
        self.first: Reading | None = None
        self.last: Reading | None = None

    def observe(self, count: float) -> None:
        """Take the window's snapshots as the count crosses its ends."""
        if self.first is None and count >= self.start:
            self.first = self._read(count)
        elif self.first is not None and self.last is None and count >= self.end:
            self.last = self._read(count)

    def _read(self, count: float) -> Reading:
        processes = snapshot(self.proc)
        tms = [pid for pid, (name, _) in processes.items() if name == "taskmanagers"]
        return Reading(self.clock(), count, processes, threads(tms, self.proc))

    def result(self) -> dict[str, Any]:
        """The window's seconds, events, CPU µs per event and shares of a core; {} if unset.

        Shares by service (``percent_of_a_core``) and by TaskManager thread, largest first.
        """
        if self.first is None or self.last is None:
            return {}
        seconds, events = self.last.at - self.first.at, self.last.records - self.first.records
        hz = os.sysconf("SC_CLK_TCK")
        percent = shares(self.first.processes, self.last.processes, seconds, hz)
        busy_s = sum(percent.values()) / 100 * seconds
        return {
            "seconds": round(seconds, 1),
            "events": events,
            "percent_of_a_core": percent,
            "cpu_us_per_event": round(busy_s / events * 1e6, 1) if events > 0 else None,
            "taskmanager_threads": largest(
                shares(self.first.threads, self.last.threads, seconds, hz)
            ),
        }


def largest(percent: Mapping[str, float]) -> dict[str, float]:
    """Largest first; those under ``LEAST_THREAD_PERCENT`` summed as "other threads"."""
    ranked = sorted(percent.items(), key=lambda item: -item[1])
    out = {name: pct for name, pct in ranked if pct >= LEAST_THREAD_PERCENT}
    rest = sum(pct for _, pct in ranked if pct < LEAST_THREAD_PERCENT)
    if rest:
        out["other threads"] = round(rest, 1)
    return out
