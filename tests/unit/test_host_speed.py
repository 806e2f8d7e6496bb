"""The host-speed probe: a fixed loop timed by its own thread's CPU time, while a run lasts."""

from __future__ import annotations

import time

import pytest

from driverpay import host_speed
from driverpay.bench_report import EmbeddedRun, build_report, host_cell, rows
from driverpay.host_speed import HostSpeed, loop_ns


def test_a_probe_samples_on_entry_and_then_every_interval() -> None:
    with HostSpeed(every_s=0.05, iterations=1_000) as speed:
        time.sleep(0.4)
    result = speed.result()
    assert result["samples"] >= 3
    assert 0 < result["loop_ns_min"] <= result["loop_ns_median"] <= result["loop_ns_max"]


def test_a_probe_never_opened_reports_nothing() -> None:
    assert HostSpeed().result() == {}


def test_the_loop_is_timed_by_the_threads_cpu_clock_not_the_wall_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Waiting for a core (the job under test keeps both busy) must not read as a slow core."""
    ticks = iter([1_000_000, 1_500_000])
    monkeypatch.setattr(host_speed.time, "thread_time_ns", lambda: next(ticks))
    monkeypatch.setattr(host_speed.time, "perf_counter_ns", lambda: pytest.fail("wall clock"))
    assert loop_ns(iterations=1_000) == 500.0


def test_every_row_of_the_table_says_how_fast_the_cores_were() -> None:
    measured = {"loop_ns_median": 41.2, "loop_ns_min": 30.0, "loop_ns_max": 66.6, "samples": 9}
    embedded = [EmbeddedRun("job", 1000, 2.0, measured), EmbeddedRun("baseline", 1000, 0.5)]
    meta = {"date": "2026-11-26T16:00:00+00:00", "machine": {"cpus": 2}, "config": {}}
    report = build_report(meta, [], [], embedded, 10_000)
    assert [row[-1] for row in rows(report)] == ["41 (30-67)", "-"]
    assert host_cell({"host": {}}) == "-"
