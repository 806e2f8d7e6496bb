"""``make bench-api --quick`` end to end: vegeta against a real ``driverpay serve``.

Only with DRIVERPAY_BENCH_API_SMOKE=1, since it competes for the cores (run it under the stack
lock); it asserts what was answered, never how fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from driverpay.bench_api_report import REPORT_KEYS
from tests.api.conftest import PG_PORT, ROOT

pytestmark = pytest.mark.skipif(
    os.environ.get("DRIVERPAY_BENCH_API_SMOKE") != "1",
    reason="a load test: set DRIVERPAY_BENCH_API_SMOKE=1 to run it",
)


def test_quick_bench_api_writes_a_complete_report(postgres: None, tmp_path: Path) -> None:
    subprocess.run(
        [
            *(sys.executable, "-m", "driverpay.bench_api", "--quick", "--pg-port", PG_PORT),
            *("--drivers", "2000", "--output", str(tmp_path)),
        ],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    report = json.loads(next(tmp_path.glob("bench-api-*.json")).read_text())
    assert tuple(report) == REPORT_KEYS
    assert report["fixed"]["requests"] > 0
    assert report["fixed"]["ok"] == report["fixed"]["requests"]  # correctness, not speed
    assert [s["rate"] for s in report["ramp"]] == [500, 1000]
    # the server it started was stopped (uvicorn logs its own orderly end)
    assert "Finished server process" in (tmp_path / "server.log").read_text()
