"""Stop with a savepoint halfway through a day, resubmit from it, finish the day.

Orders whose acceptance came before the savepoint and whose delivery after it must still be paid
once: the stable operator uids carry every order's state into the new job.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from driverpay.generate import GenConfig, generate
from driverpay.produce import produce, read_lines
from tests.stack import stack
from tests.stack.test_deployment import pg_totals
from udfs.zones import load_zones

pytestmark = pytest.mark.stack


def test_resuming_from_a_savepoint_carries_open_orders_across_the_upgrade(
    real_stack: None, tmp_path: Path
) -> None:
    events, truth_path = tmp_path / "events.jsonl", tmp_path / "truth.json"
    generate(
        GenConfig(seed=31, orders=1200, drivers=60),
        load_zones(stack.ROOT / "config/zones.yaml"),
        events,
        truth_path,
    )
    truth = json.loads(truth_path.read_text())
    expected = {
        (r["driver_id"], r["pay_date"]): (Decimal(r["total"]), r["line_count"])
        for r in truth["daily"]
    }
    lines = read_lines(events)
    half = len(lines) // 2
    stack.cancel_jobs()
    stack.reset_topics()
    stack.reset_tables()
    group = f"driverpay-upgrade-{time.time_ns()}"
    first = stack.submit(group_id=group)
    produce(lines[:half], stack.KAFKA)
    stack.wait_for(
        lambda: stack.flink(f"/jobs/{first}/checkpoints")["counts"]["completed"] >= 2,
        120,
        "checkpoints of the first job",
    )
    out = subprocess.run(
        [str(stack.ROOT / "scripts/stack/savepoint.sh"), first],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    savepoint = out.stdout.strip().splitlines()[-1]
    assert pg_totals() != expected, "the first half already paid the whole day"

    second = stack.submit(group_id=group, extra=["-s", savepoint])
    produce(lines[half:], stack.KAFKA)
    stack.wait_for(
        lambda: pg_totals() == expected, 300, "totals equal truth after the upgrade", every=3
    )
    records = stack.committed_records("pay-ledger", truth["counts"]["pay_lines"])
    ids = Counter(r["line_id"] for r in records)
    assert max(ids.values()) == 1
    assert len(ids) == truth["counts"]["pay_lines"]
    assert stack.flink(f"/jobs/{second}")["state"] == "RUNNING"
