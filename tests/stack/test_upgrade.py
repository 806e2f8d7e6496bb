"""``make upgrade`` mid-day: stop with a savepoint, fresh TaskManagers, resubmit from it.

Orders accepted before the upgrade and delivered after it are paid once, running totals go on
from where they were, and events seen before the upgrade that arrive again after it are still
recognised as duplicates: the stable operator uids carry every key's state into the new job.
Rescaling is the same path with another parallelism (2 -> 4 -> 1 across two TaskManagers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from driverpay import status
from driverpay.produce import produce
from tests.stack import stack
from tests.stack.test_deployment import pg_totals

pytestmark = pytest.mark.stack


def checkpointed(job: str, at_least: int = 2) -> None:
    stack.wait_for(lambda: stack.completed_checkpoints(job) >= at_least, 120, "checkpoints")


def test_make_upgrade_mid_day_carries_open_orders_totals_and_dedup_state(
    real_stack: None, tmp_path: Path
) -> None:
    day = stack.generated_day(tmp_path, seed=31, orders=1200, drivers=60)
    half = len(day.lines) // 2
    assert len(stack.orders_open_across(day.lines, half)) > 10, "no order spans the upgrade"
    first = stack.fresh_start("driverpay-upgrade")
    produce(day.lines[:half], stack.KAFKA)
    checkpointed(first)
    paid_before = pg_totals()
    assert paid_before, "the first half paid nothing before the upgrade"
    assert paid_before != day.expected, "the first half already paid the whole day"

    second = stack.upgrade()
    assert second != first
    assert stack.flink(f"/jobs/{first}")["state"] == "FINISHED", "not stopped with a savepoint"
    # what `driverpay status` reports as held: the restored orders, not a counter back at zero
    held = stack.wait_for(
        lambda: status.prometheus_totals(status.DEFAULT_PROMETHEUS, second).get("open_orders"),
        60,
        "the new job's state gauges",
    )
    assert held >= len(stack.orders_open_across(day.lines, half))
    replayed = day.lines[: half // 3]  # seen before the upgrade: duplicates now
    produce(day.lines[half:] + replayed, stack.KAFKA)

    stack.wait_for(
        lambda: pg_totals() == day.expected, 300, "totals equal truth after the upgrade", every=3
    )
    stack.assert_ledger_exactly_once(day)
    assert stack.flink(f"/jobs/{second}")["state"] == "RUNNING"


def test_rescaling_from_two_to_four_to_one_keeps_every_key_and_total_exact(
    real_stack: None, tmp_path: Path
) -> None:
    day = stack.generated_day(tmp_path, seed=37, orders=1500, drivers=80)
    thirds = [len(day.lines) // 3, 2 * len(day.lines) // 3]
    first = stack.fresh_start("driverpay-rescale")
    try:
        produce(day.lines[: thirds[0]], stack.KAFKA)
        checkpointed(first)
        assert stack.job_parallelism(first) == 2

        wide = stack.upgrade(parallelism=4)  # a second TaskManager joins
        assert stack.job_parallelism(wide) == 4
        assert stack.flink("/overview")["taskmanagers"] == 2
        produce(day.lines[thirds[0] : thirds[1]] + day.lines[: thirds[0] // 4], stack.KAFKA)
        checkpointed(wide)

        narrow = stack.upgrade(parallelism=1)
        assert stack.job_parallelism(narrow) == 1
        produce(day.lines[thirds[1] :] + day.lines[thirds[0] : thirds[1] : 5], stack.KAFKA)
        stack.wait_for(
            lambda: pg_totals() == day.expected, 300, "totals equal truth after 2->4->1", every=3
        )
        stack.assert_ledger_exactly_once(day)
    finally:
        stack.cancel_jobs()
        stack.scale_taskmanagers(1)
