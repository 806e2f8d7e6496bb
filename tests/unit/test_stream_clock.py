"""The per-split stream clock: a record from the future cannot move time for everyone."""

from __future__ import annotations

from udfs.stream_clock import NO_TIME, StreamClock

MIN = 60_000
DAY = 24 * 60 * MIN
NINE_AM = 1_795_539_600_000  # 2026-11-24T17:00Z, the honest stream's time
FIVE_YEARS_ON = NINE_AM + 5 * 365 * DAY
NOW_S = (NINE_AM + 3 * 3_600_000) / 1000  # processing time: a few hours after the events


def honest(clock: StreamClock, split: str, minutes: range) -> None:
    for m in minutes:
        assert clock.admit(split, NINE_AM + m * MIN, NOW_S).admitted


def test_a_split_warms_up_on_its_first_three_records_before_it_holds_a_watermark() -> None:
    clock = StreamClock(max_ahead_ms=DAY, tolerate=2)
    assert clock.admit("p0", NINE_AM, NOW_S).watermark_ms == NO_TIME
    assert clock.admit("p0", NINE_AM + MIN, NOW_S).watermark_ms == NO_TIME
    assert clock.admit("p0", NINE_AM + 2 * MIN, NOW_S).watermark_ms == NINE_AM


def test_one_record_from_the_future_is_refused_and_moves_nothing() -> None:
    clock = StreamClock(max_ahead_ms=DAY, tolerate=2)
    honest(clock, "p0", range(10))
    verdict = clock.admit("p0", FIVE_YEARS_ON, NOW_S)
    assert not verdict.admitted
    assert verdict.reference_ms == NINE_AM + 7 * MIN  # 3rd largest of the last five
    assert verdict.watermark_ms == NINE_AM + 7 * MIN
    honest(clock, "p0", range(10, 12))


def test_a_future_record_first_of_all_is_judged_by_the_wall_clock_and_cannot_lift_time() -> None:
    clock = StreamClock(max_ahead_ms=DAY, tolerate=2)
    first = clock.admit("p0", FIVE_YEARS_ON, NOW_S)
    assert (first.admitted, first.by_wall_clock) == (False, True)
    honest(clock, "p0", range(3))
    assert clock.admit("p0", NINE_AM + 3 * MIN, NOW_S).watermark_ms <= NINE_AM + 3 * MIN


def test_future_records_before_any_honest_one_never_become_evidence() -> None:
    clock = StreamClock(max_ahead_ms=DAY, tolerate=2)
    assert not any(clock.admit("p0", FIVE_YEARS_ON + i, NOW_S).admitted for i in range(10))
    honest(clock, "p0", range(3))
    assert clock.admit("p0", NINE_AM + 3 * MIN, NOW_S).watermark_ms == NINE_AM + MIN


def test_records_ahead_of_the_split_but_not_of_the_wall_clock_may_be_up_to_two_in_a_row() -> None:
    clock = StreamClock(max_ahead_ms=DAY, tolerate=2)
    for hours in (8, 20):  # plausible to the wall clock, well ahead of the stream
        assert clock.admit("p0", NINE_AM + hours * 60 * MIN, NOW_S + 86_400).admitted
    honest(clock, "p0", range(3))
    assert clock.admit("p0", NINE_AM + 3 * MIN, NOW_S).watermark_ms <= NINE_AM + 3 * MIN


def test_an_event_more_than_a_day_past_the_wall_clock_is_refused_even_mid_stream() -> None:
    clock = StreamClock(max_ahead_ms=DAY, tolerate=2)
    honest(clock, "p0", range(5))
    verdict = clock.admit("p0", NINE_AM + 10 * MIN, (NINE_AM - 2 * DAY) / 1000)
    assert (verdict.admitted, verdict.by_wall_clock) == (False, True)


def test_a_day_replayed_long_after_is_admitted_a_day_ahead_of_itself_is_not() -> None:
    clock = StreamClock(max_ahead_ms=DAY, tolerate=2)
    later_s = NOW_S + 365 * 86_400  # replaying last year's log
    honest_then = [clock.admit("p0", NINE_AM + m * MIN, later_s) for m in range(5)]
    assert all(v.admitted for v in honest_then)
    assert not clock.admit("p0", NINE_AM + 2 * DAY, later_s).admitted


def test_the_watermark_is_the_slowest_active_split_and_an_idle_one_stops_holding_it() -> None:
    clock = StreamClock(max_ahead_ms=DAY, tolerate=2, idle_s=300)
    honest(clock, "p0", range(60, 70))
    honest(clock, "p1", range(0, 5))
    assert clock.admit("p0", NINE_AM + 70 * MIN, NOW_S).watermark_ms == NINE_AM + 2 * MIN
    later = clock.admit("p0", NINE_AM + 71 * MIN, NOW_S + 301)
    assert later.watermark_ms == NINE_AM + 69 * MIN  # p1 silent for 5 min: idle


def test_a_new_split_holds_the_watermark_back_until_it_has_warmed_up() -> None:
    clock = StreamClock(max_ahead_ms=DAY, tolerate=2)
    honest(clock, "p0", range(10))
    assert clock.admit("p1", NINE_AM, NOW_S).watermark_ms == NO_TIME


def test_by_default_four_records_ahead_in_a_row_cannot_lift_a_warm_clock() -> None:
    clock = StreamClock(max_ahead_ms=DAY)
    honest(clock, "p0", range(9))
    for hours in range(1, 5):
        assert (
            clock.admit("p0", NINE_AM + hours * 60 * MIN, NOW_S).watermark_ms <= NINE_AM + 8 * MIN
        )


def test_a_declared_split_holds_the_watermark_back_until_it_delivers_or_goes_idle() -> None:
    clock = StreamClock(max_ahead_ms=DAY, tolerate=2, idle_s=60)
    clock.expect(["p0", "p1"], NOW_S)
    honest(clock, "p0", range(5))  # a whole batch of one partition, read first
    assert clock.admit("p0", NINE_AM + 5 * MIN, NOW_S + 1).watermark_ms == NO_TIME
    honest(clock, "p1", range(3))  # the other partition's older backlog shows up
    assert clock.admit("p1", NINE_AM + 3 * MIN, NOW_S + 2).watermark_ms == NINE_AM + MIN
    clock.expect(["p2"], NOW_S + 2)  # owned, but it never delivers
    assert clock.admit("p0", NINE_AM + 6 * MIN, NOW_S + 61).watermark_ms == NO_TIME
    assert clock.admit("p1", NINE_AM + 4 * MIN, NOW_S + 62).admitted
    assert clock.admit("p0", NINE_AM + 7 * MIN, NOW_S + 63).watermark_ms == NINE_AM + 2 * MIN


THREE_DAYS_ON = NINE_AM + 3 * DAY  # the same topic, three days on: a replay of two days, a gap
LATER_S = NOW_S + 4 * 86_400  # read when the wall clock has passed both


def test_a_split_whose_stream_moves_on_by_days_follows_it_at_the_fifth_record() -> None:
    """Before, every record after such a gap was refused, for ever: the stream never moved on."""
    clock: StreamClock[str] = StreamClock(max_ahead_ms=DAY)
    for m in range(9):
        assert clock.admit("p0", NINE_AM + m * MIN, LATER_S).admitted
    verdicts = [clock.admit("p0", THREE_DAYS_ON + m * MIN, LATER_S, f"r{m}") for m in range(8)]
    assert [v.admitted for v in verdicts] == [False] * 4 + [True] * 4
    assert [v.held for v in verdicts] == [True] * 4 + [False] * 4
    assert verdicts[-1].watermark_ms == THREE_DAYS_ON + 3 * MIN  # 5th largest of the last nine


def test_the_records_refused_before_the_clock_followed_are_released_by_the_one_that_lifts_it() -> (
    None
):
    """A sticky partitioner sent a day of batches elsewhere: nothing of this split is lost."""
    clock: StreamClock[str] = StreamClock(max_ahead_ms=DAY)
    for m in range(9):
        clock.admit("p0", NINE_AM + m * MIN, LATER_S, f"before-{m}")
    verdicts = [clock.admit("p0", THREE_DAYS_ON + m * MIN, LATER_S, f"r{m}") for m in range(6)]
    assert [v.released for v in verdicts] == [(), (), (), (), ("r0", "r1", "r2", "r3"), ()]


def test_an_outlier_is_held_for_one_window_of_later_records_then_stays_refused() -> None:
    clock: StreamClock[str] = StreamClock(max_ahead_ms=DAY)
    honest(clock, "p0", range(9))
    outlier = clock.admit("p0", THREE_DAYS_ON, NOW_S + 4 * 86_400, "outlier")
    assert (outlier.admitted, outlier.held) == (False, True)
    later = [clock.admit("p0", NINE_AM + m * MIN, NOW_S, f"h{m}") for m in range(9, 18)]
    assert all(v.admitted and not v.released for v in later)
    # the window passed: a block that now moves the split there does not bring it back
    moved = [clock.admit("p0", THREE_DAYS_ON + m, NOW_S + 4 * 86_400, f"m{m}") for m in range(9)]
    assert [v.released for v in moved if v.released] == [("m0", "m1", "m2", "m3")]


def test_a_record_refused_by_the_wall_clock_is_never_held() -> None:
    clock: StreamClock[str] = StreamClock(max_ahead_ms=DAY)
    honest(clock, "p0", range(9))
    verdict = clock.admit("p0", FIVE_YEARS_ON, NOW_S, "from-the-future")
    assert (verdict.admitted, verdict.held) == (False, False)
    blocks = [clock.admit("p0", NINE_AM + DAY * 2 + m, NOW_S + 3 * 86_400, "x") for m in range(9)]
    assert all("from-the-future" not in v.released for v in blocks)


def test_four_records_days_ahead_of_the_split_mid_stream_still_cannot_lift_it() -> None:
    clock = StreamClock(max_ahead_ms=DAY)
    for m in range(9):
        assert clock.admit("p0", NINE_AM + m * MIN, LATER_S).admitted
    assert not any(clock.admit("p0", THREE_DAYS_ON + m, LATER_S).admitted for m in range(4))
    after = clock.admit("p0", NINE_AM + 9 * MIN, LATER_S)
    assert after.admitted
    assert after.watermark_ms <= NINE_AM + 9 * MIN  # the four sit in the window, lifting nothing


def test_records_beyond_the_wall_clock_are_never_evidence_however_many_in_a_row() -> None:
    clock = StreamClock(max_ahead_ms=DAY)
    honest(clock, "p0", range(9))
    assert not any(clock.admit("p0", FIVE_YEARS_ON + m, NOW_S).admitted for m in range(50))
    assert clock.admit("p0", NINE_AM + 9 * MIN, NOW_S).watermark_ms == NINE_AM + 5 * MIN
