"""A replayed file's own clock: where its honest event times end, from an even sample."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from udfs.file_clock import SPAN_CAP_MS, EvenSample, clock_offset_ms, file_end_ms

HOUR, DAY = 3_600_000, 86_400_000
MINIMUM, WINDOW = 5, DAY
NOW = 1_795_000_000_000  # the machine's clock, 2026-11-18
NEXT_YEAR = NOW + 365 * DAY  # a test day dated after it
DECADE = NOW + 10 * 365 * DAY  # implausible to any stream
ANCIENT = NOW - 10 * 365 * DAY


def day_of(start: int, count: int = 400, span: int = 10 * HOUR) -> list[int]:
    """``count`` event times spread evenly over ``span`` from ``start``."""
    return [start + span * i // (count - 1) for i in range(count)]


def end_of(times: list[int]) -> int:
    end = file_end_ms(times, MINIMUM, WINDOW)
    assert end is not None
    return end


def offset(times: list[int], now: int = NOW) -> int:
    return clock_offset_ms(times, now, minimum=MINIMUM, window_ms=WINDOW)


def sampled(records: list[int | None], size: int = 64) -> tuple[EvenSample, list[int]]:
    """The sample of ``records`` (event times, None: malformed), and the indices it read."""
    sample, read = EvenSample(size=size), []

    def read_one(record: bytes) -> int | None:
        index = int(record)
        read.append(index)
        return records[index]

    for index in range(len(records)):
        sample.take(str(index).encode(), read_one)
    return sample, read


def test_a_sample_keeps_every_stride_th_time_evenly_over_a_file_of_any_length() -> None:
    sample, _ = sampled(list(range(100_000)))
    assert len(sample.times) <= 64
    assert sample.times[0] == 0
    assert {b - a for a, b in pairwise(sample.times)} == {sample.stride}
    assert sample.times[-1] >= 100_000 - sample.stride


def test_only_records_on_the_stride_are_read() -> None:
    _, read = sampled(list(range(100_000)))
    assert len(read) < 64 * 10  # of 100,000: half a sample's worth each time the stride doubles
    assert all(index % 2 == 0 for index in read[64:])


def test_a_short_file_is_kept_whole_and_malformed_records_are_not_kept() -> None:
    sample, read = sampled([1, None, 3, 4, None, 6])
    assert sample.times == [1, 3, 4, 6]
    assert read == list(range(6))


@given(days=st.integers(1, 60), count=st.integers(200, 4096))
def test_times_spread_evenly_over_any_number_of_days_end_within_a_day_of_their_last(
    days: int, count: int
) -> None:
    times = day_of(NEXT_YEAR, count, days * DAY)
    assert end_of(times) + WINDOW >= times[-1]


def test_two_days_far_apart_end_at_the_later_one() -> None:
    first, later = day_of(NEXT_YEAR), day_of(NEXT_YEAR + 200 * DAY)
    assert end_of(first + later) == later[-1]


def test_outliers_from_the_future_move_the_end_only_when_they_are_a_quarter_of_the_file() -> None:
    honest = day_of(NEXT_YEAR)
    few = honest + [DECADE + i for i in range(len(honest) // 4 - 1)]
    assert end_of(few) <= honest[-1] + DAY
    spread_out = honest + [DECADE + i * DAY for i in range(len(honest) // 2)]
    assert end_of(spread_out) <= honest[-1] + DAY


def test_ancient_outliers_stretch_the_end_by_a_month_at_most() -> None:
    honest = day_of(NEXT_YEAR)
    mixed = honest + [ANCIENT] * len(honest)
    assert end_of(mixed) <= honest[0] + SPAN_CAP_MS + DAY


def test_with_few_times_the_estimate_is_an_honest_one_not_halfway_to_an_outlier() -> None:
    honest = [NEXT_YEAR + i * HOUR for i in range(4)]
    assert end_of([*honest, DECADE]) <= honest[-1] + 6 * HOUR


def test_fewer_times_than_a_clock_needs_say_nothing() -> None:
    assert file_end_ms([NEXT_YEAR] * (MINIMUM - 1), MINIMUM, WINDOW) is None
    assert offset([NEXT_YEAR] * (MINIMUM - 1)) == 0


def test_a_file_dated_next_year_moves_the_clock_to_its_own_end() -> None:
    last = day_of(NEXT_YEAR)[-1]
    assert last - NOW <= offset(day_of(NEXT_YEAR)) <= last - NOW + HOUR


def test_a_recording_of_the_past_is_judged_by_the_machines_clock_whatever_a_minority_says() -> None:
    past = day_of(NOW - 3 * DAY)
    assert offset(past) == 0
    hostile_block = past + [DECADE + i for i in range(len(past) // 2)]
    assert offset(hostile_block) == 0
