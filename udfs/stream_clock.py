"""How far event time has got on each source split, robust to records from the future.

A watermark is "the largest event time seen, minus a bound": one valid record dated years ahead
would move it there and make every honest event after it late. ``StreamClock`` keeps, per source
split (a Kafka partition, or the input file), the recent event times of records it admitted and
takes a low order statistic of them, so up to ``tolerate`` outliers in a row cannot move it.
A record more than ``max_ahead_ms`` ahead of its split's clock, or of the processing-time clock
(nothing real happens a day in the future: the rule Kafka brokers apply with
``message.timestamp.after.max.ms``; a replayed file's may be its own, ``udfs.file_clock``), is
not admitted: the job quarantines it, unpaid. One ahead of the processing-time clock never
becomes evidence for any clock. One ahead only of its split does: it is where the split says
its stream is, and ``tolerate`` such records cannot lift the clock, but more in a row can, as a
block of records less than a day ahead already does. Without that, a split whose stream moved
on by more than ``max_ahead_ms`` (a replayed topic holding two days with a gap between them, a
market silent for a day, a producer's sticky partitioner that sends a day of batches to the
other partitions) would refuse every later record, for ever.
Before a split has ``tolerate + 1`` records, only the processing-time clock judges, and the
split holds the watermark back.

A record refused only by its split's clock is *held* (at most one window of them per split):
when the split's later records lift its clock to within ``max_ahead_ms`` of it, the stream did
move there, and the record comes back in ``Admission.released``, to be admitted late rather
than lost. One still ahead after a whole window of later records is an outlier and stays
refused. The hold is in memory: after a restart the records it held stay refused.

The timestamp the job gives each admitted record for watermarking is the minimum of the clocks of
the splits this subtask reads (per-split watermarks, as Flink's own sources do): a backlog replay
reads partitions at different speeds, and the slowest must hold the watermark back. The splits
a subtask owns are declared up front (``expect``): a split learnt only from its first record
would let the others race ahead until then (measured on Kafka: a subtask that read one
partition's batch first ran 26 h ahead of its other partition's backlog). A declared split that
delivers nothing for ``idle_s`` stops holding the others back, as an idle one does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

NO_TIME = -(2**63)  # Long.MIN_VALUE: "no watermark yet" for Flink

T = TypeVar("T")


@dataclass(slots=True)
class _Held(Generic[T]):
    time_ms: int
    item: T
    chances: int  # later records of its split that may still lift the clock to it


@dataclass
class _Split(Generic[T]):
    recent: deque[int]
    held: deque[_Held[T]]
    last_seen_s: float
    clock: int | None = None  # kept with ``recent``: one sort per admitted record, not per split


@dataclass(frozen=True, slots=True)
class Admission(Generic[T]):
    """The verdict on one record, the watermark timestamp to attach, and held records let in.

    ``held``: refused, but kept to be let in if the split's clock follows (module docstring).
    ``released``: items of records held earlier that this record's evidence lets in.
    """

    admitted: bool
    reference_ms: int
    watermark_ms: int
    by_wall_clock: bool
    held: bool = False
    released: tuple[T, ...] = ()


@dataclass
class StreamClock(Generic[T]):
    """Per-split event-time clocks; state is rebuilt from the data after a restart."""

    max_ahead_ms: int
    tolerate: int = 4
    idle_s: float = 60.0
    _splits: dict[str, _Split[T]] = field(default_factory=dict)

    @property
    def window(self) -> int:
        """Recent event times kept per split, and how many later records a held one waits."""
        return 2 * self.tolerate + 1

    def expect(self, splits: Iterable[str], now_s: float) -> None:
        """Declare the splits this subtask reads, before any of their records arrives."""
        for split in splits:
            self._splits.setdefault(split, self._new_split(now_s))

    def admit(self, split: str, time_ms: int, now_s: float, item: T | None = None) -> Admission[T]:
        """Judge one valid record of ``split`` read at processing time ``now_s``.

        The record counts as evidence before it is judged, so the one that lifts its split's
        clock after a jump is admitted itself; ``item`` is what to hand back if it is held.
        """
        state = self._splits.get(split)
        if state is None:
            state = self._splits[split] = self._new_split(now_s)
        state.last_seen_s = now_s
        now_ms = int(now_s * 1000)
        evidence = time_ms <= now_ms + self.max_ahead_ms  # never beyond the wall clock
        if evidence:
            state.recent.append(time_ms)
            state.clock = self._clock(state)
        reference = now_ms if state.clock is None else min(state.clock, now_ms)
        admitted = time_ms <= reference + self.max_ahead_ms
        released = self._release(state, reference) if state.held else ()
        held = False
        if not admitted and evidence and item is not None:
            state.held.append(_Held(time_ms, item, self.window))
            held = True
        watermark = self._watermark(now_s)
        return Admission(admitted, reference, watermark, reference == now_ms, held, released)

    def _new_split(self, now_s: float) -> _Split[T]:
        return _Split(deque(maxlen=self.window), deque(maxlen=self.window), now_s)

    def _release(self, state: _Split[T], reference: int) -> tuple[T, ...]:
        """Let in the held records the clock now reaches; one more chance gone for the rest."""
        released, kept = [], []
        for held in state.held:
            if held.time_ms <= reference + self.max_ahead_ms:
                released.append(held.item)
            elif held.chances > 1:
                held.chances -= 1
                kept.append(held)
        state.held.clear()
        state.held.extend(kept)
        return tuple(released)

    def _clock(self, state: _Split[T]) -> int | None:
        """The (tolerate+1)-th largest recent time: ``tolerate`` outliers cannot lift it."""
        if len(state.recent) <= self.tolerate:
            return None
        return sorted(state.recent)[len(state.recent) - 1 - self.tolerate]

    def _watermark(self, now_s: float) -> int:
        """Minimum clock over active splits; a split still warming up holds everything back."""
        clocks = []
        for state in self._splits.values():
            if now_s - state.last_seen_s > self.idle_s:
                continue  # idle: it must not hold the others back forever
            if state.clock is None:
                return NO_TIME
            clocks.append(state.clock)
        return min(clocks) if clocks else NO_TIME
