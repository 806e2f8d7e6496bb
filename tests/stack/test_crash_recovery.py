"""kill -9 of the TaskManager mid-stream, on the real stack.

The job resumes from its last checkpoint; committed outputs still hold every line exactly once
and the totals still equal the truth.
"""

from __future__ import annotations

import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from driverpay.produce import produce
from tests.stack import stack
from tests.stack.test_deployment import pg_totals

pytestmark = pytest.mark.stack


def lines_in_postgres() -> int:
    with psycopg.connect(stack.PG_DSN) as conn:
        return int(conn.execute("SELECT count(*) FROM pay_lines").fetchone()[0])


def test_killing_the_taskmanager_mid_stream_neither_loses_nor_doubles_pay(
    real_stack: None, tmp_path: Path
) -> None:
    day = stack.generated_day(tmp_path, seed=23, orders=5000, drivers=150)
    job = stack.fresh_start("driverpay-crash")
    stack.wait_for(lambda: stack.completed_checkpoints(job) >= 1, 120, "the first checkpoint")

    # Events arrive while the job runs (about 25 s of them), so the crash lands mid-stream.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="producer")
    producer = pool.submit(produce, day.lines, stack.KAFKA, rate=700)
    pool.shutdown(wait=False)
    checkpoints_before = stack.completed_checkpoints(job)
    stack.wait_for(
        lambda: stack.completed_checkpoints(job) > checkpoints_before and lines_in_postgres() > 0,
        120,
        "a checkpoint with pay in it",
    )
    paid_before_crash = lines_in_postgres()
    victims = stack.taskmanager_pids()  # one, unless an earlier run (make bench) scaled out
    assert victims, "no TaskManager to kill"
    for victim in victims:  # whichever runs the job dies
        os.kill(victim, signal.SIGKILL)
    subprocess.run(
        [str(stack.ROOT / "scripts/stack/flink.sh"), "taskmanager"], check=True, timeout=60
    )
    producer.result(timeout=120)  # raises what the producer raised; all the day is in Kafka
    assert paid_before_crash < day.pay_lines, "the crash came after all the pay"

    stack.wait_for(
        lambda: pg_totals() == day.expected, 420, "totals equal truth after recovery", every=3
    )
    stack.assert_ledger_exactly_once(day)
    history = stack.flink(f"/jobs/{job}/exceptions")
    assert history["exceptionHistory"]["entries"], "the job never saw the failure"
