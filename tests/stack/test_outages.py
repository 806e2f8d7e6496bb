"""Service outages mid-stream, on the real stack.

PostgreSQL down, the Kafka broker killed, the JobManager killed (recovered with
scripts/stack/recover.sh): each time the totals converge to the truth and the committed ledger
holds every line once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from driverpay.generate import GenConfig, generate
from driverpay.produce import produce, read_lines
from tests.stack import stack
from tests.stack.test_deployment import pg_totals
from udfs.zones import load_zones

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
    subprocess.run([SCRIPTS / "flink.sh", "stop"], check=True, timeout=120)
    subprocess.run([SCRIPTS / "flink.sh", "start"], check=True, timeout=180)
    subprocess.run([SCRIPTS / "recover.sh"], check=True, timeout=180, capture_output=True)


@pytest.mark.parametrize(
    "outage",
    [stop_postgres_for_30_s, kill_kafka_for_20_s, kill_jobmanager_and_recover],
    ids=lambda f: f.__name__,
)
def test_pay_converges_to_the_truth_exactly_once_after(
    outage: Callable[[], None], real_stack: None, tmp_path: Path
) -> None:
    events, truth_path = tmp_path / "events.jsonl", tmp_path / "truth.json"
    generate(
        GenConfig(seed=41, orders=3000, drivers=100),
        load_zones(stack.ROOT / "config/zones.yaml"),
        events,
        truth_path,
    )
    truth = json.loads(truth_path.read_text())
    expected = {
        (r["driver_id"], r["pay_date"]): (Decimal(r["total"]), r["line_count"])
        for r in truth["daily"]
    }
    stack.cancel_jobs()
    stack.reset_topics()
    stack.reset_tables()
    job = stack.submit(group_id=f"driverpay-outage-{time.time_ns()}")
    stack.wait_for(
        lambda: stack.flink(f"/jobs/{job}/checkpoints")["counts"]["completed"] >= 1,
        120,
        "the first checkpoint",
    )
    lines = read_lines(events)
    half = len(lines) // 2
    produce(lines[:half], stack.KAFKA, rate=RATE)
    outage()
    produce(lines[half:], stack.KAFKA, rate=RATE)

    stack.wait_for(
        lambda: pg_totals() == expected, 420, "totals equal truth after the outage", every=3
    )
    records = stack.committed_records("pay-ledger", truth["counts"]["pay_lines"], timeout=180)
    ids = Counter(r["line_id"] for r in records)
    assert max(ids.values()) == 1
    assert len(ids) == truth["counts"]["pay_lines"]
