"""How fast this machine's cores are while a benchmark runs, so its figures can be read.

On the shared virtual machines this project is measured on, one core's speed moves by up to
2x from one second to the next, idle or not: a fixed pure-Python loop took 0.36-0.65 s of CPU
time in consecutive runs on an idle machine (docs/design.md, "Throughput"). Two bench runs
minutes apart can therefore differ by that much with the same code. A :class:`HostSpeed` probe
times a fixed loop every few seconds by the CPU time of its own thread (so waiting for a
core, which the job under test causes, does not count, but a slower core does) and reports
nanoseconds per iteration: lower is faster, and runs are comparable only at similar speeds.
"""

from __future__ import annotations

import statistics
import threading
import time
from types import TracebackType
from typing import Any

LOOP_ITERATIONS = 100_000  # ~5-10 ms of one core per sample: the probe takes well under 1 %
EVERY_S = 2.0


def loop_ns(iterations: int = LOOP_ITERATIONS) -> float:
    """CPU nanoseconds per iteration of a fixed integer loop on this thread."""
    started = time.thread_time_ns()
    total = 0
    for i in range(iterations):
        total += i * i
    return (time.thread_time_ns() - started) / iterations


class HostSpeed:
    """Samples :func:`loop_ns` every ``every_s`` seconds on a thread of its own, while open.

    ``with HostSpeed() as speed: ...`` then ``speed.result()``. The first sample is taken on
    entry, so even a short run has one.
    """

    def __init__(self, every_s: float = EVERY_S, iterations: int = LOOP_ITERATIONS) -> None:
        self.every_s = every_s
        self.iterations = iterations
        self.samples: list[float] = []
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="host-speed", daemon=True)

    def __enter__(self) -> HostSpeed:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sampling (idempotent)."""
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(self.every_s + 5)

    def _run(self) -> None:
        while True:
            self.samples.append(loop_ns(self.iterations))
            if self._halt.wait(self.every_s):
                return

    def result(self) -> dict[str, Any]:
        """Median, fastest and slowest ns per iteration, and the number of samples ({} if none)."""
        if not self.samples:
            return {}
        return {
            "loop_ns_median": round(statistics.median(self.samples), 1),
            "loop_ns_min": round(min(self.samples), 1),
            "loop_ns_max": round(max(self.samples), 1),
            "samples": len(self.samples),
        }
