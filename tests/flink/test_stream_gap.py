"""A stream that moves on by days: the parser's clock follows it, and loses none of its records.

One input holds two days of sf orders three days apart, as a topic replayed from its start
does after a quiet spell, or as one partition reads when a producer's sticky partitioner sent
a day of batches to the others. The first records after the gap look like outliers from the
future: they are quarantined as held (``tolerate`` of them, contracts §2), and released, paid,
when the record after them shows the split's stream did move there. An outlier inside the first
day is never released: the records after it do not follow it.
Before, the first five records after the gap stayed unpaid; before that, every one did.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from driverpay.recompute import recompute
from jobs.embedded import RunResult
from tests.flink.conftest import HERE
from tests.flink.days import DRIVERS_PER_DAY, ORDERS_PER_DAY, orders_of_day, run_events
from tests.hostile.corpus import at, event

FIRST_DAY, AFTER_THE_GAP = "2026-11-20", "2026-11-23"
ZONES = HERE / "zones.yaml"
HELD = 4  # the clock's tolerate: the fifth record after the gap lifts it and lets them in
OUTLIER = [
    event("o-outlier-a", "o-outlier", "d-outlier", "ACCEPTED", at("12:00", AFTER_THE_GAP)),
    event("o-outlier-d", "o-outlier", "d-outlier", "DELIVERED", at("12:20", AFTER_THE_GAP)),
]


def _with_outlier(day: list[dict[str, Any]]) -> list[dict[str, Any]]:
    middle = len(day) // 2
    return [*day[:middle], *OUTLIER, *day[middle:]]


@pytest.fixture(scope="module")
def after() -> list[dict[str, Any]]:
    return orders_of_day(AFTER_THE_GAP, "after")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stream-gap")


@pytest.fixture(scope="module")
def result(work: Path, after: list[dict[str, Any]]) -> RunResult:
    before = _with_outlier(orders_of_day(FIRST_DAY, "before"))
    return run_events(work, [*before, *after])


def _paid(result: RunResult, prefix: str) -> dict[str, list[str]]:
    paid: dict[str, list[str]] = {}
    for line in result.records["pay_ledger"]:
        if line["order_id"].startswith(f"o-{prefix}-") or line["order_id"] == f"o-{prefix}":
            paid.setdefault(line["order_id"], []).append(line["amount"])
    return paid


def _ahead(result: RunResult) -> dict[str, bool]:
    records = result.records["quarantine"]
    return {r["event_id"]: r["held"] for r in records if r["kind"] == "AHEAD_OF_STREAM"}


def test_every_order_before_the_gap_is_paid_once(result: RunResult) -> None:
    assert _paid(result, "before") == {f"o-before-{i:02d}": ["6.00"] for i in range(ORDERS_PER_DAY)}


def test_every_order_after_the_gap_is_paid_once_the_first_ones_too(result: RunResult) -> None:
    assert _paid(result, "after") == {f"o-after-{i:02d}": ["6.00"] for i in range(ORDERS_PER_DAY)}


def test_the_first_records_past_the_gap_were_held_then_released_by_the_one_after(
    result: RunResult, after: list[dict[str, Any]]
) -> None:
    first = [e["event_id"] for e in after[:HELD]]
    held = dict.fromkeys(first, True)
    assert {k: v for k, v in _ahead(result).items() if k in first} == held
    released = [r for r in result.records["audit"] if r["kind"] == "RELEASED_AHEAD"]
    assert [r["event_id"] for r in released] == first
    first_line = 2 * ORDERS_PER_DAY + len(OUTLIER) + 1  # the first record after the gap
    assert [r["position"] for r in released] == [f"line {first_line + i}" for i in range(HELD)]


def test_an_outlier_the_stream_did_not_follow_stays_quarantined_and_unpaid(
    result: RunResult,
) -> None:
    assert {k: v for k, v in _ahead(result).items() if "outlier" in k} == {
        "o-outlier-a": True,
        "o-outlier-d": True,
    }
    released = {r["event_id"] for r in result.records["audit"] if r["kind"] == "RELEASED_AHEAD"}
    assert not {"o-outlier-a", "o-outlier-d"} & released
    assert _paid(result, "outlier") == {}


def test_a_recompute_from_the_archive_pays_the_released_records_too(
    work: Path, result: RunResult
) -> None:
    """Released events are archived like any other, so reconcile sees what the stream paid."""
    out = work / "recomputed"
    recompute(work / "archive", date.fromisoformat(AFTER_THE_GAP), ZONES.read_bytes(), out)
    recomputed = [json.loads(x) for x in (out / "pay_ledger.jsonl").read_text().splitlines()]
    assert sorted(line["order_id"] for line in recomputed) == [
        f"o-after-{i:02d}" for i in range(ORDERS_PER_DAY)
    ]


def test_the_days_after_the_gap_end_final_with_their_totals(result: RunResult) -> None:
    days = {}
    for row in result.records["driver_daily_pay"]:
        if row["pay_date"] == AFTER_THE_GAP:
            days[row["driver_id"]] = row  # the output is sorted by version
    assert {d: (r["total"], r["final"]) for d, r in days.items()} == {
        f"d-after-{k}": (f"{6 * len(range(k, ORDERS_PER_DAY, DRIVERS_PER_DAY))}.00", True)
        for k in range(DRIVERS_PER_DAY)
    }
