"""A file dated after the machine's clock is read by its own time, and still refuses outliers.

``driverpay run`` replays a recording; a test day next year is as honest as one last week. The
input holds two sf days a year (and three days more) after today, so the test stays ahead of
the clock whenever it runs, with a record ten years after them first of all and another in the
middle of the first day. Before, every record was "more than a day after the wall clock":
quarantined, nothing paid.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobs.embedded import RunResult
from tests.flink.days import ORDERS_PER_DAY, orders_of_day, run_events
from tests.hostile.corpus import at, event

NEXT_YEAR = datetime.now(UTC).date() + timedelta(days=366)
FIRST_DAY, LATER_DAY = NEXT_YEAR.isoformat(), (NEXT_YEAR + timedelta(days=3)).isoformat()
DECADE_ON = (NEXT_YEAR + timedelta(days=3650)).isoformat()
FIRST_OF_ALL = event("far-a", "o-far", "d-far", "ACCEPTED", at("08:00", DECADE_ON))
MIDDLE = event("far-d", "o-far", "d-far", "DELIVERED", at("08:20", DECADE_ON))


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    first = orders_of_day(FIRST_DAY, "first")
    middle = len(first) // 2
    events: list[dict[str, Any]] = [FIRST_OF_ALL, *first[:middle], MIDDLE, *first[middle:]]
    return run_events(
        tmp_path_factory.mktemp("future-file"), events + orders_of_day(LATER_DAY, "later")
    )


def _paid(result: RunResult) -> dict[str, list[str]]:
    paid: dict[str, list[str]] = {}
    for line in result.records["pay_ledger"]:
        paid.setdefault(line["order_id"], []).append(line["amount"])
    return paid


def test_every_order_of_both_days_a_year_ahead_is_paid_once(result: RunResult) -> None:
    expected = {
        f"o-{prefix}-{i:02d}": ["6.00"]
        for prefix in ("first", "later")
        for i in range(ORDERS_PER_DAY)
    }
    assert _paid(result) == expected


def test_every_driver_day_is_final_on_its_own_date(result: RunResult) -> None:
    versions = result.records["driver_daily_pay"]
    every = {(r["driver_id"], r["pay_date"]) for r in versions}
    final = {(r["driver_id"], r["pay_date"]) for r in versions if r["final"]}
    assert final == every
    assert {day for _, day in every} == {FIRST_DAY, LATER_DAY}


def test_records_a_decade_after_the_file_are_still_refused_first_of_all_and_mid_stream(
    result: RunResult,
) -> None:
    ahead = {
        r["event_id"]: r["reason"]
        for r in result.records["quarantine"]
        if r["kind"] == "AHEAD_OF_STREAM" and not r["held"]
    }
    assert set(ahead) == {"far-a", "far-d"}
    assert "after the file's own time" in ahead["far-a"]
    assert "o-far" not in _paid(result)


def test_the_machines_clock_is_passed_by_the_files_so_nothing_is_judged_against_it(
    result: RunResult,
) -> None:
    quarantined = result.records["quarantine"]
    assert not [r for r in quarantined if "the wall clock" in r["reason"]]


def test_the_run_says_it_read_the_file_by_its_own_time(result: RunResult) -> None:
    # The clock reaches the later day (at least 368 days on, whatever the hour now), and the
    # estimate's margin past it is at most twice the file's four-day span: 378 days and 8 h
    # from the start of today in UTC. A bound of 375 days failed when run at 01:15 UTC.
    a_year = timedelta(days=365) // timedelta(milliseconds=1)
    assert a_year <= result.clock_offset_ms <= a_year + 14 * 86_400_000
