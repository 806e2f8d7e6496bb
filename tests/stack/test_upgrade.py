"""Stop with a savepoint halfway through a day, resubmit from it, finish the day.

Orders whose acceptance came before the savepoint and whose delivery after it must still be paid
once: the stable operator uids carry every order's state into the new job.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from driverpay.produce import produce
from tests.stack import stack
from tests.stack.test_deployment import pg_totals

pytestmark = pytest.mark.stack


def test_resuming_from_a_savepoint_carries_open_orders_across_the_upgrade(
    real_stack: None, tmp_path: Path
) -> None:
    day = stack.generated_day(tmp_path, seed=31, orders=1200, drivers=60)
    half = len(day.lines) // 2
    first = stack.fresh_start("driverpay-upgrade")
    produce(day.lines[:half], stack.KAFKA)
    stack.wait_for(lambda: stack.completed_checkpoints(first) >= 2, 120, "first job's checkpoints")
    savepoint = stack.savepoint(first)
    assert pg_totals() != day.expected, "the first half already paid the whole day"

    second = stack.submit(group_id=f"driverpay-upgraded-{time.time_ns()}", extra=["-s", savepoint])
    produce(day.lines[half:], stack.KAFKA)
    stack.wait_for(
        lambda: pg_totals() == day.expected, 300, "totals equal truth after the upgrade", every=3
    )
    stack.assert_ledger_exactly_once(day)
    assert stack.flink(f"/jobs/{second}")["state"] == "RUNNING"
