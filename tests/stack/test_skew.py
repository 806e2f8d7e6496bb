"""A day with one very hot driver and one hot order: paid exactly, and flagged as skew.

The hot driver (70% of all orders) lands on one subtask of ``daily-totals`` (keyed by driver and
day); the hot order (a retry storm of 30,000 copies of its delivery) lands on one subtask of
``order-lifecycle`` (keyed by order). Per-key order is kept: nothing is split, the duplicates are
dropped by the hot order's own state, and ``driverpay status`` names both vertices.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from driverpay.produce import produce
from tests.stack import stack
from tests.stack.test_deployment import pg_totals

pytestmark = pytest.mark.stack
DRIVERPAY = str(Path(sys.executable).parent / "driverpay")
RETRIES = 30_000


def status(group: str, reconcile_dir: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            DRIVERPAY,
            "status",
            "--json",
            "--window",
            "1",
            "--group",
            group,
            "--reconcile-dir",
            str(reconcile_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return dict(json.loads(result.stdout))


def skewed_vertices(body: dict[str, Any]) -> set[str]:
    flagged = [f["message"] for f in body["findings"] if f["rule"] == "skew"]
    return {name for name in ("order-lifecycle", "daily-totals") if any(name in m for m in flagged)}


def test_a_hot_driver_and_a_hot_order_are_paid_exactly_and_reported_as_skew(
    real_stack: None, tmp_path: Path
) -> None:
    day = stack.generated_day(
        tmp_path, seed=61, orders=1500, drivers=60, hot_driver_share=0.7, hot_order_retries=RETRIES
    )
    group = f"driverpay-skew-{time.time_ns()}"
    stack.cancel_jobs()
    stack.reset_topics()
    stack.reset_tables()
    job = stack.submit(group_id=group)
    try:
        produce(day.lines, stack.KAFKA)
        stack.wait_for(lambda: pg_totals() == day.expected, 300, "totals equal truth", every=3)
        stack.assert_ledger_exactly_once(day)

        # The JobManager refreshes per-subtask task metrics every 10 s.
        body = stack.wait_for(
            lambda: (b := status(group, tmp_path))
            and skewed_vertices(b)
            == {
                "order-lifecycle",
                "daily-totals",
            }
            and b,
            120,
            "status to flag both hot keys",
            every=3,
        )
        assert body["counters"]["duplicates"]["total"] >= RETRIES
        lifecycle = next(v for v in body["vertices"] if v["name"].startswith("order-lifecycle"))
        assert max(lifecycle["records_in"]) > 4 * min(lifecycle["records_in"])
    finally:
        stack.flink(f"/jobs/{job}?mode=cancel", method="PATCH")
