"""A whole order that arrives a day late: paid once both events are known, as a post-final change.

The day 2026-11-20 is final (the stream has moved on to the 21st) when an order of the 20th
arrives, acceptance and delivery together, as a phone offline all day would upload them.
Before, its acceptance was "open too long" on arrival and the stream never paid it.
"""

from __future__ import annotations

import pytest

from jobs.embedded import RunResult
from tests.flink.days import orders_of_day, run_events
from tests.hostile.corpus import at, event

DAY, NEXT_DAY = "2026-11-20", "2026-11-21"
LATE = [
    event("late-a", "o-late", "d-before-0", "ACCEPTED", at("10:00", DAY)),
    event("late-d", "o-late", "d-before-0", "DELIVERED", at("10:30", DAY)),
]


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    day, next_day = orders_of_day(DAY, "before"), orders_of_day(NEXT_DAY, "next")
    return run_events(tmp_path_factory.mktemp("late-order"), [*day, *next_day, *LATE])


def test_the_late_order_is_paid_one_line_of_its_interval(result: RunResult) -> None:
    lines = [r for r in result.records["pay_ledger"] if r["order_id"] == "o-late"]
    assert [(r["kind"], r["amount"], r["pay_date"]) for r in lines] == [("LINE", "9.00", DAY)]


def test_it_reaches_its_final_day_as_a_post_final_change(result: RunResult) -> None:
    versions = [
        r
        for r in result.records["driver_daily_pay"]
        if (r["driver_id"], r["pay_date"]) == ("d-before-0", DAY)
    ]
    final_before = [r for r in versions if r["final"] and not r["post_final"]]
    last = versions[-1]
    assert final_before, "the day was final before the late order came"
    assert (last["final"], last["post_final"]) == (True, True)
    assert (
        int(last["total"].replace(".", "")) - int(final_before[-1]["total"].replace(".", "")) == 900
    )


def test_nothing_of_the_late_order_is_quarantined(result: RunResult) -> None:
    assert [r for r in result.records["quarantine"] if r["order_id"] == "o-late"] == []
