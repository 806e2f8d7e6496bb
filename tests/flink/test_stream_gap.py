"""A stream that moves on by days: the parser's clock follows it instead of refusing it for ever.

One input holds two days of sf orders three days apart, as a topic replayed from its start
does after a quiet spell. The first records after the gap look like outliers from the future
and are quarantined unpaid (``tolerate`` + 1 of them, contracts §1); every later order is paid.
Before, every record after the gap was refused as ahead of the stream.
"""

from __future__ import annotations

import pytest

from jobs.embedded import RunResult
from tests.flink.days import DRIVERS_PER_DAY, ORDERS_PER_DAY, orders_of_day, run_events
from tests.hostile.corpus import at, event

FIRST_DAY, AFTER_THE_GAP = "2026-11-20", "2026-11-23"
LOST = 5  # the clock's tolerate (4) + 1: the evidence it needs to follow a move


def _lost() -> list[dict[str, str]]:
    return [
        event(f"o-lost-{i}-a", f"o-lost-{i}", "d-lost", "ACCEPTED", at("07:59", AFTER_THE_GAP))
        for i in range(LOST)
    ]


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    before, after = orders_of_day(FIRST_DAY, "before"), orders_of_day(AFTER_THE_GAP, "after")
    return run_events(tmp_path_factory.mktemp("stream-gap"), [*before, *_lost(), *after])


def _paid(result: RunResult, prefix: str) -> dict[str, list[str]]:
    paid: dict[str, list[str]] = {}
    for line in result.records["pay_ledger"]:
        if line["order_id"].startswith(f"o-{prefix}-") and line["kind"] == "LINE":
            paid.setdefault(line["order_id"], []).append(line["amount"])
    return paid


def test_every_order_before_the_gap_is_paid_once(result: RunResult) -> None:
    assert _paid(result, "before") == {f"o-before-{i:02d}": ["6.00"] for i in range(ORDERS_PER_DAY)}


def test_every_order_after_the_first_records_past_the_gap_is_paid_once(result: RunResult) -> None:
    assert _paid(result, "after") == {f"o-after-{i:02d}": ["6.00"] for i in range(ORDERS_PER_DAY)}


def test_the_first_records_past_the_gap_are_quarantined_ahead_of_the_stream(
    result: RunResult,
) -> None:
    ahead = [r for r in result.records["quarantine"] if r["kind"] == "AHEAD_OF_STREAM"]
    assert sorted(r["event_id"] for r in ahead) == [f"o-lost-{i}-a" for i in range(LOST)]
    assert _paid(result, "lost") == {}


def test_the_days_after_the_gap_end_final_with_their_totals(result: RunResult) -> None:
    days = {}
    for row in result.records["driver_daily_pay"]:
        if row["pay_date"] == AFTER_THE_GAP:
            days[row["driver_id"]] = row  # the output is sorted by version
    assert {d: (r["total"], r["final"]) for d, r in days.items()} == {
        f"d-after-{k}": (f"{6 * len(range(k, ORDERS_PER_DAY, DRIVERS_PER_DAY))}.00", True)
        for k in range(DRIVERS_PER_DAY)
    }
