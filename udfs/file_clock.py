"""The processing-time clock of a replayed file: the machine's, or the file's own if later.

The stream clock (``udfs.stream_clock``) refuses a record more than a day ahead of the
processing-time clock, the rule for a live stream: nothing real happens a day in the future.
A file replayed by ``driverpay run`` is a recording. Dated ahead of the machine's clock (a test
day next year, a machine whose clock is behind), every record of it would be "a day ahead of the
wall clock" and not one would be paid. So the embedded run reads a file dated mostly after
the machine's clock by its own time: where the file's honest data ends, estimated from an even
sample of its records' event times, robust to the hostile minority a file may hold. A file dated
mostly in the past is judged by the machine's clock, as a live stream is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from udfs.timefmt import DAY_MS

SAMPLE_SIZE = 4096  # records of a file whose event times place its clock
SPAN_CAP_MS = 31 * DAY_MS  # the most the estimate reaches past the file's median


@dataclass
class EvenSample:
    """The event times of every ``stride``-th record of a file, at most ``size`` of them.

    When full, every other kept time is dropped and the stride doubles, so the sample stays
    spread evenly over the whole file, and is the same for the same file (no randomness: the
    same file is judged the same way every run). Times, not records, are kept: a file of
    64 KiB lines would otherwise hold 256 MB here. Only records on the stride are read, about
    ``size`` × (1 + log2(records / size) / 2) of them.
    """

    size: int = SAMPLE_SIZE
    times: list[int] = field(default_factory=list)
    stride: int = 1
    _seen: int = 0

    def take(self, record: bytes, read: Callable[[bytes], int | None]) -> None:
        """Count one record; on the stride, keep its time (``read``: None if malformed)."""
        if self._seen % self.stride == 0 and (time_ms := read(record)) is not None:
            self.times.append(time_ms)
            if len(self.times) > self.size:
                del self.times[1::2]
                self.stride *= 2
        self._seen += 1


def file_end_ms(times: Sequence[int], minimum: int, window_ms: int) -> int | None:
    """Where a file's honest event times end; None with fewer than ``minimum`` of them.

    The later of two estimates, each moved by outliers only when they are a large share:
    - the median plus twice its distance from the lower quartile, the end of times spread
      evenly over any number of days (the distance capped at ``SPAN_CAP_MS``); quantiles are
      taken at the lower index, so with few times it is an honest one, not halfway to an
      outlier;
    - the latest time with a quarter of all the times (and at least ``minimum``) in the
      ``window_ms`` before it: the last of a few days far apart, such as two test days.
    """
    if len(times) < minimum:
        return None
    ordered = sorted(times)
    last = len(ordered) - 1
    median, quartile = ordered[last // 2], ordered[last // 4]
    spread = median + min(2 * (median - quartile), SPAN_CAP_MS)
    support = max(minimum, -(-len(ordered) // 4))
    return max(spread, _last_crowded(ordered, window_ms, support))


def _last_crowded(ordered: Sequence[int], window_ms: int, support: int) -> int:
    """The latest time with at least ``support`` times in the window that ends at it."""
    latest, first = ordered[0], 0
    for index, time_ms in enumerate(ordered):
        while ordered[first] < time_ms - window_ms:
            first += 1
        if index - first + 1 >= support:
            latest = time_ms
    return latest


def clock_offset_ms(times: Sequence[int], now_ms: int, minimum: int, window_ms: int) -> int:
    """How far to move the processing-time clock forward to read a file by its own time.

    ``times``: the event times of its valid records, or an even sample of them. Zero unless
    most are after ``now_ms``: a recording of the past is judged by the machine's clock, as a
    live stream is, whatever a minority of its records say.
    """
    ordered = sorted(times)
    if len(ordered) < minimum or ordered[(len(ordered) - 1) // 2] <= now_ms:
        return 0
    end = file_end_ms(ordered, minimum, window_ms)
    return 0 if end is None else max(0, end - now_ms)
