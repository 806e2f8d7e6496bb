"""A generated messy day through the embedded job: totals equal the generator's truth."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from driverpay.check import compare, daily_from_output, daily_from_truth
from driverpay.generate import GenConfig, generate
from jobs.embedded import RunResult, run_file
from jobs.settings import JobSettings
from udfs.zones import load_zones

pytestmark = pytest.mark.flink
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, dict[str, object]]:
    os.environ.setdefault("FLINK_LOG_DIR", str(tmp_path_factory.mktemp("flink-log")))
    work = tmp_path_factory.mktemp("generated")
    zones = load_zones(ROOT / "config" / "zones.yaml")
    config = GenConfig(seed=5, orders=1500, drivers=80, late_rate=0.03, duplicate_rate=0.1)
    generate(config, zones, work / "events.jsonl", work / "truth.json")
    result = run_file(work / "events.jsonl", work / "out", zones, JobSettings(parallelism=2))
    return result, json.loads((work / "truth.json").read_text())


def test_final_daily_totals_equal_the_truth_to_the_cent(day) -> None:
    result, truth = day
    latest: dict[tuple[str, str], dict[str, object]] = {}
    for row in sorted(result.records["driver_daily_pay"], key=lambda r: r["version"]):
        latest[(row["driver_id"], row["pay_date"])] = row
    comparison = compare(daily_from_truth(truth), daily_from_output(list(latest.values())))
    assert comparison.mismatched == []
    assert comparison.matched == len(truth["daily"])
    assert all(row["final"] for row in latest.values())


def test_every_malformed_record_is_in_the_dead_letter(day) -> None:
    result, truth = day
    assert len(result.records["dead_letter"]) == truth["counts"]["malformed"]


def test_duplicates_are_all_dropped_and_no_line_is_written_twice(day) -> None:
    result, truth = day
    ids = Counter(r["line_id"] for r in result.records["pay_ledger"])
    assert max(ids.values()) == 1
    kinds = Counter(r["kind"] for r in result.records["pay_ledger"])
    assert kinds["LINE"] == truth["counts"]["pay_lines"]
    duplicates = [r for r in result.records["audit"] if r["kind"] == "DUPLICATE"]
    assert len(duplicates) == truth["counts"]["duplicates"]
