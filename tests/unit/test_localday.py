"""Pay days are local calendar dates (DST-aware); intervals split at local midnight."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.localday import DayPart, day_end_ms, day_start_ms, pay_date, split_by_local_day
from udfs.pay import price_interval
from udfs.schedule import PeakSchedule, PeakWindow
from udfs.timefmt import parse_rfc3339_ms as ms
from udfs.zones import DEFAULT_PAID_ON, Zone

LA = ZoneInfo("America/Los_Angeles")
HOUR = 3_600_000
MINUTE = 60_000

LAST_MS_OF_NOV_24_IN_LA = ms("2026-11-24T23:59:59.999-08:00")
MIDNIGHT_NOV_25_IN_LA = ms("2026-11-25T00:00:00-08:00")
LA_2330_NOV_24 = ms("2026-11-24T23:30:00-08:00")
LA_0030_NOV_25 = ms("2026-11-25T00:30:00-08:00")
LA_0100_NOV_25 = ms("2026-11-25T01:00:00-08:00")

SPRING_FORWARD = date(2026, 3, 8)  # 02:00 PST -> 03:00 PDT
FALL_BACK = date(2026, 11, 1)  # 02:00 PDT -> 01:00 PST


def sf_zone(*windows: PeakWindow, rate: str = "0.30") -> Zone:
    return Zone("sf", LA, "USD", Decimal(rate), DEFAULT_PAID_ON, PeakSchedule(windows))


def test_last_millisecond_before_local_midnight_is_paid_on_that_day() -> None:
    assert pay_date(LAST_MS_OF_NOV_24_IN_LA, LA) == date(2026, 11, 24)


def test_local_midnight_is_the_first_instant_of_the_next_day() -> None:
    assert pay_date(MIDNIGHT_NOV_25_IN_LA, LA) == date(2026, 11, 25)
    assert MIDNIGHT_NOV_25_IN_LA - LAST_MS_OF_NOV_24_IN_LA == 1


def test_pay_date_is_the_local_date_not_the_utc_date() -> None:
    evening_in_la = ms("2026-11-25T07:30:00Z")  # 23:30 on the 24th in Los Angeles
    assert pay_date(evening_in_la, LA) == date(2026, 11, 24)


def test_an_ordinary_day_spans_local_midnight_to_local_midnight() -> None:
    day = date(2026, 11, 24)
    assert day_start_ms(day, LA) == ms("2026-11-24T08:00:00Z")
    assert day_end_ms(day, LA) == MIDNIGHT_NOV_25_IN_LA
    assert day_end_ms(day, LA) - day_start_ms(day, LA) == 24 * HOUR


def test_spring_forward_day_is_23_hours_long() -> None:
    assert day_end_ms(SPRING_FORWARD, LA) - day_start_ms(SPRING_FORWARD, LA) == 23 * HOUR


def test_fall_back_day_is_25_hours_long() -> None:
    assert day_end_ms(FALL_BACK, LA) - day_start_ms(FALL_BACK, LA) == 25 * HOUR


def test_interval_crossing_local_midnight_splits_into_one_part_per_day() -> None:
    parts = split_by_local_day(LA_2330_NOV_24, LA_0030_NOV_25, LA)
    assert parts == [
        DayPart(date(2026, 11, 24), LA_2330_NOV_24, MIDNIGHT_NOV_25_IN_LA),
        DayPart(date(2026, 11, 25), MIDNIGHT_NOV_25_IN_LA, LA_0030_NOV_25),
    ]


def test_interval_ending_exactly_at_local_midnight_stays_on_its_day() -> None:
    parts = split_by_local_day(LA_2330_NOV_24, MIDNIGHT_NOV_25_IN_LA, LA)
    assert parts == [DayPart(date(2026, 11, 24), LA_2330_NOV_24, MIDNIGHT_NOV_25_IN_LA)]


def test_interval_starting_exactly_at_local_midnight_belongs_to_the_new_day() -> None:
    parts = split_by_local_day(MIDNIGHT_NOV_25_IN_LA, LA_0030_NOV_25, LA)
    assert parts == [DayPart(date(2026, 11, 25), MIDNIGHT_NOV_25_IN_LA, LA_0030_NOV_25)]


def test_zero_length_interval_yields_one_empty_part() -> None:
    assert split_by_local_day(LA_2330_NOV_24, LA_2330_NOV_24, LA) == [
        DayPart(date(2026, 11, 24), LA_2330_NOV_24, LA_2330_NOV_24)
    ]


def test_multi_day_interval_yields_one_part_per_local_day() -> None:
    parts = split_by_local_day(LA_2330_NOV_24, LA_2330_NOV_24 + 2 * 24 * HOUR, LA)
    assert [p.pay_date for p in parts] == [date(2026, 11, d) for d in (24, 25, 26)]
    assert [p.end_ms - p.start_ms for p in parts] == [
        30 * MINUTE,
        24 * HOUR,
        23 * HOUR + 30 * MINUTE,
    ]


def test_each_part_of_a_midnight_crossing_interval_is_priced_on_its_own_day() -> None:
    early_bonus_nov_25 = PeakWindow(MIDNIGHT_NOV_25_IN_LA, LA_0100_NOV_25, Decimal(2))
    parts = price_interval(sf_zone(early_bonus_nov_25), LA_2330_NOV_24, LA_0030_NOV_25)
    assert [(p.pay_date, p.base_ms, p.weighted_ms, p.amount) for p in parts] == [
        (date(2026, 11, 24), 30 * MINUTE, Decimal(30 * MINUTE), Decimal("9.00")),
        (date(2026, 11, 25), 30 * MINUTE, Decimal(60 * MINUTE), Decimal("18.00")),
    ]


def test_interval_across_the_fall_back_night_pays_real_elapsed_time_on_one_day() -> None:
    half_past_midnight_pdt = ms("2026-11-01T00:30:00-07:00")
    three_am_pst = ms("2026-11-01T03:00:00-08:00")  # 2.5 h on the wall clock, 3.5 h really
    [part] = price_interval(sf_zone(), half_past_midnight_pdt, three_am_pst)
    assert part.pay_date == FALL_BACK
    assert part.base_ms == int(3.5 * HOUR)
    assert part.amount == Decimal("63.00")


def test_interval_across_the_spring_forward_night_pays_real_elapsed_time() -> None:
    half_past_one_pst = ms("2026-03-08T01:30:00-08:00")
    half_past_three_pdt = ms("2026-03-08T03:30:00-07:00")  # 2 h on the wall clock, 1 h really
    [part] = price_interval(sf_zone(), half_past_one_pst, half_past_three_pdt)
    assert part.pay_date == SPRING_FORWARD
    assert part.base_ms == HOUR
    assert part.amount == Decimal("18.00")


def test_interval_covering_the_whole_25_hour_day_puts_25_hours_on_it() -> None:
    parts = split_by_local_day(ms("2026-10-31T23:00:00-07:00"), ms("2026-11-02T01:00:00-08:00"), LA)
    assert [(p.pay_date, p.end_ms - p.start_ms) for p in parts] == [
        (date(2026, 10, 31), HOUR),
        (FALL_BACK, 25 * HOUR),
        (date(2026, 11, 2), HOUR),
    ]


def test_a_midnight_skipped_by_dst_starts_the_day_at_the_transition() -> None:
    sao_paulo = ZoneInfo("America/Sao_Paulo")  # 2018-11-04 00:00 -03 jumped to 01:00 -02
    skipped = date(2018, 11, 4)
    start = day_start_ms(skipped, sao_paulo)
    assert start == ms("2018-11-04T01:00:00-02:00")
    assert pay_date(start, sao_paulo) == skipped
    assert pay_date(start - 1, sao_paulo) == date(2018, 11, 3)
    assert day_end_ms(skipped, sao_paulo) - start == 23 * HOUR


def test_interval_across_a_skipped_midnight_splits_at_the_transition() -> None:
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    before, after = ms("2018-11-03T23:30:00-03:00"), ms("2018-11-04T01:30:00-02:00")
    transition = ms("2018-11-04T01:00:00-02:00")
    assert split_by_local_day(before, after, sao_paulo) == [
        DayPart(date(2018, 11, 3), before, transition),
        DayPart(date(2018, 11, 4), transition, after),
    ]


def test_a_repeated_midnight_starts_the_day_at_its_first_occurrence() -> None:
    havana = ZoneInfo("America/Havana")  # 2022-11-06 01:00 CDT fell back to 00:00 CST
    day = date(2022, 11, 6)
    assert day_start_ms(day, havana) == ms("2022-11-06T00:00:00-04:00")
    assert pay_date(ms("2022-11-06T00:30:00-05:00"), havana) == day  # the second 00:30
    assert day_end_ms(day, havana) - day_start_ms(day, havana) == 25 * HOUR


ZONES = [
    ZoneInfo(name)
    for name in (
        "America/Los_Angeles",
        "Asia/Tokyo",
        "America/Sao_Paulo",
        "America/Havana",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Pacific/Chatham",
        "Europe/London",
    )
]
DST_YEARS_MS = (ms("2018-01-01T00:00:00Z"), ms("2027-01-01T00:00:00Z"))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.integers(*DST_YEARS_MS),
    st.integers(0, 3 * 24 * HOUR),
)
def test_day_parts_tile_the_interval_and_each_lies_within_its_local_day(
    tz: ZoneInfo, start: int, length: int
) -> None:
    end = start + length
    parts = split_by_local_day(start, end, tz)
    assert parts[0].start_ms == start
    assert parts[-1].end_ms == end
    for left, right in pairwise(parts):
        assert left.end_ms == right.start_ms
        assert left.pay_date < right.pay_date
        assert right.start_ms == day_start_ms(right.pay_date, tz)
    for part in parts:
        assert day_start_ms(part.pay_date, tz) <= part.start_ms
        assert part.end_ms <= day_end_ms(part.pay_date, tz)
        assert pay_date(part.start_ms, tz) == part.pay_date
        if part.end_ms > part.start_ms:
            assert pay_date(part.end_ms - 1, tz) == part.pay_date


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES), st.dates(date(2018, 1, 1), date(2026, 12, 31)))
def test_consecutive_days_abut_and_last_between_22_and_26_hours(tz: ZoneInfo, day: date) -> None:
    assert day_end_ms(day, tz) == day_start_ms(day + timedelta(days=1), tz)
    assert 22 * HOUR <= day_end_ms(day, tz) - day_start_ms(day, tz) <= 26 * HOUR


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([*ZONES, ZoneInfo("America/Santiago")]), st.integers(*DST_YEARS_MS))
def test_pay_date_is_the_wall_clock_date_of_the_exact_millisecond(
    tz: ZoneInfo, instant: int
) -> None:
    wall = datetime.fromtimestamp(instant / 1000, UTC).astimezone(tz)
    assert pay_date(instant, tz) == wall.date()


def test_the_hour_santiago_repeats_after_midnight_is_paid_on_the_day_before() -> None:
    santiago = ZoneInfo("America/Santiago")  # 2024-04-07 00:00 -03 fell back to 23:00 -04
    assert pay_date(ms("2024-04-06T23:59:59.999-03:00"), santiago) == date(2024, 4, 6)
    assert pay_date(ms("2024-04-07T00:00:00-03:00"), santiago) == date(2024, 4, 6)  # 23:00 -04
    assert pay_date(ms("2024-04-06T23:59:59.999-04:00"), santiago) == date(2024, 4, 6)
    assert pay_date(ms("2024-04-07T00:00:00-04:00"), santiago) == date(2024, 4, 7)
