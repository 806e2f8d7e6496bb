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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

DAY_MS = 86_400_000
SAMPLE_SIZE = 4096  # records of a file whose event times place its clock
SPAN_CAP_MS = 31 * DAY_MS  # the most the estimate reaches past the file's median


@dataclass
class EvenSample:
    """Every ``stride``-th item of a stream of unknown length, at most ``size`` of them.

    When full, every other kept item is dropped and the stride doubles, so the sample stays
    spread evenly over the whole stream, and is the same for the same stream (no randomness:
    the same file is judged the same way every run).
    """

    size: int = SAMPLE_SIZE
    items: list[bytes] = field(default_factory=list)
    stride: int = 1
    _seen: int = 0

    def offer(self, item: bytes) -> None:
        """Keep ``item`` if it falls on the stride; one modulo per item, for a whole file."""
        if self._seen % self.stride == 0:
            self.items.append(item)
            if len(self.items) > self.size:
                del self.items[1::2]
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


def clock_offset_ms(
    payloads: Iterable[bytes],
    event_time: Callable[[bytes], int | None],
    now_ms: int,
    minimum: int,
    window_ms: int,
) -> int:
    """How far to move the processing-time clock forward to read these records by their time.

    ``event_time`` is the contract's reading of one record (None if it is malformed). Zero
    unless most of the file is dated after ``now_ms``: a recording of the past is judged by
    the machine's clock, as a live stream is, whatever a minority of its records say.
    """
    times = sorted(t for t in map(event_time, payloads) if t is not None)
    if len(times) < minimum or times[(len(times) - 1) // 2] <= now_ms:
        return 0
    end = file_end_ms(times, minimum, window_ms)
    return 0 if end is None else max(0, end - now_ms)
