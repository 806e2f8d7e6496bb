"""Peak schedules: ``m(t)`` is the largest covering multiplier (1 if none); ``W`` integrates it."""

import math
from decimal import Decimal

import pytest

from udfs.schedule import PeakSchedule, PeakWindow
from udfs.timefmt import parse_rfc3339_ms as ms

MINUTE = 60_000
HOUR = 60 * MINUTE

T0900 = ms("2026-11-24T09:00:00Z")
T1000 = ms("2026-11-24T10:00:00Z")
T1030 = ms("2026-11-24T10:30:00Z")
T1100 = ms("2026-11-24T11:00:00Z")
T1130 = ms("2026-11-24T11:30:00Z")
NOON = ms("2026-11-24T12:00:00Z")
T1230 = ms("2026-11-24T12:30:00Z")
T1300 = ms("2026-11-24T13:00:00Z")
T1400 = ms("2026-11-24T14:00:00Z")
T1430 = ms("2026-11-24T14:30:00Z")
T1500 = ms("2026-11-24T15:00:00Z")


def window(start: int, end: int, multiplier: str) -> PeakWindow:
    return PeakWindow(start, end, Decimal(multiplier))


def schedule(*windows: PeakWindow) -> PeakSchedule:
    return PeakSchedule(windows)


LUNCH_X2 = window(T1100, T1300, "2")


def test_zero_length_interval_pays_nothing_even_inside_a_peak() -> None:
    assert schedule(LUNCH_X2).weighted_ms(NOON, NOON) == 0


def test_zero_length_interval_pays_nothing_outside_any_peak() -> None:
    assert schedule(LUNCH_X2).weighted_ms(T0900, T0900) == 0


def test_interval_fully_inside_a_window_pays_its_multiplier_throughout() -> None:
    assert schedule(LUNCH_X2).weighted_ms(T1130, NOON) == 2 * 30 * MINUTE


def test_interval_fully_outside_every_window_pays_base_time() -> None:
    assert schedule(LUNCH_X2).weighted_ms(T1400, T1430) == 30 * MINUTE


def test_interval_straddling_a_window_start_pays_each_part_at_its_rate() -> None:
    assert schedule(LUNCH_X2).weighted_ms(T1030, T1130) == 30 * MINUTE + 2 * 30 * MINUTE


def test_interval_straddling_a_window_end_pays_each_part_at_its_rate() -> None:
    assert schedule(LUNCH_X2).weighted_ms(T1230, T1400) == 2 * 30 * MINUTE + 60 * MINUTE


def test_interval_spanning_several_windows_adds_every_piece_once() -> None:
    peaks = schedule(window(T1100, NOON, "2"), window(T1300, T1400, "1.5"))
    expected = HOUR + 2 * HOUR + HOUR + Decimal("1.5") * HOUR + HOUR
    assert peaks.weighted_ms(T1000, T1500) == expected


def test_back_to_back_windows_do_not_double_count_their_shared_boundary() -> None:
    peaks = schedule(window(T1100, NOON, "2"), window(NOON, T1300, "3"))
    assert peaks.weighted_ms(T1130, T1230) == 2 * 30 * MINUTE + 3 * 30 * MINUTE
    assert peaks.weighted_ms(NOON - 1, NOON + 1) == 2 + 3
    assert peaks.weighted_ms(T1100, T1300) == 2 * HOUR + 3 * HOUR


def test_interval_ending_exactly_where_a_window_starts_pays_base_only() -> None:
    assert schedule(LUNCH_X2).weighted_ms(T1000, T1100) == HOUR


def test_interval_starting_exactly_where_a_window_ends_pays_base_only() -> None:
    assert schedule(LUNCH_X2).weighted_ms(T1300, T1400) == HOUR


def test_window_start_instant_is_inside_and_window_end_instant_is_outside() -> None:
    peaks = schedule(LUNCH_X2)
    assert peaks.weighted_ms(T1100, T1100 + 1) == 2
    assert peaks.weighted_ms(T1300 - 1, T1300) == 2
    assert peaks.weighted_ms(T1300, T1300 + 1) == 1


def test_overlapping_windows_pay_the_largest_multiplier_never_the_sum() -> None:
    peaks = schedule(window(T1100, T1300, "2"), window(NOON, T1400, "1.5"))
    assert peaks.weighted_ms(NOON, T1300) == 2 * HOUR
    assert peaks.weighted_ms(T1100, T1400) == 2 * HOUR + 2 * HOUR + Decimal("1.5") * HOUR


def test_a_smaller_window_inside_a_larger_one_with_a_lower_multiplier_changes_nothing() -> None:
    peaks = schedule(window(T1100, T1400, "3"), window(NOON, T1300, "2"))
    assert peaks.weighted_ms(T1100, T1400) == 3 * 3 * HOUR


def test_a_larger_multiplier_nested_inside_a_window_wins_only_where_it_covers() -> None:
    evening = schedule(window(T1000, T1300, "1.5"), window(T1100, NOON, "2"))
    expected = Decimal("1.5") * HOUR + 2 * HOUR + Decimal("1.5") * HOUR
    assert evening.weighted_ms(T1000, T1300) == expected


def test_identical_overlapping_windows_count_once() -> None:
    assert schedule(LUNCH_X2, LUNCH_X2).weighted_ms(T1100, T1300) == 2 * 2 * HOUR


def test_window_with_multiplier_below_one_pays_less_than_base() -> None:
    assert schedule(window(T1100, NOON, "0.5")).weighted_ms(T1000, NOON) == HOUR + HOUR / 2


def test_overlapping_discount_windows_take_the_largest_even_below_one() -> None:
    peaks = schedule(window(T1100, NOON, "0.5"), window(T1100, NOON, "0.75"))
    assert peaks.weighted_ms(T1100, NOON) == Decimal("0.75") * HOUR


def test_zero_multiplier_window_pays_nothing_while_it_lasts() -> None:
    assert schedule(window(T1100, NOON, "0")).weighted_ms(T1000, T1300) == 2 * HOUR


def test_fractional_multipliers_give_exact_decimal_weights() -> None:
    assert schedule(window(T1100, NOON, "1.25")).weighted_ms(T1100, T1100 + 1) == Decimal("1.25")
    assert schedule(window(T1100, NOON, "1.1")).weighted_ms(T1100, T1100 + 3) == Decimal("3.3")
    third = schedule(window(T1100, NOON, "1.333")).weighted_ms(T1100, T1100 + 7)
    assert third == Decimal("9.331")


def test_long_multipliers_stay_exact_at_todays_epoch_magnitudes() -> None:
    # W(t) is about 1.8e12 ms here; with 17 significant digits in the multiplier the sum needs
    # more than Decimal's default 28 digits, which used to round the weight silently.
    tiny_bonus = Decimal("1.0000000000000001")
    peaks = schedule(PeakWindow(T1000, T1100, tiny_bonus))
    assert peaks.weighted_ms(T1000 + 1, T1000 + 3) == 2 * tiny_bonus
    assert peaks.weighted_ms(T0900, NOON) == HOUR + tiny_bonus * HOUR + HOUR


def test_schedule_without_windows_pays_plain_elapsed_time() -> None:
    assert PeakSchedule([]).weighted_ms(T1000, T1030) == 30 * MINUTE


def test_zero_length_windows_are_ignored() -> None:
    assert schedule(window(T1100, T1100, "5")).weighted_ms(T1000, NOON) == 2 * HOUR


def test_interval_ending_before_it_starts_raises() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        schedule(LUNCH_X2).weighted_ms(NOON, T1100)


def test_window_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        window(NOON, T1100, "2")


def test_window_with_a_negative_multiplier_is_refused() -> None:
    with pytest.raises(ValueError, match="negative multiplier"):
        window(T1100, NOON, "-1")


def test_cumulative_weight_grows_at_one_before_and_after_all_windows() -> None:
    peaks = schedule(LUNCH_X2)
    assert peaks.weight(T1000) == T1000
    assert peaks.weight(T1400) - peaks.weight(T1300) == HOUR


def test_segments_are_the_normalised_step_function() -> None:
    peaks = schedule(
        window(T1100, T1300, "2"), window(NOON, T1400, "1.5"), window(T1400, T1500, "1.5")
    )
    assert peaks.segments() == [(T1100, T1300, Decimal(2)), (T1300, T1500, Decimal("1.5"))]


def test_schedule_version_ignores_window_order_and_trailing_zeros() -> None:
    a = schedule(window(T1100, NOON, "2"), window(T1300, T1400, "1.5"))
    b = schedule(window(T1300, T1400, "1.50"), window(T1100, NOON, "2.0"))
    assert a.version == b.version


def test_schedule_version_changes_when_a_window_changes() -> None:
    before = schedule(window(T1100, NOON, "2"))
    moved = schedule(window(T1100, T1300, "2"))
    repriced = schedule(window(T1100, NOON, "2.5"))
    assert len({before.version, moved.version, repriced.version}) == 3


class CountedMs(int):
    """An instant that counts every comparison made on it: the unit of work of normalising."""

    comparisons = 0

    def _count(self) -> None:
        CountedMs.comparisons += 1

    def __lt__(self, other: object) -> bool:
        self._count()
        return int(self) < other  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        self._count()
        return int(self) <= other  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        self._count()
        return int(self) > other  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        self._count()
        return int(self) >= other  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        self._count()
        return int(self) == other

    def __ne__(self, other: object) -> bool:
        self._count()
        return int(self) != other

    __hash__ = int.__hash__


def comparisons_to_normalise_nested_windows(n: int) -> int:
    """Instant comparisons to build a schedule of ``n`` nested windows, each covering the next."""
    windows = [
        PeakWindow(CountedMs(T1000 + i), CountedMs(T1000 + 2 * n - i), Decimal(1 + i % 7))
        for i in range(n)
    ]
    CountedMs.comparisons = 0
    peaks = PeakSchedule(windows)
    assert len(peaks.segments()) > 1
    return CountedMs.comparisons


def test_normalising_peaks_takes_n_log_n_comparisons_not_n_squared() -> None:
    # Every window covers the middle, so asking each window about each gap would take
    # about 2 x 2000 x 4000 = 16 million comparisons; sorting plus a heap needs ~100 thousand.
    n = 2000
    assert comparisons_to_normalise_nested_windows(n) <= 10 * n * math.log2(n)
