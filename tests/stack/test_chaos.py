"""One generated day through every fault at once, on the real stack.

While the day streams in, in fifths: the TaskManager is killed (kill -9) several times, once
while a checkpoint is in flight; the JobManager is killed and the job recovered from its latest
retained checkpoint; the Kafka broker is killed and restarted; PostgreSQL is stopped for a minute.
Afterwards the totals equal the truth to the cent, the committed ledger holds every line once and
the dead-letter topic holds every malformed record. Each run appends a line to
``.out/chaos/runs.jsonl`` (kills survived, mismatched driver-days) for the README's record.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from driverpay.produce import produce
from tests.stack import stack
from tests.stack.test_deployment import pg_totals

pytestmark = pytest.mark.stack
SCRIPTS = stack.ROOT / "scripts/stack"
RATE = 1000  # events/s: each fifth lands while the job is busy


def jobmanager_log() -> Path:
    """The JobManager's current log file (a restarted JobManager starts a new one)."""
    logs = (stack.ROOT / ".run/flink/log").glob("flink-*-standalonesession-*.log")
    return max(logs, key=lambda f: f.stat().st_mtime)


class Chaos:
    """The faults, each counted as it lands."""

    def __init__(self, job: str) -> None:
        self.job = job
        self.kills: list[str] = []

    def kill_taskmanager(self) -> None:
        victim = stack.wait_for(stack.taskmanager_pids, 120, "a live TaskManager")[0]
        os.kill(victim, signal.SIGKILL)
        self.kills.append("taskmanager")

    def kill_taskmanager_during_a_checkpoint(self) -> None:
        """Kill within milliseconds of the JobManager logging a checkpoint's trigger.

        Checkpoints here take ~50 ms and the REST statistics are cached for seconds, so the
        JobManager's log is the fast signal. The kill counts only if that checkpoint then never
        completed; otherwise it was one more plain kill and the next checkpoint is tried.
        """
        for _ in range(4):
            checkpoint = self._kill_on_next_trigger()
            self.checkpointed()
            completed = f"Completed checkpoint {checkpoint} for job {self.job}".encode()
            if completed not in jobmanager_log().read_bytes():
                self.kills[-1] = "taskmanager during a checkpoint"
                return
        raise AssertionError("every kill came after its checkpoint had completed")

    def _kill_on_next_trigger(self) -> int:
        trigger = re.compile(rb"Triggering checkpoint (\d+) .*" + self.job.encode())
        with jobmanager_log().open("rb") as log:
            log.seek(0, os.SEEK_END)
            seen, deadline = b"", time.monotonic() + 60
            while time.monotonic() < deadline:
                seen += log.read()
                if match := trigger.search(seen):
                    self.kill_taskmanager()
                    return int(match.group(1))
                time.sleep(0.002)
        raise AssertionError("no checkpoint was triggered within 60 s")

    def kill_jobmanager_and_recover(self) -> None:
        for pid_file in (stack.ROOT / ".run/flink/pid").glob("*standalonesession*.pid"):
            for pid in pid_file.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        self.kills.append("jobmanager")
        time.sleep(3)
        # as the README says: make up (its TaskManagers outlived it), then recover.sh
        subprocess.run([SCRIPTS / "flink.sh", "start"], check=True, timeout=240)
        out = subprocess.run(
            [SCRIPTS / "recover.sh"], check=True, timeout=180, capture_output=True, text=True
        )
        self.job = next(ln.split()[-1] for ln in out.stdout.splitlines() if "JobID" in ln)

    def kill_kafka_for_20_s(self) -> None:
        pid = int((stack.ROOT / ".run/kafka/kafka.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        self.kills.append("kafka broker")
        time.sleep(20)
        subprocess.run([SCRIPTS / "kafka.sh", "start"], check=True, timeout=120)

    def postgres_down_for_a_minute(self, meanwhile: Callable[[], None]) -> None:
        subprocess.run([SCRIPTS / "postgres.sh", "stop"], check=True, timeout=60)
        self.kills.append("postgresql stopped")
        back_at = time.monotonic() + 60
        meanwhile()
        time.sleep(max(0.0, back_at - time.monotonic()))
        subprocess.run([SCRIPTS / "postgres.sh", "start"], check=True, timeout=120)

    def checkpointed(self) -> None:
        done = stack.completed_checkpoints(self.job)
        stack.wait_for(
            lambda: stack.completed_checkpoints(self.job) > done, 180, "a completed checkpoint"
        )


def test_one_day_through_every_fault_pays_exactly_the_truth(
    real_stack: None, tmp_path: Path
) -> None:
    day = stack.generated_day(tmp_path, seed=53, orders=4000, drivers=120)
    fifth = len(day.lines) // 5
    part = [day.lines[i * fifth : (i + 1) * fifth] for i in range(4)] + [day.lines[4 * fifth :]]
    chaos = Chaos(stack.fresh_start("driverpay-chaos"))
    stack.wait_for(lambda: stack.completed_checkpoints(chaos.job) >= 1, 120, "first checkpoint")

    produce(part[0], stack.KAFKA, rate=RATE)
    chaos.kill_taskmanager()
    chaos.checkpointed()
    produce(part[1], stack.KAFKA, rate=RATE)
    chaos.kill_taskmanager_during_a_checkpoint()
    chaos.checkpointed()
    produce(part[2], stack.KAFKA, rate=RATE)
    chaos.kill_jobmanager_and_recover()
    chaos.checkpointed()
    chaos.kill_kafka_for_20_s()
    produce(part[3], stack.KAFKA, rate=RATE)
    chaos.postgres_down_for_a_minute(lambda: produce(part[4], stack.KAFKA, rate=RATE))
    chaos.kill_taskmanager()

    try:
        stack.wait_for(lambda: pg_totals() == day.expected, 600, "totals equal truth", every=3)
    finally:
        record(chaos, day)
    stack.assert_ledger_exactly_once(day)
    dead = stack.committed_records("order-events-dlq", day.truth["counts"]["malformed"])
    assert len(dead) == day.truth["counts"]["malformed"]
    assert len({r["position"] for r in dead}) == len(dead)
    assert chaos.kills.count("taskmanager") + chaos.kills.count("jobmanager") >= 3


def record(chaos: Chaos, day: stack.Day) -> None:
    """Append this run's kills and mismatched driver-days to .out/chaos/runs.jsonl."""
    totals = pg_totals()
    expected = day.expected
    mismatched = sum(
        1 for key in expected.keys() | totals.keys() if totals.get(key) != expected.get(key)
    )
    out = stack.ROOT / ".out" / "chaos"
    out.mkdir(parents=True, exist_ok=True)
    run = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": len(day.lines),
        "faults": chaos.kills,
        "driver_days": len(expected),
        "mismatched_driver_days": mismatched,
    }
    with (out / "runs.jsonl").open("a") as f:
        f.write(json.dumps(run) + "\n")
