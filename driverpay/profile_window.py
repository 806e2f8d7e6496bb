"""py-spy flame graphs of the TaskManagers over a benchmark's warm window (``--profile``).

The profile in docs/design.md ("Throughput") came from py-spy attached to a TaskManager JVM:
in thread mode it reads the interpreter that pemja embeds there. This takes the same recording
from a ``make bench`` call, so the profile is a command, not a recipe: one flame graph per
TaskManager, sampled only while a thread holds the interpreter lock (``--gil``), which is what
a stage's Python time is. Attaching needs ptrace rights over the JVM (root, or the same user
with ``kernel.yama.ptrace_scope`` 0); a profiler that cannot attach is reported, not fatal.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

RATE = 100  # samples per second: py-spy's default, ~1 % of a core per process profiled


def py_spy() -> Path:
    """py-spy of the interpreter running this (the project's virtualenv, pinned)."""
    return Path(sys.executable).parent / "py-spy"


def record_command(pid: int, seconds: int, output: Path) -> list[str]:
    """A flame graph (SVG) of the Python threads of ``pid`` holding the lock, for ``seconds``."""
    return [
        str(py_spy()),
        "record",
        "--gil",
        "--nonblocking",  # never pauses the JVM: a paused TaskManager would stall the job
        "--rate",
        str(RATE),
        "--duration",
        str(seconds),
        "--format",
        "flamegraph",
        "--output",
        str(output),
        "--pid",
        str(pid),
    ]


class ProfileWindow:
    """Starts py-spy on every TaskManager when the source's count first reaches ``start``.

    ``observe`` is called with the cumulative count at every sample, like
    ``driverpay.cpu_window.CpuWindow``; ``finish`` waits for the recordings.
    """

    def __init__(
        self,
        start: float,
        seconds: int,
        prefix: Path,
        pids: Callable[[], list[int]],
    ) -> None:
        self.start, self.seconds, self.prefix, self.pids = start, seconds, prefix, pids
        self.running: list[tuple[Path, subprocess.Popen[bytes]]] = []
        self.started = False

    def observe(self, count: float) -> None:
        """Start the recordings as the count crosses ``start``."""
        if self.started or count < self.start:
            return
        self.started = True
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        for index, pid in enumerate(sorted(self.pids())):
            output = self.prefix.with_name(f"{self.prefix.name}-tm{index}.svg")
            process = subprocess.Popen(
                record_command(pid, self.seconds, output),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            self.running.append((output, process))

    def finish(self) -> dict[str, str]:
        """Each flame graph written, or why not: ``{file: "ok" | error}``."""
        results = {}
        for output, process in self.running:
            try:
                _, err = process.communicate(timeout=self.seconds + 60)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
            ok = process.returncode == 0 and output.exists()
            message = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            results[str(output)] = "ok" if ok else f"py-spy failed: {message[0]}"
        self.running = []
        return results
