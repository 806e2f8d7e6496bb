"""Service outages mid-stream, on the real stack.

PostgreSQL down, the Kafka broker killed, the JobManager killed (recovered with
scripts/stack/recover.sh): each time the totals converge to the truth and the committed ledger
holds every line once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from driverpay.produce import produce
from tests.stack import stack
from tests.stack.test_deployment import pg_totals

pytestmark = pytest.mark.stack
SCRIPTS = stack.ROOT / "scripts/stack"
RATE = 1500  # events/s: the outage lands while the job is busy


def stop_postgres_for_30_s() -> None:
    subprocess.run([SCRIPTS / "postgres.sh", "stop"], check=True, timeout=60)
    time.sleep(30)
    subprocess.run([SCRIPTS / "postgres.sh", "start"], check=True, timeout=120)


def kill_kafka_for_20_s() -> None:
    pid = int((stack.ROOT / ".run/kafka/kafka.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    time.sleep(20)
    subprocess.run([SCRIPTS / "kafka.sh", "start"], check=True, timeout=120)


def kill_jobmanager_and_recover() -> None:
    for pid_file in (stack.ROOT / ".run/flink/pid").glob("*standalonesession*.pid"):
        for pid in pid_file.read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    time.sleep(3)
    # as the README says: make up (its TaskManagers outlived it), then recover.sh
    subprocess.run([SCRIPTS / "flink.sh", "start"], check=True, timeout=240)
    subprocess.run([SCRIPTS / "recover.sh"], check=True, timeout=180, capture_output=True)


@pytest.mark.parametrize(
    "outage",
    [stop_postgres_for_30_s, kill_kafka_for_20_s, kill_jobmanager_and_recover],
    ids=lambda f: f.__name__,
)
def test_pay_converges_to_the_truth_exactly_once_after(
    outage: Callable[[], None], real_stack: None, tmp_path: Path
) -> None:
    day = stack.generated_day(tmp_path, seed=41, orders=3000, drivers=100)
    group = f"driverpay-outage-{time.time_ns()}"
    job = stack.fresh_start_under(group)
    stack.wait_for(lambda: stack.completed_checkpoints(job) >= 1, 120, "the first checkpoint")
    half = len(day.lines) // 2
    produce(day.lines[:half], stack.KAFKA, rate=RATE)
    outage()
    produce(day.lines[half:], stack.KAFKA, rate=RATE)

    stack.wait_for(
        lambda: pg_totals() == day.expected, 420, "totals equal truth after the outage", every=3
    )
    stack.assert_ledger_exactly_once(day)
    # the job (a recovered one too) reads and commits under the group it was submitted with
    stack.wait_for(
        lambda: stack.group_lag(group, "order-events") == 0,
        120,
        f"group {group} committed every event",
    )
