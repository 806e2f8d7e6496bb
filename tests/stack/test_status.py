"""``driverpay status --json`` against the real job: Flink REST, the reporter, Kafka, PostgreSQL.

A small messy day goes through the submitted job under its own consumer group; status must see
the job RUNNING, lag for every input partition, counters that moved, and call the job healthy
once the day is processed. After the job is cancelled, status exits 1 naming the job rule.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driverpay.produce import produce
from driverpay.restore_point import latest_restore_point
from tests.stack import stack

pytestmark = pytest.mark.stack
DRIVERPAY = str(Path(sys.executable).parent / "driverpay")


@dataclass
class Running:
    """The submitted job, its consumer group, and an empty reconcile folder of its own."""

    job_id: str
    group: str
    reconcile_dir: Path


@pytest.fixture(scope="module")
def running(real_stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """Empty topics and tables, produce a small day, submit; cancel the job afterwards."""
    work = tmp_path_factory.mktemp("status")
    day = stack.generated_day(work, seed=23, orders=300, drivers=30)
    stack.cancel_jobs()
    stack.reset_topics()
    stack.reset_tables()
    produce(day.lines, stack.KAFKA)
    group = f"driverpay-status-{time.time_ns()}"
    job_id = stack.submit(group_id=group)
    (work / "reconcile").mkdir()
    try:
        yield Running(job_id, group, work / "reconcile")
    finally:
        stack.cancel_jobs()


def status(running: Running, *extra: str) -> tuple[int, dict[str, Any]]:
    """Exit code and JSON answer of ``driverpay status --json`` for this job's group."""
    result = subprocess.run(
        [
            DRIVERPAY,
            "status",
            "--json",
            "--window",
            "2",
            "--group",
            running.group,
            "--reconcile-dir",
            str(running.reconcile_dir),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_status_sees_the_running_job_its_lag_and_counters_and_calls_it_healthy(
    running: Running,
) -> None:
    def processed() -> dict[str, Any] | None:
        """Healthy, the day read, its offsets committed, records in per subtask published.

        The JobManager refreshes the REST API's task metrics every 10 s, so the per-subtask
        counts trail the reporter's counters for a while.
        """
        code, body = status(running)
        committed = [p["committed"] for p in body["lags"] if p["topic"] == "order-events"]
        done = committed and None not in committed and sum(p["lag"] for p in body["lags"]) == 0
        lifecycle = [v for v in body["vertices"] if v["name"].startswith("order-lifecycle")]
        published = lifecycle and min(lifecycle[0]["records_in"]) > 0
        return body if code == 0 and done and published else None

    body = stack.wait_for(processed, timeout=240, what="status: healthy, day processed", every=3)
    assert body["job"]["job_id"] == running.job_id
    assert body["job"]["state"] == "RUNNING"
    assert body["findings"] == []
    partitions = {(p["topic"], p["partition"]) for p in body["lags"]}
    assert partitions == {("order-events", p) for p in range(4)} | {
        ("pay-corrections", p) for p in range(2)
    }
    assert body["counters"]["events_valid"]["total"] > 0
    assert body["counters"]["events_malformed"]["total"] > 0
    assert body["counters"]["duplicates"]["total"] > 0
    assert body["counters"]["poison_records"]["total"] == 0
    assert body["job"]["last_checkpoint_age_s"] is not None
    lifecycle = next(v for v in body["vertices"] if v["name"].startswith("order-lifecycle"))
    assert len(lifecycle["records_in"]) == 2
    assert min(lifecycle["records_in"]) > 0
    assert body["read_model"]["driver_days"] > 0


def test_a_second_submit_is_refused_while_the_job_runs(running: Running) -> None:
    """Two jobs would read every partition and commit each pay line to ``pay-ledger`` twice."""
    with pytest.raises(subprocess.CalledProcessError) as refused:
        stack.submit(group_id=f"{running.group}-second")
    assert "a driverpay job is already running" in refused.value.stderr
    assert running.job_id in refused.value.stderr
    active = [
        j for j in stack.flink("/jobs/overview")["jobs"]
        if j["name"] == "driverpay" and j["state"] not in ("FINISHED", "CANCELED", "FAILED")
    ]  # fmt: skip
    assert [j["jid"] for j in active] == [running.job_id]


def test_pruning_removes_a_dead_jobs_checkpoints_and_the_running_job_checkpoints_on(
    running: Running,
) -> None:
    """``driverpay checkpoints prune`` on the live cluster: its REST answer protects the job."""
    flink_dir = stack.ROOT / ".run" / "flink"
    stack.wait_for(lambda: stack.completed_checkpoints(running.job_id) >= 1, 90, "a checkpoint")
    dead = flink_dir / "checkpoints" / f"{time.time_ns():032x}"[-32:]
    (dead / "chk-4").mkdir(parents=True)
    (dead / "chk-4" / "_metadata").write_bytes(b"a cancelled job's last checkpoint")
    pruned = subprocess.run(
        [DRIVERPAY, "checkpoints", "prune", "--keep-jobs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert pruned.returncode == 0, pruned.stderr
    assert f"removed {dead.name}" in pruned.stderr
    assert f"kept {running.job_id}: its job is not finished" in pruned.stderr
    assert not dead.exists()
    before = stack.completed_checkpoints(running.job_id)
    stack.wait_for(
        lambda: stack.completed_checkpoints(running.job_id) > before, 90, "a checkpoint after"
    )
    assert stack.flink(f"/jobs/{running.job_id}")["state"] == "RUNNING"
    restore = latest_restore_point(flink_dir)
    assert restore is not None
    assert restore.parent.name == running.job_id


def test_status_exits_1_once_the_job_is_cancelled(running: Running) -> None:
    stack.flink(f"/jobs/{running.job_id}?mode=cancel", method="PATCH")
    stack.wait_for(
        lambda: stack.flink(f"/jobs/{running.job_id}")["state"] == "CANCELED", 60, "cancel"
    )
    code, body = status(running, "--job", running.job_id)
    assert code == 1
    assert body["job"]["state"] == "CANCELED"
    assert [f["rule"] for f in body["findings"]] == ["job"]


def test_a_stateless_submit_on_the_cancelled_jobs_group_is_refused(running: Running) -> None:
    """A job without state would read on from the group's offsets.

    Its first total of each driver-day would then overwrite the full one in PostgreSQL.
    """
    stack.wait_for(
        lambda: stack.group_lag(running.group, "order-events") == 0, 240, "the day committed"
    )
    stack.cancel_jobs()
    with pytest.raises(subprocess.CalledProcessError) as refused:
        stack.submit(group_id=running.group)
    assert f"consumer group '{running.group}' has committed offsets" in refused.value.stderr
    assert "order-events/" in refused.value.stderr
    jobs = stack.flink("/jobs/overview")["jobs"]
    assert [j["jid"] for j in jobs if j["state"] not in ("FINISHED", "CANCELED", "FAILED")] == []
