"""Corrections turn the streamed ledger into the recomputed one, and only once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

from udfs.daily import DayBase
from udfs.ledger import LineKind, PaidInterval, PayLine, lines_for
from udfs.lifecycle import reverse
from udfs.money import pay_amount
from udfs.reconcile import (
    CorrectionError,
    by_driver_day,
    correction,
    correction_line,
    correction_record,
    corrections,
    day_bases,
    in_effect,
    line_from_record,
    total_minor,
)
from udfs.timefmt import parse_rfc3339_ms
from udfs.zones import Zones, load_zones


def ms(text: str) -> int:
    return parse_rfc3339_ms(text)


@pytest.fixture(scope="module")
def zones() -> Zones:
    return load_zones("config/zones.yaml")


def paid(zones: Zones, order: str, start: str, end: str, driver: str = "d1") -> list[PayLine]:
    iv = PaidInterval(
        order, driver, "sf", ms(start), ms(end), f"{order}-0", f"{order}-2", "DELIVERED"
    )
    return lines_for(iv, zones)


def overpaid(line: PayLine, extra: str) -> PayLine:
    """The same interval, paid too much (what a wrong peak rule does)."""
    return replace(line, line_id="bug-" + line.line_id, amount=line.amount + Decimal(extra))


def test_an_overpaid_line_is_reversed_and_the_right_one_paid(zones):
    right = paid(zones, "o1", "2026-11-25T02:30:00Z", "2026-11-25T03:30:00Z")  # 18:30-19:30 sf
    wrong = [overpaid(right[0], "4.50")]
    fixes = corrections(wrong, right, run_id="r1")
    assert [f.kind for f in fixes] == [LineKind.REVERSAL, LineKind.ADJUSTMENT]
    assert total_minor(wrong) + total_minor(fixes) == total_minor(right)
    assert total_minor(fixes) == -450
    assert all("reconcile r1" in (f.reason or "") for f in fixes)


def test_a_missing_line_is_paid_and_an_unknown_one_reversed(zones):
    a = paid(zones, "o1", "2026-11-24T18:00:00Z", "2026-11-24T18:20:00Z")
    b = paid(zones, "o2", "2026-11-24T19:00:00Z", "2026-11-24T19:30:00Z")
    ghost = paid(zones, "o3", "2026-11-24T20:00:00Z", "2026-11-24T20:10:00Z")
    fixes = corrections([*a, *ghost], [*a, *b], run_id="r1")
    assert [(f.kind, f.interval.order_id) for f in fixes] == [
        (LineKind.REVERSAL, "o3"),
        (LineKind.ADJUSTMENT, "o2"),
    ]
    assert (
        total_minor([*a, *ghost, *fixes]) == total_minor([*a, *b]) == 600 + 1800
    )  # 10:00-10:20 at 0.30, 11:00-11:30 at x2


def test_driver_days_that_add_up_are_left_alone(zones):
    a = paid(zones, "o1", "2026-11-24T18:00:00Z", "2026-11-24T18:20:00Z")
    assert corrections(a, a, run_id="r1") == []
    repriced = [replace(x, line_id="other-version", zones_version="sha256:new") for x in a]
    assert corrections(a, repriced, run_id="r1") == []


def test_ids_depend_on_content_not_on_the_run(zones):
    right = paid(zones, "o1", "2026-11-25T02:30:00Z", "2026-11-25T03:30:00Z")
    wrong = [overpaid(right[0], "1.00")]
    first = corrections(wrong, right, run_id="monday")
    second = corrections(wrong, right, run_id="tuesday")
    assert [f.line_id for f in first] == [f.line_id for f in second]
    assert first[0].line_id == reverse(wrong[0], "any").line_id  # the stream's reversal id


def test_applying_the_corrections_leaves_nothing_to_correct(zones):
    right = paid(zones, "o1", "2026-11-25T02:30:00Z", "2026-11-25T03:30:00Z")
    right += paid(zones, "o2", "2026-11-24T19:00:00Z", "2026-11-24T19:30:00Z")
    wrong = [overpaid(right[0], "2.25")]
    fixes = corrections(wrong, right, run_id="r1")
    assert corrections([*wrong, *fixes], right, run_id="r2") == []
    assert total_minor(in_effect([*wrong, *fixes])) == total_minor(right)


def test_a_stream_that_already_reversed_a_line_is_read_net(zones):
    a = paid(zones, "o1", "2026-11-24T18:00:00Z", "2026-11-24T18:20:00Z")
    cancelled = [*a, reverse(a[0], "corrected by DELIVERED")]
    assert in_effect(cancelled) == []
    fixes = corrections(cancelled, a, run_id="r1")
    assert [f.kind for f in fixes] == [LineKind.ADJUSTMENT]
    assert total_minor(fixes) == 600


def test_a_ledger_record_reads_back_as_the_same_line(zones):
    for line in paid(zones, "o1", "2026-11-25T07:50:00Z", "2026-11-25T08:20:00Z"):  # midnight
        back = line_from_record(line.to_record())
        assert back == line
        assert back.to_json() == line.to_json()


def sample_fixes(zones: Zones) -> list[PayLine]:
    """What ``reconcile --apply`` sends: a reversal and an adjustment, across local midnight."""
    right = paid(zones, "o1", "2026-11-25T07:50:00Z", "2026-11-25T08:20:00Z")
    return corrections([overpaid(right[0], "4.50")], right, run_id="r1")


def test_every_correction_reconcile_sends_is_read_back_by_the_job_as_itself(zones):
    fixes = sample_fixes(zones)
    assert {f.kind for f in fixes} == {LineKind.REVERSAL, LineKind.ADJUSTMENT}
    for fix in fixes:
        assert correction_line(fix.to_json().encode(), zones) == fix


# Each would reach PostgreSQL as it is: a NUL fails a text column, a BIGINT or NUMERIC out of
# range fails the sink, and the job restarted on the same record forever.
HOSTILE_CORRECTIONS = {
    "NUL in the driver id": ({"driver_id": "d\u0000x"}, "driver_id: contains control"),
    "a driver id that is a number": ({"driver_id": 7}, "driver_id: must be a string"),
    "an empty line id": ({"line_id": ""}, "line_id: must not be empty"),
    "NUL in the reason": ({"reason": "fix\u0000"}, "reason: at most 500 characters, no control"),
    "a reason that is a list": ({"reason": ["fix"]}, "a correction must name its reason"),
    "a 10 kB reason": ({"reason": "x" * 10_000}, "reason: at most 500 characters"),
    "NUL in the zones version": ({"zones_version": "v\u0000"}, "zones_version: contains"),
    "an amount beyond BIGINT": ({"amount": "1e17"}, "amount: more than 1000000000000 minor"),
    "an amount of NaN": ({"amount": "NaN"}, "amount: "),
    "a tenth of a cent": ({"amount": "3.001"}, "not a whole number of USD minor units"),
    "an unknown currency": ({"currency": "XXX"}, "unknown currency"),
    "base_ms beyond BIGINT": ({"base_ms": 2**70}, "base_ms: longer than any interval"),
    "weighted_ms of 1e999999": ({"weighted_ms": "1e999999"}, "weighted_ms: not a finite"),
    "a rate of Infinity": ({"rate_per_minute": "Infinity"}, "rate_per_minute: not a finite"),
    "a start in year 9999": ({"start": "9999-12-31T23:59:59Z"}, "start: outside the supported"),
    "a pay date in year 1": ({"pay_date": "0001-01-01"}, "pay_date: outside the supported"),
    "a day total without its count and version": ({"day_total_minor": 900}, "all three whole"),
    "a day version that is text": (
        {"day_total_minor": 900, "day_line_count": 1, "day_version": "3"},
        "day_version is '3'",
    ),
    "a day total beyond BIGINT": (
        {"day_total_minor": 2**70, "day_line_count": 1, "day_version": 3},
        "day_total_minor is",
    ),
    "a negative day version": (
        {"day_total_minor": 0, "day_line_count": 1, "day_version": -1},
        "day_version is -1",
    ),
}


@pytest.mark.parametrize(
    ("change", "reason"), HOSTILE_CORRECTIONS.values(), ids=HOSTILE_CORRECTIONS.keys()
)
def test_a_correction_no_sink_could_store_is_refused_with_its_reason(zones, change, reason):
    record = {**sample_fixes(zones)[-1].to_record(), **change}

    with pytest.raises(CorrectionError) as refused:
        correction_line(json.dumps(record).encode(), zones)

    assert reason in str(refused.value)


def test_a_correction_with_a_nan_literal_is_not_json(zones):
    """json.dumps writes NaN for a float nan; RFC 8259, and so the daily stage, does not read it."""
    record = {**sample_fixes(zones)[-1].to_record(), "weighted_ms": float("nan")}

    with pytest.raises(CorrectionError) as refused:
        correction_line(json.dumps(record).encode(), zones)

    assert str(refused.value) == "not a JSON object: NaN is not JSON (RFC 8259)"


# Each once changed a day's total (a hostile-input audit): a correction reconcile could never
# have sent, against a day holding 9.00.
FORGED = {
    "a reversal that pays": (0, {"amount": "7.50"}, "signed against the kind"),
    "an adjustment that takes pay away": (-1, {"amount": "-3.00"}, "signed against the kind"),
    "yen counted as cents in a dollar zone": (-1, {"currency": "JPY", "amount": "900"}, "JPY"),
    "an amount its fields deny": (-1, {"amount": "30.00"}, "is not rate_per_minute x weighted"),
    "a day its start is not on": (-1, {"pay_date": "2026-11-27"}, "is not the local date"),
    "a base longer than its span": (-1, {"base_ms": 3_600_000}, "not the line's end minus"),
}


@pytest.mark.parametrize(("which", "change", "reason"), FORGED.values(), ids=FORGED.keys())
def test_a_correction_reconcile_could_not_have_sent_is_refused(zones, which, change, reason):
    record = {**sample_fixes(zones)[which].to_record(), **change}

    with pytest.raises(CorrectionError) as refused:
        correction_line(json.dumps(record).encode(), zones)

    assert reason in str(refused.value)


def test_a_reversal_of_a_line_a_bug_overpriced_is_still_accepted_as_it_was(zones):
    """The reversal negates the streamed amount, whatever its rate and weighted time say."""
    reversal = sample_fixes(zones)[0]
    assert reversal.kind is LineKind.REVERSAL
    assert reversal.amount != -pay_amount(
        reversal.rate_per_minute, -reversal.weighted_ms, reversal.currency
    )
    assert correction_line(reversal.to_json().encode(), zones) == reversal


def test_a_correction_for_the_first_local_day_events_can_fall_on_is_accepted(zones):
    """2000-01-01T03:00Z, the first supported instants, is still 1999-12-31 in San Francisco."""
    iv = PaidInterval(
        "o1",
        "d1",
        "sf",
        ms("2000-01-01T03:00:00Z"),
        ms("2000-01-01T03:30:00Z"),
        "a",
        "d",
        "DELIVERED",
    )
    [line] = lines_for(iv, zones, LineKind.ADJUSTMENT, "reconcile r1", revision=1)
    assert line.pay_date.isoformat() == "1999-12-31"

    assert correction_line(line.to_json().encode(), zones) == line


SERVED = DayBase(total_minor=1350, line_count=1, version=3)  # d1's overpaid row on 2026-11-24


def test_each_correction_carries_its_day_as_it_stands_once_the_ones_before_it_applied(zones):
    right = paid(zones, "o1", "2026-11-24T18:00:00Z", "2026-11-24T18:30:00Z")  # 9.00
    fixes = corrections([overpaid(right[0], "4.50")], right, run_id="r1")
    assert [(f.kind, f.amount_minor) for f in fixes] == [
        (LineKind.REVERSAL, -1350),
        (LineKind.ADJUSTMENT, 900),
    ]
    bases = [base for _, base in day_bases(fixes, {("d1", "2026-11-24"): SERVED})]
    assert bases == [SERVED, DayBase(0, 0, 4)]


def test_a_day_the_stream_never_served_starts_from_nothing(zones):
    right = paid(zones, "o1", "2026-11-24T18:00:00Z", "2026-11-24T18:30:00Z")
    [(fix, base)] = day_bases(corrections([], right, run_id="r1"), {})
    assert (fix.kind, base) == (LineKind.ADJUSTMENT, DayBase(0, 0, 0))


def test_the_job_reads_a_correction_and_its_day_back_as_they_were_sent(zones):
    for fix, base in day_bases(sample_fixes(zones), {}):
        sent = json.dumps(correction_record(fix, base)).encode()
        assert correction(sent, zones) == (fix, base)
        assert correction(fix.to_json().encode(), zones) == (fix, None)


def test_the_two_ledgers_meet_one_driver_day_at_a_time(zones):
    """Each driver-day's lines of both sides come together; neither side is read ahead."""
    morning = "2026-11-24T18:00:00Z", "2026-11-24T18:30:00Z"
    a1, b1, b2, c1 = (
        paid(zones, o, *morning, driver=d)[0]
        for o, d in (("o1", "a"), ("o2", "b"), ("o3", "b"), ("o4", "c"))
    )
    pulled: list[str] = []

    def read(lines: list[PayLine], side: str) -> Iterator[PayLine]:
        for line in lines:
            pulled.append(f"{side}:{line.interval.order_id}")
            yield line

    merged = by_driver_day(read([a1, b1, b2], "s"), read([b1, c1], "r"))
    assert next(merged) == (("a", "2026-11-24"), [a1], [])
    # each side's current run, and one line past it to see that it ended: nothing more
    assert pulled == ["s:o1", "s:o2", "r:o2", "r:o4"]
    assert next(merged) == (("b", "2026-11-24"), [b1, b2], [b1])
    assert next(merged) == (("c", "2026-11-24"), [], [c1])
    assert next(merged, None) is None


def test_a_ledger_out_of_driver_order_is_refused_not_merged(zones):
    """Merged as it came, b's second run would look missing from the recompute and be reversed."""
    morning = "2026-11-24T18:00:00Z", "2026-11-24T18:30:00Z"
    a, b, again = (
        paid(zones, o, *morning, driver=d)[0] for o, d in (("o1", "b"), ("o2", "a"), ("o3", "b"))
    )
    with pytest.raises(ValueError, match="streamed ledger is not in"):
        list(by_driver_day([a, b, again], []))
