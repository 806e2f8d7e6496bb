"""``make bench BENCH_ARGS=--quick`` end to end (~4 min: only with DRIVERPAY_BENCH_SMOKE=1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from driverpay.bench_report import REPORT_KEYS
from tests.stack import stack

pytestmark = [
    pytest.mark.stack,
    pytest.mark.skipif(
        os.environ.get("DRIVERPAY_BENCH_SMOKE") != "1",
        reason="a 4-minute benchmark: set DRIVERPAY_BENCH_SMOKE=1 to run it",
    ),
]


def test_quick_bench_writes_a_complete_report(real_stack: None, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "driverpay.bench", "--quick", "--output", str(tmp_path)],
        cwd=stack.ROOT,
        check=True,
        timeout=900,
    )
    report = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    assert tuple(report) == REPORT_KEYS
    assert [k["parallelism"] for k in report["kafka"]] == [1, 2]
    assert all(k["correct"] for k in report["kafka"])
    assert all(k["rate"] and k["rate"]["events_per_s"] > 0 for k in report["kafka"])
    assert all(k["latency"]["count"] > 0 for k in report["kafka"])
    assert all(b["rate"] for b in report["baseline"])
    assert report["ratios"]["embedded"] is not None
