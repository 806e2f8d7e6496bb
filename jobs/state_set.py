"""A set of strings kept in a Flink ``MapState``, with writes staged until the record succeeds.

The daily stage remembers every line id of a driver-day (up to ``MAX_LINES_PER_DAY``) and the
intervals in effect. Kept as lists inside the day's value row, both were read and rewritten
whole for every line: O(lines) per line, O(lines²) for a hot driver's day. A ``MapState``
makes membership, add and discard one keyed lookup each.

Writes are staged in memory and applied by :meth:`StagedMapSet.flush` only after the record's
whole transition succeeded, so a record that raises (``Guarded``) leaves the state as it was,
as it does for value state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSet
from itertools import chain
from typing import Any


class StagedMapSet(MutableSet[str]):
    """Members are the map's keys; ``size`` is kept by the caller (a ``len`` would scan)."""

    def __init__(self, state: Any, size: int) -> None:
        self.state = state
        self.size = size
        self.added: set[str] = set()
        self.removed: set[str] = set()
        # What the map answered during this record: the core's ``in`` test before an ``add``
        # costs the only lookup (each one is a call into the JVM and RocksDB).
        self.looked_up: dict[str, bool] = {}

    def __contains__(self, item: object) -> bool:
        if item in self.added:
            return True
        if item in self.removed or not isinstance(item, str):
            return False
        found = self.looked_up.get(item)
        if found is None:
            found = self.looked_up[item] = bool(self.state.contains(item))
        return found

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[str]:
        keys = self.state.keys()  # a Flink MapState's key view, not a dict
        return chain((k for k in keys if k not in self.removed), iter(self.added))

    def add(self, value: str) -> None:
        """Stage ``value`` as a member."""
        if value not in self:
            self.removed.discard(value)
            self.added.add(value)
            self.size += 1

    def discard(self, value: str) -> None:
        """Stage ``value``'s removal."""
        if value in self:
            self.added.discard(value)
            self.removed.add(value)
            self.size -= 1

    def flush(self) -> None:
        """Apply the staged writes to the map state."""
        for value in self.removed:
            self.state.remove(value)
        for value in self.added:
            self.state.put(value, True)
        self.added.clear()
        self.removed.clear()
        self.looked_up.clear()


def persist(members: Iterable[str], state: Any) -> None:
    """Write ``members`` to ``state``: staged writes, or every member of a new day's set."""
    if isinstance(members, StagedMapSet):
        members.flush()
    else:
        for value in members:
            state.put(value, True)
