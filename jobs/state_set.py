"""Sets and maps kept in a Flink ``MapState``, with writes staged until the record succeeds.

The daily stage remembers every line id of a driver-day (up to ``MAX_LINES_PER_DAY``) and the
intervals in effect. Kept as lists inside the day's value row, both were read and rewritten
whole for every line: O(lines) per line, O(lines²) for a hot driver's day. A ``MapState``
makes membership, add and discard one keyed lookup each.

Writes are staged in memory and applied by :meth:`StagedMapSet.flush` only after the record's
whole transition succeeded, so a record that raises (``Guarded``) leaves the state as it was,
as it does for value state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, MutableSet
from itertools import chain
from typing import Any, TypeVar

V = TypeVar("V")


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


class StagedMap(MutableMapping[str, V]):
    """A ``MapState`` of text values as a mapping of decoded ones, read through per key.

    The daily stage keeps each order's paid spans here (``udfs.daily.DailyState.spans``): one
    lookup per line, written back only by :meth:`flush`, after the record succeeded.
    """

    def __init__(self, state: Any, decode: Callable[[str], V], encode: Callable[[V], str]) -> None:
        self.state, self.decode, self.encode = state, decode, encode
        self.staged: dict[str, V | None] = {}  # None: removed
        self.read: dict[str, V | None] = {}

    def __getitem__(self, key: str) -> V:
        value = self._current(key)
        if value is None:
            raise KeyError(key)
        return value

    def _current(self, key: str) -> V | None:
        return self.staged[key] if key in self.staged else self._read(key)

    def _read(self, key: str) -> V | None:
        if key not in self.read:
            text = self.state.get(key)
            self.read[key] = None if text is None else self.decode(text)
        return self.read[key]

    def __setitem__(self, key: str, value: V) -> None:
        self.staged[key] = value

    def __delitem__(self, key: str) -> None:
        if self._current(key) is None:
            raise KeyError(key)
        self.staged[key] = None

    def __iter__(self) -> Iterator[str]:
        stored = self.state.keys()  # a Flink MapState's key view, not a dict
        keys = [k for k in stored if self.staged.get(k, 0) is not None]
        return chain(keys, (k for k, v in self.staged.items() if v is not None and k not in keys))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def flush(self) -> None:
        """Apply the staged writes to the map state."""
        for key, value in self.staged.items():
            if value is None:
                self.state.remove(key)
            else:
                self.state.put(key, self.encode(value))
        self.staged.clear()
        self.read.clear()


def persist(members: Iterable[str], state: Any) -> None:
    """Write ``members`` to ``state``: staged writes, or every member of a new day's set."""
    if isinstance(members, StagedMapSet):
        members.flush()
    else:
        for value in members:
            state.put(value, True)


def persist_map(values: Mapping[str, V], state: Any, encode: Callable[[V], str]) -> None:
    """Write ``values`` to ``state``: staged writes, or every entry of a new day's mapping."""
    if isinstance(values, StagedMap):
        values.flush()
    else:
        for key, value in values.items():
            state.put(key, encode(value))
