"""Zones versions (contracts §3): effective times, the history, the topic record, conflicts."""

import itertools
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.daily import DailyTotals, Verdict
from udfs.events import EventType, OrderEvent
from udfs.ledger import LineKind, PaidInterval, PayLine, lines_for
from udfs.lifecycle import REPRICED, OrderLifecycle, OrderState
from udfs.reconcile import corrections
from udfs.timefmt import parse_rfc3339_ms as ms
from udfs.zones import ZonesError, load_zones, parse_zones
from udfs.zones_history import (
    ZonesConflictError,
    ZonesHistory,
    history_from,
    history_of,
    parse_version_record,
    version_record,
    with_effective,
)

ZONES_FILE = Path(__file__).resolve().parents[2] / "config" / "zones.yaml"
HOUR = 3_600_000
FIVE_PM = ms("2026-11-24T17:00:00-08:00")  # when the corrected evening window takes effect
FOUR_PM = ms("2026-11-24T16:00:00-08:00")
SIX_PM = ms("2026-11-24T18:00:00-08:00")


def sf_doc(rate: str = "0.30", effective: str | None = None, **zone: Any) -> bytes:
    spec = {"timezone": "America/Los_Angeles", "currency": "USD", "rate_per_minute": rate}
    doc: dict[str, Any] = {"zones": {"sf": {**spec, **zone}}}
    if effective is not None:
        doc["effective"] = effective
    return yaml.safe_dump(doc).encode()


BASE = parse_zones(sf_doc("0.30"))
RAISE_AT_5PM = parse_zones(sf_doc("0.40", effective="2026-11-24T17:00:00-08:00"))


def sf_interval(start: int, end: int) -> PaidInterval:
    return PaidInterval("o-1", "d-1", "sf", start, end, "a", "d", "DELIVERED")


def test_the_shipped_file_has_no_effective_time_and_keeps_its_version() -> None:
    zones = load_zones(ZONES_FILE)
    assert zones.effective_ms is None
    assert zones.source == ZONES_FILE.read_bytes()


def test_an_effective_time_is_read_from_the_document() -> None:
    assert RAISE_AT_5PM.effective_ms == FIVE_PM


@pytest.mark.parametrize(
    ("effective", "message"),
    [
        ("2026-11-24T17:00", "effective:"),
        ("tomorrow", "effective:"),
        (3, "effective: must be an RFC 3339 instant"),
    ],
    ids=["no offset", "text", "number"],
)
def test_a_bad_effective_time_is_refused_naming_the_field(effective: Any, message: str) -> None:
    with pytest.raises(ZonesError, match=message):
        parse_zones(
            yaml.safe_dump(
                {"effective": effective, "zones": yaml.safe_load(sf_doc())["zones"]}
            ).encode()
        )


def test_a_misspelt_top_level_key_is_refused_rather_than_read_as_effective_forever() -> None:
    with pytest.raises(ZonesError, match="efective: unknown top-level key"):
        parse_zones(sf_doc() + b'efective: "2026-11-24T17:00:00Z"\n')


def test_an_interval_starting_before_the_effective_time_is_priced_by_the_earlier_version() -> None:
    history = ZonesHistory([BASE, RAISE_AT_5PM])
    assert history.governing("sf", FOUR_PM) is BASE
    assert history.governing("sf", FIVE_PM) is RAISE_AT_5PM  # effective at exactly t: in force
    assert history.governing("sf", SIX_PM) is RAISE_AT_5PM


def test_the_answer_does_not_depend_on_the_order_versions_arrived_in() -> None:
    later = parse_zones(sf_doc("0.50", effective="2026-11-24T18:00:00-08:00"))
    versions = [BASE, RAISE_AT_5PM, later]
    answers = {
        tuple(ZonesHistory(order).governing("sf", t).version for t in (FOUR_PM, FIVE_PM, SIX_PM))
        for order in itertools.permutations(versions)
    }
    assert answers == {(BASE.version, RAISE_AT_5PM.version, later.version)}


def test_a_line_carries_the_version_in_force_over_its_minutes() -> None:
    history = ZonesHistory([BASE, RAISE_AT_5PM])
    [before] = lines_for(sf_interval(FOUR_PM, FOUR_PM + HOUR), history)
    [after] = lines_for(sf_interval(FIVE_PM, SIX_PM), history)
    assert (before.zones_version, before.amount) == (BASE.version, Decimal("18.00"))
    assert (after.zones_version, after.amount) == (RAISE_AT_5PM.version, Decimal("24.00"))


def test_an_interval_across_an_effective_time_is_paid_by_each_version_for_its_own_minutes() -> None:
    half_past_four = FOUR_PM + HOUR // 2
    history = ZonesHistory([BASE, RAISE_AT_5PM])
    old, new = lines_for(sf_interval(half_past_four, SIX_PM), history)
    assert (old.start_ms, old.end_ms, old.zones_version) == (half_past_four, FIVE_PM, BASE.version)
    assert (new.start_ms, new.end_ms, new.zones_version) == (FIVE_PM, SIX_PM, RAISE_AT_5PM.version)
    # 30 minutes at 0.30, then 60 at 0.40
    assert (old.amount, new.amount) == (Decimal("9.00"), Decimal("24.00"))
    assert old.line_id != new.line_id
    assert old.interval_key != new.interval_key


def test_an_interval_is_cut_only_where_a_version_takes_effect_strictly_inside_it() -> None:
    evening = parse_zones(sf_doc("0.50", effective="2026-11-24T17:30:00-08:00"))
    history = ZonesHistory([BASE, RAISE_AT_5PM, evening])
    half_past_five = FIVE_PM + HOUR // 2
    assert history.segments("sf", FOUR_PM, SIX_PM) == [
        (FOUR_PM, FIVE_PM, BASE),
        (FIVE_PM, half_past_five, RAISE_AT_5PM),
        (half_past_five, SIX_PM, evening),
    ]
    assert history.segments("sf", FIVE_PM, half_past_five) == [
        (FIVE_PM, half_past_five, RAISE_AT_5PM)  # starts and ends on an effective time: no cut
    ]
    assert history.segments("sf", FIVE_PM, FIVE_PM) == [(FIVE_PM, FIVE_PM, RAISE_AT_5PM)]
    assert BASE.segments("sf", FOUR_PM, SIX_PM) == [(FOUR_PM, SIX_PM, BASE)]


def test_a_version_that_leaves_a_zones_pricing_as_it_was_cuts_none_of_its_intervals() -> None:
    nyc_fixed = yaml.safe_load(sf_doc("0.30", effective="2026-11-24T17:00:00-08:00"))
    nyc_fixed["zones"]["nyc"] = {
        "timezone": "America/New_York",
        "currency": "USD",
        "rate_per_minute": "1",
    }
    history = ZonesHistory([BASE, parse_zones(yaml.safe_dump(nyc_fixed).encode())])
    [line] = lines_for(sf_interval(FOUR_PM, SIX_PM), history)  # sf's rate and peaks unchanged
    assert (line.start_ms, line.end_ms, line.zones_version) == (FOUR_PM, SIX_PM, BASE.version)
    assert line.amount == Decimal("36.00")


def test_a_zone_missing_from_a_version_keeps_its_earlier_definition() -> None:
    both = yaml.safe_load(sf_doc())
    both["zones"]["nyc"] = {
        "timezone": "America/New_York",
        "currency": "USD",
        "rate_per_minute": "1",
    }
    base = parse_zones(yaml.safe_dump(both).encode())
    history = ZonesHistory([base, RAISE_AT_5PM])  # the correction names sf only
    assert history.governing("nyc", SIX_PM) is base
    assert history.governing("sf", SIX_PM) is RAISE_AT_5PM
    assert sorted(history) == ["nyc", "sf"]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"timezone": "America/Denver"}, "timezone"), ({"currency": "EUR"}, "currency")],
)
def test_a_version_changing_a_zones_timezone_or_currency_is_refused_naming_the_zone(
    change: dict[str, str], field: str
) -> None:
    spec = {"timezone": "America/Los_Angeles", "currency": "USD", "rate_per_minute": "1", **change}
    moved = parse_zones(yaml.safe_dump({"zones": {"sf": spec}}).encode())
    with pytest.raises(ZonesConflictError, match=f"zones.sf.{field}: .*needs a fresh start"):
        ZonesHistory([BASE]).plus(moved)


def test_a_version_record_round_trips_with_its_exact_document() -> None:
    record = version_record(RAISE_AT_5PM)
    again = parse_version_record(record)
    assert (again.version, again.effective_ms, again.source) == (
        RAISE_AT_5PM.version,
        FIVE_PM,
        RAISE_AT_5PM.source,
    )
    assert version_record(again) == record  # canonical: same version, same bytes


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda r: {**r, "version": "sha256:0000000000000000"}, "version:"),
        (lambda r: {**r, "effective": None}, "effective:"),
        (lambda r: {**r, "extra": 1}, "exactly"),
        (lambda r: {**r, "document": "zones: {}"}, "at least one zone"),
        (lambda r: {**r, "document": 7}, "document:"),
    ],
    ids=["wrong hash", "wrong effective", "extra key", "empty zones", "not text"],
)
def test_a_record_that_disagrees_with_its_document_is_refused(mangle: Any, message: str) -> None:
    import json

    record = json.loads(version_record(RAISE_AT_5PM))
    with pytest.raises(ZonesError, match=message):
        parse_version_record(json.dumps(mangle(record)))


def test_an_effective_option_becomes_part_of_the_document_and_of_its_version() -> None:
    stamped = parse_zones(with_effective(BASE.source, FIVE_PM))
    assert stamped.effective_ms == FIVE_PM
    assert stamped.version != BASE.version
    assert stamped["sf"].rate_per_minute == BASE["sf"].rate_per_minute
    with pytest.raises(ZonesError, match="already sets one"):
        with_effective(RAISE_AT_5PM.source, FIVE_PM)


def test_a_history_is_built_from_files_and_records_alike() -> None:
    history = history_of([BASE.source], [version_record(RAISE_AT_5PM)])
    assert [v.version for v in history.versions] == [BASE.version, RAISE_AT_5PM.version]


# --- the lifecycle re-prices orders still in state -------------------------------------------


def event(eid: str, kind: EventType, at: int) -> OrderEvent:
    return OrderEvent(eid, "o-1", "d-1", kind, at, "sf")


def test_an_order_in_state_is_repriced_when_a_version_arrives_for_its_interval() -> None:
    state = OrderState()
    before = OrderLifecycle(BASE, grace_ms=HOUR, max_open_ms=12 * HOUR)
    before.on_event(state, event("a", EventType.ACCEPTED, FIVE_PM), FOUR_PM)
    [paid] = before.on_event(state, event("d", EventType.DELIVERED, SIX_PM), FOUR_PM).lines
    assert (paid.kind, paid.amount, paid.zones_version) == (LineKind.LINE, 18, BASE.version)

    after = OrderLifecycle(ZonesHistory([BASE, RAISE_AT_5PM]), HOUR, 12 * HOUR)
    reversal, adjustment = after.on_timer(state, FIVE_PM).lines
    assert (reversal.kind, reversal.amount, reversal.zones_version) == (
        LineKind.REVERSAL,
        -18,
        BASE.version,
    )
    assert (adjustment.kind, adjustment.amount, adjustment.zones_version) == (
        LineKind.ADJUSTMENT,
        24,
        RAISE_AT_5PM.version,
    )
    assert reversal.reason == adjustment.reason == REPRICED
    assert after.on_timer(state, FIVE_PM).lines == []  # once


def test_an_order_that_ended_before_the_effective_time_is_not_touched_by_the_new_version() -> None:
    state = OrderState()
    lifecycle = OrderLifecycle(BASE, grace_ms=HOUR, max_open_ms=12 * HOUR)
    lifecycle.on_event(state, event("a", EventType.ACCEPTED, FOUR_PM), FOUR_PM)
    lifecycle.on_event(state, event("d", EventType.DELIVERED, FIVE_PM), FOUR_PM)
    newer = OrderLifecycle(ZonesHistory([BASE, RAISE_AT_5PM]), HOUR, 12 * HOUR)
    assert newer.on_timer(state, FIVE_PM).lines == []


def test_an_order_across_the_effective_time_is_repriced_for_its_minutes_after_it() -> None:
    state = OrderState()
    lifecycle = OrderLifecycle(BASE, grace_ms=HOUR, max_open_ms=12 * HOUR)
    lifecycle.on_event(state, event("a", EventType.ACCEPTED, FOUR_PM), FOUR_PM)
    [paid] = lifecycle.on_event(state, event("d", EventType.DELIVERED, SIX_PM), FOUR_PM).lines
    assert paid.amount == Decimal("36.00")  # two hours at 0.30
    newer = OrderLifecycle(ZonesHistory([BASE, RAISE_AT_5PM]), HOUR, 12 * HOUR)
    reversal, *adjustments = newer.on_timer(state, FIVE_PM).lines
    assert (reversal.kind, reversal.amount) == (LineKind.REVERSAL, Decimal("-36.00"))
    assert [(a.kind, a.amount, a.zones_version) for a in adjustments] == [
        (LineKind.ADJUSTMENT, Decimal("18.00"), BASE.version),
        (LineKind.ADJUSTMENT, Decimal("24.00"), RAISE_AT_5PM.version),
    ]
    assert newer.on_timer(state, FIVE_PM).lines == []  # once: the pieces now match the versions


def day_total(lines: list[PayLine]) -> tuple[int, list[Verdict]]:
    """The driver-day's total after ``lines``, as the daily stage applies them, and verdicts."""
    totals = DailyTotals(BASE, grace_ms=HOUR, retention_ms=24 * HOUR)
    state, verdicts = None, []
    for line in lines:
        state, step = totals.on_line(state, line, SIX_PM, FOUR_PM)
        verdicts.append(step.verdict)
    assert state is not None
    return state.total_minor, verdicts


def test_the_day_applies_the_repricing_of_an_order_across_the_effective_time_in_full() -> None:
    state = OrderState()
    lifecycle = OrderLifecycle(BASE, grace_ms=HOUR, max_open_ms=12 * HOUR)
    lifecycle.on_event(state, event("a", EventType.ACCEPTED, FOUR_PM), FOUR_PM)
    paid = lifecycle.on_event(state, event("d", EventType.DELIVERED, SIX_PM), FOUR_PM).lines
    newer = OrderLifecycle(ZonesHistory([BASE, RAISE_AT_5PM]), HOUR, 12 * HOUR)
    repriced = newer.on_timer(state, FIVE_PM).lines
    total, verdicts = day_total([*paid, *repriced])
    assert total == 1800 + 2400  # as if priced by both versions from the start
    assert set(verdicts) == {Verdict.APPLIED}


def test_reconcile_corrects_a_line_priced_whole_into_its_pieces_and_the_day_applies_them() -> None:
    streamed = lines_for(sf_interval(FOUR_PM, SIX_PM), BASE)  # the stream never saw 17:00's
    recomputed = lines_for(sf_interval(FOUR_PM, SIX_PM), ZonesHistory([BASE, RAISE_AT_5PM]))
    fixes = corrections(streamed, recomputed, run_id="r1")
    assert [fix.kind for fix in fixes] == [LineKind.REVERSAL, *[LineKind.ADJUSTMENT] * 2]
    total, verdicts = day_total([*streamed, *fixes])
    assert total == sum(line.amount_minor for line in recomputed) == 4200
    assert set(verdicts) == {Verdict.APPLIED}


def test_a_second_version_with_the_same_effective_time_is_refused_the_first_known_wins() -> None:
    twin = parse_zones(sf_doc("0.45", effective="2026-11-24T17:00:00-08:00"))
    with pytest.raises(ZonesConflictError, match=r"effective: .* is already the effective time"):
        ZonesHistory([BASE, RAISE_AT_5PM]).plus(twin)
    as_the_job_sees_it = history_from(
        BASE.source, [version_record(twin), version_record(RAISE_AT_5PM)]
    )
    assert as_the_job_sees_it.governing("sf", SIX_PM).version == twin.version


def test_the_submissions_file_wins_over_a_recorded_version_of_the_same_effective_time() -> None:
    corrected = parse_zones(sf_doc("0.35"))  # no effective: a tie with BASE
    history = history_from(corrected.source, [version_record(BASE)])
    assert [v.version for v in history.versions] == [corrected.version]


# --- the pieces, for any versions and interval --------------------------------------------------

CENT = Decimal("0.01")
RATES = st.sampled_from(["0.30", "0.40", "0.30", "0.55"])  # repeats: versions that change nothing


@st.composite
def versions_and_interval(draw: st.DrawFn) -> tuple[ZonesHistory, PaidInterval]:
    """A base version and up to four corrections at distinct minutes of the day, and an interval."""
    minutes = draw(st.lists(st.integers(1, 1439), max_size=4, unique=True))
    versions = [parse_zones(sf_doc(draw(RATES)))]
    for minute in minutes:
        effective = f"2026-11-24T{minute // 60:02d}:{minute % 60:02d}:00-08:00"
        versions.append(parse_zones(sf_doc(draw(RATES), effective=effective)))
    day = ms("2026-11-24T00:00:00-08:00")
    start = day + draw(st.integers(0, 1440)) * 60_000 - 30 * 60_000
    end = start + draw(st.integers(0, 600)) * 60_000
    return ZonesHistory(versions), sf_interval(start, end)


@given(versions_and_interval())
@settings(max_examples=300, deadline=None)
def test_an_intervals_lines_tile_it_each_priced_by_the_version_in_force_at_its_start(
    case: tuple[ZonesHistory, PaidInterval],
) -> None:
    history, interval = case
    lines = lines_for(interval, history)
    bounds = [(line.start_ms, line.end_ms) for line in lines]
    assert bounds[0][0] == interval.start_ms
    assert bounds[-1][1] == interval.end_ms
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))  # no gap, no overlap
    for line in lines:
        in_force = history.governing("sf", line.start_ms)
        assert in_force["sf"].rate_per_minute == line.rate_per_minute
        minutes = Decimal(line.base_ms) / 60_000  # no peaks in these versions
        assert line.amount == (line.rate_per_minute * minutes).quantize(CENT, ROUND_HALF_UP)
    for before, after in itertools.pairwise(lines):  # a cut only where the rate changes
        if before.pay_date == after.pay_date:
            assert before.rate_per_minute != after.rate_per_minute
    assert len({line.line_id for line in lines}) == len(lines)
