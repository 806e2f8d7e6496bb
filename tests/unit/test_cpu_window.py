"""CPU by service over a bench window, read from a made-up /proc: shares, per-event cost, ends."""

from __future__ import annotations

import os
from pathlib import Path

from driverpay.bench_report import BaselineRun, KafkaRun, SteadyRate, build_report, markdown
from driverpay.cpu_window import (
    CpuWindow,
    largest,
    service,
    shares,
    snapshot,
    stat_ticks,
    thread_stage,
    threads,
)

HZ = os.sysconf("SC_CLK_TCK")


def stat_line(pid: int, name: str, utime: int, stime: int) -> str:
    # stat(5): pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime ...; a comm with spaces and ")" must not shift the fields
    return f"{pid} ({name}) S 1 1 1 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0 0\n"


def write_proc(
    root: Path,
    processes: dict[int, tuple[str, int]],
    tasks: dict[int, dict[int, tuple[str, int]]] | None = None,
) -> None:
    """A made-up /proc: each pid's command line and ticks, and its threads' names and ticks."""
    for pid, (cmdline, ticks) in processes.items():
        folder = root / str(pid)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode() + b"\0")
        (folder / "stat").write_text(stat_line(pid, "java (x) y", ticks, 0))
        for tid, (name, thread_ticks) in (tasks or {}).get(pid, {}).items():
            (folder / "task" / str(tid)).mkdir(parents=True, exist_ok=True)
            (folder / "task" / str(tid) / "stat").write_text(stat_line(tid, name, thread_ticks, 0))
    (root / "self").mkdir(exist_ok=True)  # not a pid: skipped


def test_processes_are_told_apart_by_their_command_line() -> None:
    assert service("java -cp x org.apache.flink.runtime.taskexecutor.TaskManagerRunner") == (
        "taskmanagers"
    )
    assert service("java -cp x kafka.Kafka config/server.properties") == "kafka"
    assert service("/usr/lib/postgresql/15/bin/postgres -D data") == "postgres"
    assert service(
        "java org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint"
    ) == ("jobmanager")
    assert service("/x/.venv/bin/python -m driverpay.bench --parallelism 2") == "bench"
    assert service("python -m pytest") == "other"


def test_ticks_are_read_after_the_last_parenthesis() -> None:
    assert stat_ticks(stat_line(7, "a) (b", 120, 30)) == 150


def test_shares_count_only_processes_alive_at_both_ends() -> None:
    before = {1: ("taskmanagers", 100), 2: ("kafka", 50), 3: ("other", 10)}
    after = {1: ("taskmanagers", 100 + 3 * HZ), 2: ("kafka", 50 + HZ // 2), 4: ("other", 10**6)}
    assert shares(before, after, seconds=2.0, hz=HZ) == {"kafka": 25.0, "taskmanagers": 150.0}


def test_the_window_snapshots_where_the_count_crosses_its_ends(tmp_path: Path) -> None:
    tm = "java org.apache.flink.runtime.taskexecutor.TaskManagerRunner"
    stages = {21: "order-lifecycle", 22: "daily-totals ->", 23: "C1 CompilerThre"}
    write_proc(
        tmp_path,
        {10: (tm, 0), 11: ("/usr/bin/postgres", 0)},
        {10: {tid: (name, 0) for tid, name in stages.items()}},
    )
    now = iter([100.0, 110.0])
    window = CpuWindow(start=600, end=950, clock=lambda: next(now), proc=tmp_path)
    window.observe(300)  # before the window: nothing taken
    assert window.result() == {}
    window.observe(650)  # the first count past the start
    thread_ticks = {21: 8 * HZ, 22: 6 * HZ, 23: HZ // 10}
    write_proc(
        tmp_path,
        {10: (tm, 15 * HZ), 11: ("/usr/bin/postgres", HZ)},
        {10: {tid: (stages[tid], thread_ticks[tid]) for tid in stages}},
    )
    window.observe(900)  # inside: nothing taken
    window.observe(960)  # the first count past the end
    window.observe(1000)  # after: ignored
    result = window.result()
    assert result["seconds"] == 10.0
    assert result["events"] == 310
    assert result["percent_of_a_core"] == {"postgres": 10.0, "taskmanagers": 150.0}
    assert result["cpu_us_per_event"] == round(16 / 310 * 1e6, 1)
    assert result["taskmanager_threads"] == {
        "order-lifecycle": 80.0,
        "daily-totals": 60.0,
        "other threads": 1.0,
    }


def test_a_threads_stage_is_its_name_without_subtask_chain_or_number() -> None:
    def stage(name: str) -> str:
        return thread_stage(stat_line(7, name, 0, 0))

    assert stage("order-lifecycle") == "order-lifecycle"
    assert stage("daily-totals ->") == "daily-totals"
    assert stage("pay-corrections") == "pay-corrections"
    assert stage("Sink: pg_pay_li") == "Sink: pg_pay_li"
    assert stage("a (1/2)#0") == "a"
    assert stage("GC Thread#1") == "GC Thread"
    assert stage("->") == "->"  # nothing would be left


def test_threads_of_a_process_gone_between_reads_are_left_out(tmp_path: Path) -> None:
    write_proc(tmp_path, {10: ("java x", 0)}, {10: {11: ("order-lifecycle", 5)}})
    assert threads([10, 99], tmp_path) == {(10, 11): ("order-lifecycle", 5)}


def test_small_thread_shares_are_summed_and_the_rest_ranked() -> None:
    assert largest({"a": 1.5, "b": 30.0, "c": 0.4, "d": 45.2}) == {
        "d": 45.2,
        "b": 30.0,
        "other threads": 1.9,
    }
    assert largest({"a": 10.0}) == {"a": 10.0}


def test_a_snapshot_of_the_real_proc_sees_this_process() -> None:
    assert os.getpid() in snapshot()


def test_the_report_prints_a_cpu_line_per_kafka_run_that_has_one() -> None:
    cpu = {
        "seconds": 40.0,
        "events": 150_000.0,
        "percent_of_a_core": {"kafka": 15.0, "taskmanagers": 164.0},
        "cpu_us_per_event": 477.3,
        "taskmanager_threads": {"order-lifecycle": 62.4, "daily-totals": 51.0},
    }
    rate = SteadyRate(3_000.0, 50.0, 1.5e5, 5.0)
    kafka = [KafkaRun(1, 1000, rate), KafkaRun(2, 1000, rate, cpu=cpu)]
    baseline = [BaselineRun(2, 1000, SteadyRate(50_000.0, 3.0, 1.5e5, 1.0))]
    text = markdown(build_report({"date": "", "machine": {}, "config": {}}, kafka, baseline, [], 1))
    assert text.splitlines()[-2:] == [
        "CPU over the warm window, p=2 (40.0 s): kafka 15 %, taskmanagers 164 %; 477 µs per event",
        "TaskManager threads, p=2: order-lifecycle 62 %, daily-totals 51 %",
    ]
    assert "p=1 (" not in text
