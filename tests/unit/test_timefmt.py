"""RFC 3339 with a mandatory offset <-> epoch milliseconds (sub-millisecond digits floored)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.timefmt import (
    TimestampError,
    _parse_general,
    format_ms,
    from_datetime,
    parse_rfc3339_ms,
    to_datetime,
)

NOON_UTC = 1_795_521_600_000  # 2026-11-24T12:00:00Z, computed independently below


def test_noon_utc_is_the_expected_epoch_millisecond() -> None:
    since_epoch = datetime(2026, 11, 24, 12, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    assert since_epoch // timedelta(milliseconds=1) == NOON_UTC
    assert parse_rfc3339_ms("2026-11-24T12:00:00Z") == NOON_UTC


def test_positive_offset_is_subtracted_to_reach_utc() -> None:
    assert parse_rfc3339_ms("2026-11-24T17:30:00+05:30") == NOON_UTC


def test_negative_offset_is_added_to_reach_utc() -> None:
    assert parse_rfc3339_ms("2026-11-24T04:00:00-08:00") == NOON_UTC


def test_minus_zero_offset_means_utc() -> None:
    assert parse_rfc3339_ms("2026-11-24T12:00:00-00:00") == NOON_UTC


def test_lowercase_t_and_z_are_accepted() -> None:
    assert parse_rfc3339_ms("2026-11-24t12:00:00z") == NOON_UTC


def test_space_separator_is_accepted_as_rfc_3339_allows() -> None:
    assert parse_rfc3339_ms("2026-11-24 12:00:00Z") == NOON_UTC


@pytest.mark.parametrize(
    ("fraction", "millis"),
    [
        ("1", 100),
        ("12", 120),
        ("123", 123),
        ("1239", 123),
        ("12345", 123),
        ("123456", 123),
        ("1234567", 123),
        ("12345678", 123),
        ("123456789", 123),
        ("999999999", 999),
        ("000999999", 0),
    ],
)
def test_fractional_seconds_of_one_to_nine_digits_are_floored_to_milliseconds(
    fraction: str, millis: int
) -> None:
    assert parse_rfc3339_ms(f"2026-11-24T12:00:00.{fraction}Z") == NOON_UTC + millis
    assert parse_rfc3339_ms(f"2026-11-24T17:30:00.{fraction}+05:30") == NOON_UTC + millis


def test_instants_before_the_epoch_are_negative() -> None:
    assert parse_rfc3339_ms("1969-12-31T23:59:59.999Z") == -1


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24T12:00:00",  # naive: the pay day would be ambiguous
        "2026-11-24T12:00:00.123",
        "2026-11-24",  # date only
        "2016-12-31T23:59:60Z",  # leap second
        "2026-11-24T24:00:00Z",
        "2026-13-01T12:00:00Z",
        "2026-02-30T12:00:00Z",
        "2026-11-24T12:00Z",  # seconds are required
        "2026-11-24T12:00:00+0530",  # offset needs its colon
        "2026-11-24T12:00:00+24:00",
        "2026-11-24T12:00:00.Z",
        "2026-11-24T12:00:00.1234567890Z",  # ten fraction digits
        "2026-11-24T12:00:00Z\n",
        " 2026-11-24T12:00:00Z",
        "\u0662\u0660\u0662\u0666-11-24T12:00:00Z",  # Arabic-Indic digits
        "yesterday",
        "",
        "1795521600000",
    ],
)
def test_malformed_timestamps_are_refused(text: str) -> None:
    with pytest.raises(TimestampError):
        parse_rfc3339_ms(text)


def test_format_renders_utc_with_millisecond_precision() -> None:
    assert format_ms(NOON_UTC) == "2026-11-24T12:00:00.000Z"
    assert format_ms(NOON_UTC + 7) == "2026-11-24T12:00:00.007Z"
    assert format_ms(-1) == "1969-12-31T23:59:59.999Z"


EPOCHS = st.integers(min_value=-(10**12), max_value=4 * 10**12)
# every millisecond datetime can render: years 1-9999
DATETIME_MS = st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999)


@settings(max_examples=1000, deadline=None)
@given(DATETIME_MS)
def test_the_arithmetic_rendering_is_the_datetime_rendering(epoch_ms: int) -> None:
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    assert format_ms(epoch_ms) == f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def test_day_boundaries_render_as_the_next_day() -> None:
    assert format_ms(NOON_UTC + 12 * 3_600_000 - 1) == "2026-11-24T23:59:59.999Z"
    assert format_ms(NOON_UTC + 12 * 3_600_000) == "2026-11-25T00:00:00.000Z"
    assert format_ms(951_782_400_000) == "2000-02-29T00:00:00.000Z"  # a leap day


@settings(max_examples=500, deadline=None)
@given(EPOCHS)
def test_formatting_then_parsing_returns_the_same_millisecond(epoch_ms: int) -> None:
    assert parse_rfc3339_ms(format_ms(epoch_ms)) == epoch_ms


@settings(max_examples=300, deadline=None)
@given(EPOCHS, st.integers(-23 * 60 - 59, 23 * 60 + 59))
def test_any_offset_denotes_the_same_instant(epoch_ms: int, offset_min: int) -> None:
    local = to_datetime(epoch_ms).astimezone(timezone(timedelta(minutes=offset_min)))
    text = local.isoformat(timespec="milliseconds")
    assert parse_rfc3339_ms(text) == epoch_ms


@settings(max_examples=300, deadline=None)
@given(EPOCHS)
def test_datetimes_round_trip_through_epoch_milliseconds(epoch_ms: int) -> None:
    assert from_datetime(to_datetime(epoch_ms)) == epoch_ms


def _judged(parse: object, text: str) -> object:
    try:
        return parse(text)  # type: ignore[operator]
    except TimestampError as exc:
        return ("refused", str(exc))


# UTC stamps near and past the edges: month 13, day 31 of a 30-day month, 24:00, 60 s, year 0,
# Unicode digits (which \d would match), every fraction length, lower-case and space forms.
_NEAR_UTC = st.builds(
    "{}-{}-{}{}{}:{}:{}{}{}".format,
    st.sampled_from(["0000", "0001", "1969", "1970", "2000", "2026", "9999", "２０２６"]),
    st.sampled_from(["00", "01", "02", "04", "12", "13"]),
    st.sampled_from(["00", "01", "28", "29", "30", "31", "32"]),
    st.sampled_from(["T", "t", " ", "_"]),
    st.sampled_from(["00", "09", "23", "24", "99", "٠٩"]),
    st.sampled_from(["00", "59", "60"]),
    st.sampled_from(["00", "59", "60", "61"]),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{0,10}", fullmatch=True)),
    st.sampled_from(["Z", "z", "+00:00", "-00:00", "+05:30", "", "Z\n", "ZZ"]),
)


@settings(max_examples=3000, deadline=None)
@given(_NEAR_UTC)
def test_the_fast_utc_path_judges_every_stamp_as_the_general_path_does(text: str) -> None:
    assert _judged(parse_rfc3339_ms, text) == _judged(_parse_general, text)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(TimestampError, match="naive"):
        from_datetime(datetime(2026, 11, 24, 12))  # noqa: DTZ001 - the point of the test
