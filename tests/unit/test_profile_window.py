"""``make bench --profile``: py-spy flame graphs of each process from the warm window's start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from driverpay.profile_window import ProfileWindow

BUSY = """
def spin_for_the_profiler():
    while True:
        sum(range(1000))

spin_for_the_profiler()
"""


def may_trace() -> bool:
    scope = Path("/proc/sys/kernel/yama/ptrace_scope")
    return os.geteuid() == 0 or not scope.exists() or scope.read_text().strip() == "0"


pytestmark = pytest.mark.skipif(not may_trace(), reason="py-spy needs ptrace rights here")


@pytest.fixture
def busy_python() -> Iterator[int]:
    """A Python process spinning in a function with a name to look for."""
    process = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_each_process_gets_a_flame_graph_once_the_count_reaches_the_start(
    tmp_path: Path, busy_python: int
) -> None:
    window = ProfileWindow(100, 2, tmp_path / "profile-t-p1", lambda: [busy_python])
    window.observe(50)  # before the warm window
    assert window.running == []
    window.observe(120)
    window.observe(400)  # started once only
    assert len(window.running) == 1
    svg = tmp_path / "profile-t-p1-tm0.svg"
    assert window.finish() == {str(svg): "ok"}
    assert "spin_for_the_profiler" in svg.read_text()


def test_a_process_py_spy_cannot_read_is_reported_not_raised(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    window = ProfileWindow(0, 1, tmp_path / "profile-t-p1", lambda: [gone.pid])
    window.observe(0)
    [(svg, outcome)] = window.finish().items()
    assert svg == str(tmp_path / "profile-t-p1-tm0.svg")
    assert outcome.startswith("py-spy failed: ")
    assert not Path(svg).exists()


def test_a_window_never_reached_records_nothing(tmp_path: Path) -> None:
    window = ProfileWindow(1_000, 1, tmp_path / "profile-t-p1", lambda: [os.getpid()])
    window.observe(999)
    assert window.finish() == {}
    assert list(tmp_path.iterdir()) == []
