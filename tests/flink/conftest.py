"""One real embedded Flink run of the scenario per parallelism, shared by the tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from jobs.embedded import RunResult, run_file
from jobs.settings import JobSettings
from tests.flink import scenario
from udfs.zones import load_zones

HERE = Path(__file__).parent
FILLER = 500  # next-morning events between the first day and the late delivery
# Watermarks every millisecond: with a 1 ms interval, 50+ records between a time jump and a
# dependent record were enough in every probe run (docs/design.md, "Watermark cadence").
TEST_FLINK = (("pipeline.auto-watermark-interval", "1 ms"),)


class Run:
    """The outputs of one run, indexed for assertions."""

    def __init__(self, result: RunResult, out: Path, malformed_lines: dict[str, int]) -> None:
        self.result = result
        self.out = out
        self.malformed_lines = malformed_lines

    def records(self, name: str) -> list[dict[str, Any]]:
        return self.result.records.get(name, [])

    def ledger(self, order_id: str) -> list[dict[str, Any]]:
        return sorted(
            (r for r in self.records("pay_ledger") if r["order_id"] == order_id),
            key=lambda r: (r["kind"] != "LINE", r["kind"], r["pay_date"]),
        )

    def day(self, driver_id: str, pay_date: str = scenario.DAY) -> dict[str, Any] | None:
        versions = [
            r
            for r in self.records("driver_daily_pay")
            if r["driver_id"] == driver_id and r["pay_date"] == pay_date
        ]
        return max(versions, key=lambda r: r["version"]) if versions else None

    def versions(self, driver_id: str, pay_date: str = scenario.DAY) -> list[dict[str, Any]]:
        return sorted(
            (
                r
                for r in self.records("driver_daily_pay")
                if r["driver_id"] == driver_id and r["pay_date"] == pay_date
            ),
            key=lambda r: r["version"],
        )

    def audit(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records("audit") if r["kind"] == kind]

    def retired(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records("retired") if r["kind"] == kind]


@pytest.fixture(scope="session", params=[1, 2], ids=["parallelism-1", "parallelism-2"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    os.environ.setdefault("FLINK_LOG_DIR", str(tmp_path_factory.mktemp("flink-log")))
    work = tmp_path_factory.mktemp(f"p{request.param}")
    events, malformed = scenario.build(work / "events.jsonl", FILLER)
    settings = JobSettings(parallelism=request.param, flink_options=TEST_FLINK)
    result = run_file(events, work / "out", load_zones(HERE / "zones.yaml"), settings)
    return Run(result, work / "out", malformed)
