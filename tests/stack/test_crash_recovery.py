"""kill -9 of the TaskManager mid-stream, on the real stack.

The job resumes from its last checkpoint; committed outputs still hold every line exactly once
and the totals still equal the truth.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from driverpay.generate import GenConfig, generate
from driverpay.produce import produce, read_lines
from tests.stack import stack
from tests.stack.test_deployment import pg_totals
from udfs.zones import load_zones

pytestmark = pytest.mark.stack
PID_DIR = stack.ROOT / ".run/flink/pid"


def taskmanager_pids() -> list[int]:
    pids = []
    for line in (
        (PID_DIR / f"flink-{os.environ.get('USER') or 'root'}-taskexecutor.pid").read_text().split()
    ):
        cmdline = Path(f"/proc/{line}/cmdline")
        if cmdline.exists() and b"TaskManagerRunner" in cmdline.read_bytes():
            pids.append(int(line))
    return pids


def lines_in_postgres() -> int:
    with psycopg.connect(stack.PG_DSN) as conn:
        return int(conn.execute("SELECT count(*) FROM pay_lines").fetchone()[0])


def completed_checkpoints(job: str) -> int:
    return int(stack.flink(f"/jobs/{job}/checkpoints")["counts"]["completed"])


def test_killing_the_taskmanager_mid_stream_neither_loses_nor_doubles_pay(
    real_stack: None, tmp_path: Path
) -> None:
    events, truth_path = tmp_path / "events.jsonl", tmp_path / "truth.json"
    generate(
        GenConfig(seed=23, orders=5000, drivers=150),
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
    job = stack.submit(group_id=f"driverpay-crash-{time.time_ns()}")
    stack.wait_for(lambda: completed_checkpoints(job) >= 1, 120, "the first checkpoint")

    # Events arrive while the job runs (about 25 s of them), so the crash lands mid-stream.
    lines = read_lines(events)
    producer = threading.Thread(target=produce, args=(lines, stack.KAFKA), kwargs={"rate": 700})
    producer.start()
    checkpoints_before = completed_checkpoints(job)
    stack.wait_for(
        lambda: completed_checkpoints(job) > checkpoints_before and lines_in_postgres() > 0,
        120,
        "a checkpoint with pay in it",
    )
    paid_before_crash = lines_in_postgres()
    [victim] = taskmanager_pids()
    os.kill(victim, signal.SIGKILL)
    subprocess.run(
        [str(stack.ROOT / "scripts/stack/flink.sh"), "taskmanager"], check=True, timeout=60
    )
    producer.join(timeout=120)
    assert paid_before_crash < truth["counts"]["pay_lines"], "the crash came after all the pay"

    stack.wait_for(
        lambda: pg_totals() == expected, 420, "totals equal truth after recovery", every=3
    )
    records = stack.committed_records("pay-ledger", truth["counts"]["pay_lines"], timeout=180)
    ids = Counter(r["line_id"] for r in records)
    assert ids.most_common(1)[0][1] == 1, "a line was committed twice"
    assert len(ids) == truth["counts"]["pay_lines"]
    history = stack.flink(f"/jobs/{job}/exceptions")
    assert history["exceptionHistory"]["entries"], "the job never saw the failure"
