"""Weekly peak windows with dated overrides (contracts §3): local wall clock, DST, half-open.

The property tests compare the expansion with a brute force that walks the interval minute by
minute, reads each minute's local date and wall-clock time with ``zoneinfo`` and applies the
rule as written: a local date on which a dated window starts uses only dated windows; other
dates use the weekly windows of their weekday; the largest covering multiplier wins, else 1.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.localday import wall_clock_ranges
from udfs.pay import price_interval
from udfs.schedule import PeakWindow
from udfs.timefmt import parse_rfc3339_ms as ms
from udfs.weekly import WeeklySchedule, WeeklyWindow
from udfs.zones import ZonesError, parse_zones

MINUTE = 60_000
HOUR = 60 * MINUTE
LA = ZoneInfo("America/Los_Angeles")
MON_TO_FRI = frozenset(range(5))
LUNCH = WeeklyWindow(MON_TO_FRI, 11 * 60, 13 * 60, Decimal(2))


def sf_yaml(**spec: Any) -> bytes:
    zone = {"timezone": "America/Los_Angeles", "currency": "USD", "rate_per_minute": "0.30"}
    return yaml.safe_dump({"zones": {"sf": {**zone, **spec}}}).encode()


WEEKDAY_LUNCH = {"days": ["MON", "TUE", "WED", "THU", "FRI"], "start": "11:00", "end": "13:00"}


def test_a_weekday_lunch_window_pays_double_on_a_wednesday_and_not_on_a_saturday() -> None:
    sf = parse_zones(sf_yaml(weekly_peaks=[{**WEEKDAY_LUNCH, "multiplier": "2"}]))["sf"]
    wednesday_noon = ms("2026-11-25T12:00:00-08:00")
    saturday_noon = ms("2026-11-28T12:00:00-08:00")
    assert sf.schedule.weighted_ms(wednesday_noon, wednesday_noon + HOUR) == 2 * HOUR
    assert sf.schedule.weighted_ms(saturday_noon, saturday_noon + HOUR) == HOUR


def test_a_date_with_a_dated_window_uses_only_its_dated_windows() -> None:
    dated = [{"start": "2026-11-24T17:00", "end": "2026-11-24T18:00", "multiplier": "1.5"}]
    sf = parse_zones(
        sf_yaml(weekly_peaks=[{**WEEKDAY_LUNCH, "multiplier": "2"}], peak_windows=dated)
    )["sf"]
    tuesday_noon = ms("2026-11-24T12:00:00-08:00")  # Tuesday, but it has a dated window
    tuesday_five_pm = ms("2026-11-24T17:00:00-08:00")
    wednesday_noon = ms("2026-11-25T12:00:00-08:00")
    assert sf.schedule.weighted_ms(tuesday_noon, tuesday_noon + HOUR) == HOUR
    assert sf.schedule.weighted_ms(tuesday_five_pm, tuesday_five_pm + HOUR) == Decimal("1.5") * HOUR
    assert sf.schedule.weighted_ms(wednesday_noon, wednesday_noon + HOUR) == 2 * HOUR


def test_a_dated_window_running_past_midnight_still_covers_the_next_morning() -> None:
    late = [{"start": "2026-11-24T23:00", "end": "2026-11-25T01:00", "multiplier": "3"}]
    night = {"days": ["WED"], "start": "00:00", "end": "02:00", "multiplier": "2"}
    sf = parse_zones(sf_yaml(weekly_peaks=[night], peak_windows=late))["sf"]
    wednesday_midnight = ms("2026-11-25T00:00:00-08:00")
    # 00:00-01:00 is under both (x3 wins), 01:00-02:00 under the weekly x2 only
    weighted = sf.schedule.weighted_ms(wednesday_midnight, wednesday_midnight + 2 * HOUR)
    assert weighted == 3 * HOUR + 2 * HOUR


def test_a_lunch_across_a_local_day_is_priced_per_day_with_its_own_windows() -> None:
    evening = {"days": ["TUE"], "start": "23:00", "end": "24:00", "multiplier": "2"}
    sf = parse_zones(sf_yaml(weekly_peaks=[evening]))["sf"]
    parts = price_interval(sf, ms("2026-11-24T23:30:00-08:00"), ms("2026-11-25T00:30:00-08:00"))
    assert [(p.pay_date.isoformat(), p.weighted_ms) for p in parts] == [
        ("2026-11-24", 2 * 30 * MINUTE),
        ("2026-11-25", 30 * MINUTE),
    ]


def test_spring_forward_a_window_starting_in_the_gap_covers_the_hour_that_exists() -> None:
    # 2026-03-08 in Los Angeles: 02:00 PST jumps to 03:00 PDT
    ranges = wall_clock_ranges(date(2026, 3, 8), 2 * 60 + 30, 4 * 60, LA)
    assert ranges == [(ms("2026-03-08T03:00:00-07:00"), ms("2026-03-08T04:00:00-07:00"))]


def test_fall_back_a_window_in_the_repeated_hour_covers_both_of_its_occurrences() -> None:
    # 2026-11-01 in Los Angeles: 02:00 PDT falls back to 01:00 PST
    ranges = wall_clock_ranges(date(2026, 11, 1), 60 + 30, 2 * 60, LA)
    assert ranges == [
        (ms("2026-11-01T01:30:00-07:00"), ms("2026-11-01T02:00:00-07:00")),
        (ms("2026-11-01T01:30:00-08:00"), ms("2026-11-01T02:00:00-08:00")),
    ]


def test_a_whole_day_window_on_a_25_hour_day_pays_25_hours() -> None:
    schedule = WeeklySchedule([], [WeeklyWindow(frozenset({6}), 0, 24 * 60, Decimal(2))], LA)
    sunday = ms("2026-11-01T00:00:00-07:00")
    monday = ms("2026-11-02T00:00:00-08:00")
    assert monday - sunday == 25 * HOUR
    assert schedule.weighted_ms(sunday, monday) == 2 * 25 * HOUR


def test_a_zone_without_weekly_windows_keeps_its_schedule_and_version() -> None:
    dated = [{"start": "2026-11-24T11:00", "end": "2026-11-24T13:00", "multiplier": "2"}]
    plain = parse_zones(sf_yaml(peak_windows=dated))["sf"].schedule
    assert not isinstance(plain, WeeklySchedule)
    with_weekly = parse_zones(
        sf_yaml(peak_windows=dated, weekly_peaks=[{**WEEKDAY_LUNCH, "multiplier": "2"}])
    )["sf"].schedule
    assert with_weekly.version != plain.version


@pytest.mark.parametrize(
    ("window", "path"),
    [
        ({"days": ["MON"], "start": "11:00", "end": "10:00"}, "end must be after start"),
        ({"days": ["Monday"], "start": "11:00", "end": "12:00"}, ".days"),
        ({"days": [], "start": "11:00", "end": "12:00"}, ".days"),
        ({"days": ["MON"], "start": 660, "end": "12:00"}, ".start: must be a quoted local time"),
        ({"days": ["MON"], "start": "11:60", "end": "12:00"}, ".start"),
        ({"days": ["MON"], "start": "11:00", "end": "24:01"}, ".end"),
        ({"days": ["MON"], "start": "11:00"}, ".end: required"),
    ],
    ids=[
        "end before start",
        "weekday name",
        "no days",
        "unquoted",
        "minute 60",
        "past 24",
        "no end",
    ],
)
def test_each_broken_weekly_window_is_reported_with_its_path(
    window: dict[str, Any], path: str
) -> None:
    with pytest.raises(ZonesError) as caught:
        parse_zones(sf_yaml(weekly_peaks=[{"multiplier": "2", **window}]))
    assert "zones.sf.weekly_peaks[0]" in str(caught.value)
    assert path in str(caught.value)


# --- properties: the expansion against a minute-by-minute reading of the rule -----------------

TIMEZONES = [
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/Santiago",  # DST transitions at local midnight
    "Asia/Tokyo",  # no DST
]
# days around DST transitions, where wall clock and instants part ways
AROUND = [
    date(2026, 3, 8),
    date(2026, 11, 1),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 4, 5),
    date(2026, 10, 4),
    date(2026, 9, 6),
    date(2026, 11, 24),
]
MULTIPLIERS = [Decimal(m) for m in ("0", "0.5", "1", "1.5", "2", "3")]


@st.composite
def weekly_windows(draw: st.DrawFn) -> WeeklyWindow:
    days = frozenset(draw(st.sets(st.integers(0, 6), min_size=1)))
    a, b = sorted(draw(st.lists(st.integers(0, 96), min_size=2, max_size=2, unique=True)))
    return WeeklyWindow(days, a * 15, b * 15, draw(st.sampled_from(MULTIPLIERS)))


@st.composite
def cases(draw: st.DrawFn) -> tuple[ZoneInfo, list[PeakWindow], list[WeeklyWindow], int, int]:
    tz = ZoneInfo(draw(st.sampled_from(TIMEZONES)))
    base = draw(st.sampled_from(AROUND))
    midnight = datetime.combine(base - timedelta(days=1), datetime.min.time(), tzinfo=tz)
    start = int(midnight.timestamp() * 1000) + draw(st.integers(0, 3 * 24 * 60)) * MINUTE
    end = start + draw(st.integers(0, 2 * 24 * 60)) * MINUTE
    dated = []
    for _ in range(draw(st.integers(0, 2))):
        s = start + draw(st.integers(-12 * 60, 36 * 60)) * MINUTE
        dated.append(
            PeakWindow(
                s, s + draw(st.integers(0, 6 * 60)) * MINUTE, draw(st.sampled_from(MULTIPLIERS))
            )
        )
    weekly = draw(st.lists(weekly_windows(), min_size=1, max_size=3))
    return tz, dated, weekly, start, end


def brute_force(
    tz: ZoneInfo, dated: list[PeakWindow], weekly: list[WeeklyWindow], start: int, end: int
) -> Fraction:
    dated_dates = {datetime.fromtimestamp(w.start_ms / 1000, tz).date() for w in dated}
    total = Fraction(0)
    for u in range(start, end, MINUTE):
        local = datetime.fromtimestamp(u / 1000, tz)
        minute = local.hour * 60 + local.minute
        covering = [w.multiplier for w in dated if w.start_ms <= u < w.end_ms]
        if local.date() not in dated_dates:
            covering += [
                w.multiplier
                for w in weekly
                if local.weekday() in w.days and w.start_minute <= minute < w.end_minute
            ]
        total += Fraction(max(covering) if covering else 1) * MINUTE
    return total


@settings(max_examples=200, deadline=None)
@given(cases())
def test_weekly_expansion_equals_the_minute_by_minute_rule(
    case: tuple[ZoneInfo, list[PeakWindow], list[WeeklyWindow], int, int],
) -> None:
    tz, dated, weekly, start, end = case
    schedule = WeeklySchedule(dated, weekly, tz)
    assert Fraction(schedule.weighted_ms(start, end)) == brute_force(tz, dated, weekly, start, end)


@settings(max_examples=100, deadline=None)
@given(cases(), st.integers(0, 2 * 24 * 60))
def test_weighted_time_adds_up_across_any_split_point(
    case: tuple[ZoneInfo, list[PeakWindow], list[WeeklyWindow], int, int], cut: int
) -> None:
    tz, dated, weekly, start, end = case
    middle = min(end, start + cut * MINUTE)
    schedule = WeeklySchedule(dated, weekly, tz)
    whole = schedule.weighted_ms(start, end)
    assert whole == schedule.weighted_ms(start, middle) + schedule.weighted_ms(middle, end)
