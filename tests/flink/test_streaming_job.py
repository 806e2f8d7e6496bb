"""The real job on Flink's embedded mini-cluster, at parallelism 1 and 2, over hand-written stories.

Amounts: sf pays 0.30/min, doubled 11:00-13:00 local (see tests/flink/zones.yaml).
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.flink.conftest import FILLER, Run
from tests.flink.scenario import NEXT_DAY

pytestmark = pytest.mark.flink


def amounts(run: Run, order_id: str) -> list[tuple[str, str, str]]:
    return [(r["kind"], r["pay_date"], r["amount"]) for r in run.ledger(order_id)]


def test_a_delivered_order_pays_its_accept_to_deliver_interval(run: Run) -> None:
    [line] = run.ledger("o-simple")
    assert (line["kind"], line["amount"], line["base_ms"], line["weighted_ms"]) == (
        "LINE",
        "9.00",
        30 * 60_000,
        30 * 60_000,
    )
    assert (line["start"], line["end"]) == ("2026-11-24T18:00:00.000Z", "2026-11-24T18:30:00.000Z")
    assert line["rate_per_minute"] == "0.30"
    assert line["zones_version"].startswith("sha256:")
    assert line["currency"] == "USD"


def test_interval_straddling_the_peak_start_pays_each_part_at_its_rate(run: Run) -> None:
    [line] = run.ledger("o-peak")
    assert (line["amount"], line["weighted_ms"]) == ("27.00", 90 * 60_000)
    assert run.day("d-peak")["total"] == "27.00"


def test_a_delivery_arriving_before_its_acceptance_is_paid_once_both_are_known(run: Run) -> None:
    assert amounts(run, "o-ooo") == [("LINE", "2026-11-24", "12.00")]


def test_duplicates_are_dropped_before_the_total_moves_and_are_counted(run: Run) -> None:
    assert amounts(run, "o-dup") == [("LINE", "2026-11-24", "6.00")]
    assert run.day("d-dup")["line_count"] == 1
    assert sorted(r["event_id"] for r in run.audit("DUPLICATE")) == ["dup-a", "dup-d"]


def test_unassigned_interval_is_unpaid_and_the_next_driver_is_paid(run: Run) -> None:
    assert amounts(run, "o-reassign") == [("LINE", "2026-11-24", "9.00")]
    assert run.ledger("o-reassign")[0]["driver_id"] == "d-second"
    assert run.day("d-first") is None


def test_late_unassignment_reverses_the_paid_line_and_adjusts_never_editing(run: Run) -> None:
    assert amounts(run, "o-fix") == [
        ("LINE", "2026-11-24", "18.00"),
        ("ADJUSTMENT", "2026-11-24", "9.00"),
        ("REVERSAL", "2026-11-24", "-18.00"),
    ]
    adjustment, reversal = run.ledger("o-fix")[1:]
    assert reversal["reason"].startswith("corrected by UNASSIGNED fix-u")
    assert adjustment["start"] == "2026-11-25T00:30:00.000Z"
    assert len({r["line_id"] for r in run.ledger("o-fix")}) == 3
    day = run.day("d-fix")
    assert (day["total"], day["line_count"]) == ("9.00", 1)


def test_delivery_by_a_driver_who_never_accepted_is_quarantined_and_nothing_paid(run: Run) -> None:
    reasons = {r["event_id"]: r for r in run.records("quarantine") if r["order_id"] == "o-stranger"}
    assert reasons["stranger-d"]["kind"] == "INVALID_TRANSITION"
    assert "d-stranger, who never accepted" in reasons["stranger-d"]["reason"]
    assert reasons["stranger-a"]["kind"] == "OPEN_TOO_LONG"
    assert run.ledger("o-stranger") == []


def test_a_second_different_delivery_time_is_quarantined_as_conflicting(run: Run) -> None:
    assert amounts(run, "o-twice") == [("LINE", "2026-11-24", "9.00")]
    [record] = [r for r in run.records("quarantine") if r["order_id"] == "o-twice"]
    assert record["event_id"] == "twice-d2"
    assert record["reason"].startswith("conflicting DELIVERED after the order closed")


def test_interval_crossing_local_midnight_is_paid_on_each_day(run: Run) -> None:
    assert amounts(run, "o-night") == [("LINE", "2026-11-24", "3.00"), ("LINE", NEXT_DAY, "6.00")]
    assert run.day("d-night")["total"] == "3.00"
    assert run.day("d-night", NEXT_DAY)["total"] == "6.00"


def test_an_acceptance_arriving_hours_late_still_pays_its_buffered_delivery(run: Run) -> None:
    assert amounts(run, "o-slowstart") == [("LINE", "2026-11-24", "9.00")]
    assert "slow-a" in {r["event_id"] for r in run.audit("LATE")}
    assert [r for r in run.records("quarantine") if r["order_id"] == "o-slowstart"] == []


def test_cancelled_order_is_paid_when_the_zone_pays_cancellations(run: Run) -> None:
    assert amounts(run, "o-cancel") == [("LINE", "2026-11-24", "4.50")]


def test_zero_length_interval_is_a_zero_line(run: Run) -> None:
    assert amounts(run, "o-zero") == [("LINE", "2026-11-24", "0.00")]
    assert (run.day("d-zero")["total"], run.day("d-zero")["line_count"]) == ("0.00", 1)


def test_every_malformed_record_reaches_the_dead_letter_with_reason_and_line(run: Run) -> None:
    dead = {r["position"]: r for r in run.records("dead_letter")}
    assert len(dead) == len(run.malformed_lines)
    for reason, line in run.malformed_lines.items():
        assert reason in dead[f"line {line}"]["reason"]
        assert dead[f"line {line}"]["payload"]


def test_a_day_becomes_final_after_midnight_plus_grace_and_late_pay_is_post_final(run: Run) -> None:
    versions = run.versions("d-simple")
    assert [v["version"] for v in versions] == list(range(1, len(versions) + 1))
    first_final = next(v for v in versions if v["final"])
    assert (first_final["total"], first_final["post_final"]) == ("9.00", False)
    last = versions[-1]
    assert (last["total"], last["line_count"], last["final"], last["post_final"]) == (
        "15.00",
        2,
        True,
        True,
    )
    assert "o-late" in {r["order_id"] for r in run.audit("LATE")}


def test_every_driver_day_ends_final_with_the_expected_totals(run: Run) -> None:
    finals = {(r["driver_id"], r["pay_date"]): r for r in run.records("driver_daily_pay")}
    expected = {
        ("d-simple", "2026-11-24"): "15.00",
        ("d-peak", "2026-11-24"): "27.00",
        ("d-ooo", "2026-11-24"): "12.00",
        ("d-dup", "2026-11-24"): "6.00",
        ("d-second", "2026-11-24"): "9.00",
        ("d-fix", "2026-11-24"): "9.00",
        ("d-twice", "2026-11-24"): "9.00",
        ("d-night", "2026-11-24"): "3.00",
        ("d-night", NEXT_DAY): "6.00",
        ("d-cancel", "2026-11-24"): "4.50",
        ("d-zero", "2026-11-24"): "0.00",
        ("d-slow", "2026-11-24"): "9.00",
        ("d-filler", NEXT_DAY): "0.00",
    }
    assert set(finals) == set(expected)
    for key, total in expected.items():
        latest = run.day(*key)
        assert (latest["total"], latest["final"]) == (total, True), key


def test_keyed_state_returns_to_empty_once_orders_and_days_close(run: Run) -> None:
    orders = {r["order_id"] for r in run.records("pay_ledger")} | {
        r["order_id"] for r in run.records("quarantine")
    }
    retired = Counter(r["key"] for r in run.retired("ORDER_RETIRED"))
    assert set(retired) >= orders
    assert len(retired) == 13 + FILLER
    assert set(retired.values()) == {1}
    days = Counter(r["key"] for r in run.retired("DAY_RETIRED"))
    assert len(days) == 13
    assert set(days.values()) == {1}
    for kind in ("ORDER_RETIRED", "DAY_RETIRED"):
        by_subtask: dict[int, list[int]] = {}
        for r in run.retired(kind):
            by_subtask.setdefault(r["subtask"], []).append(r["live_after"])
        assert all(min(live) == 0 for live in by_subtask.values()), kind
