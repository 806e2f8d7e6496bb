"""Property tests of ``W(t)`` against a brute-force reference that sums ``m(t)`` unit by unit."""

from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.money import pay_amount
from udfs.schedule import PeakSchedule, PeakWindow

SECOND = 1000
HORIZON_S = 2000  # instants are whole seconds in [0, 2000 s), so the brute force stays cheap
MULTIPLIERS = [Decimal(m) for m in ("0", "0.5", "0.75", "1", "1.1", "1.25", "1.5", "2", "3.333")]
TODAY = 1_795_521_600_000  # 2026-11-24T12:00:00Z: real epochs make W(t) large

FAST = settings(max_examples=150, deadline=None)

seconds = st.integers(min_value=0, max_value=HORIZON_S).map(lambda s: s * SECOND)


@st.composite
def windows(draw: st.DrawFn, unit: int = SECOND, horizon: int = HORIZON_S) -> PeakWindow:
    a = draw(st.integers(0, horizon)) * unit
    b = draw(st.integers(0, horizon)) * unit
    return PeakWindow(min(a, b), max(a, b), draw(st.sampled_from(MULTIPLIERS)))


window_lists = st.lists(windows(), max_size=6)


def brute_force_weighted(ws: list[PeakWindow], start: int, end: int, unit: int) -> Fraction:
    """Sum ``m(u) x unit`` over each unit ``u`` of ``[start, end)`` (edges are unit-aligned)."""
    total = Fraction(0)
    for u in range(start, end, unit):
        covering = [Fraction(w.multiplier) for w in ws if w.start_ms <= u < w.end_ms]
        total += (max(covering) if covering else 1) * unit
    return total


def half_up_cents(amount: Fraction) -> Fraction:
    """Round a non-negative exact amount to cents, half-up, with integer arithmetic only."""
    return Fraction((amount * 100 * 2 + 1) // 2, 100)


@FAST
@given(window_lists, seconds, seconds)
def test_weighted_time_equals_the_unit_by_unit_sum_of_multipliers(
    ws: list[PeakWindow], a: int, b: int
) -> None:
    start, end = min(a, b), max(a, b)
    weighted = PeakSchedule(ws).weighted_ms(start, end)
    assert Fraction(weighted) == brute_force_weighted(ws, start, end, SECOND)


@settings(max_examples=300, deadline=None)
@given(st.lists(windows(unit=1, horizon=60), max_size=5), st.integers(0, 60), st.integers(0, 60))
def test_weighted_time_is_exact_at_millisecond_granularity(
    ws: list[PeakWindow], a: int, b: int
) -> None:
    start, end = min(a, b), max(a, b)
    weighted = PeakSchedule(ws).weighted_ms(start, end)
    assert Fraction(weighted) == brute_force_weighted(ws, start, end, 1)


@FAST
@given(window_lists, seconds, seconds)
def test_weighted_time_is_exact_at_todays_epoch_with_long_multipliers(
    ws: list[PeakWindow], a: int, b: int
) -> None:
    long = Decimal("1.0000000000000001234")  # 20 significant digits, beyond the default 28
    shifted = [PeakWindow(w.start_ms + TODAY, w.end_ms + TODAY, w.multiplier * long) for w in ws]
    start, end = min(a, b), max(a, b)
    weighted = PeakSchedule(shifted).weighted_ms(start + TODAY, end + TODAY)
    expected = brute_force_weighted(shifted, start + TODAY, end + TODAY, SECOND)
    assert Fraction(weighted) == expected


@settings(max_examples=300, deadline=None)
@given(window_lists, seconds, seconds, seconds)
def test_weighted_time_is_additive_over_adjacent_intervals(
    ws: list[PeakWindow], a: int, b: int, c: int
) -> None:
    a, b, c = sorted((a, b, c))
    peaks = PeakSchedule(ws)
    assert peaks.weighted_ms(a, c) == peaks.weighted_ms(a, b) + peaks.weighted_ms(b, c)


@settings(max_examples=300, deadline=None)
@given(
    window_lists.flatmap(lambda ws: st.tuples(st.just(ws), st.permutations(ws))), seconds, seconds
)
def test_window_order_changes_neither_weights_nor_version(
    pair: tuple[list[PeakWindow], list[PeakWindow]], a: int, b: int
) -> None:
    ws, shuffled = pair
    start, end = min(a, b), max(a, b)
    original, reordered = PeakSchedule(ws), PeakSchedule(shuffled)
    assert original.weighted_ms(start, end) == reordered.weighted_ms(start, end)
    assert original.version == reordered.version


@settings(max_examples=300, deadline=None)
@given(window_lists, seconds, seconds)
def test_weighted_time_is_never_more_than_the_largest_multiplier_allows(
    ws: list[PeakWindow], a: int, b: int
) -> None:
    start, end = min(a, b), max(a, b)
    top = max([Decimal(1), *(w.multiplier for w in ws)])
    assert 0 <= PeakSchedule(ws).weighted_ms(start, end) <= top * (end - start)


@FAST
@given(
    window_lists,
    seconds,
    seconds,
    st.decimals(min_value=0, max_value=5, places=2, allow_nan=False, allow_infinity=False),
)
def test_pay_of_one_interval_is_the_rate_times_brute_force_minutes_rounded_half_up(
    ws: list[PeakWindow], a: int, b: int, rate: Decimal
) -> None:
    start, end = min(a, b), max(a, b)
    amount = pay_amount(rate, PeakSchedule(ws).weighted_ms(start, end), "USD")
    exact = Fraction(rate) * brute_force_weighted(ws, start, end, SECOND) / 60_000
    assert Fraction(amount) == half_up_cents(exact)
    assert amount.as_tuple().exponent == -2


def quadratic_segments(ws: list[PeakWindow]) -> list[tuple[int, int, Decimal]]:
    """The original normalisation: ask every window about every gap between edges (O(n²))."""
    points = sorted({w.start_ms for w in ws} | {w.end_ms for w in ws})
    segments: list[tuple[int, int, Decimal]] = []
    for start, end in pairwise(points):
        covering = [w.multiplier for w in ws if w.start_ms <= start and end <= w.end_ms]
        m = max(covering) if covering else Decimal(1)
        if segments and segments[-1][1] == start and segments[-1][2] == m:
            segments[-1] = (segments[-1][0], end, m)
        else:
            segments.append((start, end, m))
    return segments


# Equal values spelled differently ("2" / "2.0" / "2.00"): which spelling wins must not change.
SPELLED = [Decimal(m) for m in ("0", "0.50", "0.5", "1", "1.0", "1.5", "2", "2.0", "2.00", "3")]


@st.composite
def spelled_windows(draw: st.DrawFn) -> PeakWindow:
    a, b = draw(st.integers(0, 40)), draw(st.integers(0, 40))
    return PeakWindow(min(a, b), max(a, b), draw(st.sampled_from(SPELLED)))


@settings(max_examples=500, deadline=None)
@given(st.lists(spelled_windows(), max_size=12))
def test_the_sweep_gives_exactly_the_segments_of_the_quadratic_normalisation(
    ws: list[PeakWindow],
) -> None:
    segments = PeakSchedule(ws).segments()
    expected = quadratic_segments(ws)
    assert segments == expected
    assert [str(m) for _, _, m in segments] == [str(m) for _, _, m in expected]
