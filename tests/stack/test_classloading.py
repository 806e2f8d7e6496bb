"""A session cluster loads the connectors once: submitting the job again adds no copy of them.

Shipped with every job, the Kafka, JDBC and Parquet jars were loaded again into each job's own
class loader, which the cluster never released. Each submission grew the JobManager's Metaspace
by 10-12 MB and a TaskManager's by 15-16 MB (read without a forced GC), until
``OutOfMemoryError: Metaspace`` took the cluster down with its running job. The jars are now in
the cluster's ``lib/`` (scripts/stack/flink-env.sh) and a job ships only what that lacks
(jobs/jars.py): a submission then costs under 1 MB of either.
"""

from __future__ import annotations

import time

import pytest

from tests.stack import stack

pytestmark = pytest.mark.stack
MB = 2**20
# Per submission, no forced GC: 10-16 MB with the connectors shipped, 0.5-0.9 MB from lib/
# (docs/design.md, "Upgrades and rescaling").
MOST_GROWTH_MB = 4.0


def metaspace_mb(metrics_path: str) -> float:
    """``Status.JVM.Memory.Metaspace.Used`` of one Flink process, from the REST API."""
    [metric] = stack.flink(f"{metrics_path}?get=Status.JVM.Memory.Metaspace.Used")
    return float(metric["value"]) / MB


def metaspace_by_process() -> dict[str, float]:
    """Metaspace of the JobManager and of each TaskManager, by process."""
    processes = {"jobmanager": "/jobmanager/metrics"}
    for tm in stack.flink("/taskmanagers")["taskmanagers"]:
        processes[tm["id"]] = f"/taskmanagers/{tm['id']}/metrics"
    return {name: metaspace_mb(path) for name, path in processes.items()}


def submitted_and_running(group: str) -> str:
    """A fresh start of the job, once every task runs and its sinks have connected."""
    job = stack.fresh_start(group)
    stack.wait_for(
        lambda: all(v["status"] == "RUNNING" for v in stack.flink(f"/jobs/{job}")["vertices"]),
        120,
        "every task of the job to run",
    )
    time.sleep(10)
    return job


def test_submitting_the_job_again_loads_no_second_copy_of_the_connectors(
    real_stack: None,
) -> None:
    try:
        submitted_and_running("driverpay-classes-first")
        before = metaspace_by_process()
        submitted_and_running("driverpay-classes-again")
        after = metaspace_by_process()
    finally:
        stack.cancel_jobs()
    assert after.keys() == before.keys(), "a Flink process was replaced between the submissions"
    grown = {name: round(after[name] - before[name], 1) for name in before}
    assert all(mb < MOST_GROWTH_MB for mb in grown.values()), f"Metaspace grew (MB): {grown}"
