"""A driver-day's sets in map state: one lookup per line, and nothing written until it succeeds."""

from __future__ import annotations

import pytest

from jobs.state_set import StagedMap, StagedMapSet, persist, persist_map


class MapStateLike:
    """The four calls the set makes on a Flink MapState, over a dict (the real one: tests/flink)."""

    def __init__(self, *keys: str) -> None:
        self.data = dict.fromkeys(keys, True)
        self.calls = 0

    def contains(self, key: str) -> bool:
        self.calls += 1
        return key in self.data

    def put(self, key: str, value: bool) -> None:
        self.data[key] = value

    def remove(self, key: str) -> None:
        del self.data[key]

    def keys(self) -> list[str]:
        return list(self.data)


def test_members_added_in_a_record_are_seen_at_once_but_written_only_at_flush() -> None:
    state = MapStateLike("line-a")
    seen = StagedMapSet(state, size=1)
    seen.add("line-b")
    assert "line-b" in seen
    assert "line-a" in seen
    assert len(seen) == 2
    assert state.data == {"line-a": True}
    seen.flush()
    assert state.data == {"line-a": True, "line-b": True}


def test_a_record_that_fails_before_flush_leaves_the_map_as_it_was() -> None:
    state = MapStateLike("iv-1")
    in_effect = StagedMapSet(state, size=1)
    in_effect.discard("iv-1")
    in_effect.add("iv-2")
    assert "iv-1" not in in_effect
    assert "iv-2" in in_effect
    del in_effect  # the transition raised: nothing was flushed
    assert state.data == {"iv-1": True}


def test_discard_then_add_again_in_one_record_keeps_the_member() -> None:
    state = MapStateLike("iv-1")
    in_effect = StagedMapSet(state, size=1)
    in_effect.discard("iv-1")
    in_effect.add("iv-1")
    in_effect.flush()
    assert state.data == {"iv-1": True}
    assert len(in_effect) == 1


def test_membership_costs_one_lookup_whatever_the_size_of_the_day() -> None:
    state = MapStateLike(*(f"line-{i}" for i in range(5_000)))
    seen = StagedMapSet(state, size=5_000)
    assert "line-4999" in seen
    assert "line-x" not in seen
    assert state.calls == 2


def test_a_new_days_plain_set_is_written_whole() -> None:
    state = MapStateLike()
    persist({"line-a", "line-b"}, state)
    assert sorted(state.data) == ["line-a", "line-b"]
    assert sorted(StagedMapSet(state, size=2)) == ["line-a", "line-b"]


def test_a_line_tested_then_added_costs_one_lookup() -> None:
    state = MapStateLike("line-a")
    seen = StagedMapSet(state, size=1)
    assert "line-b" not in seen  # the daily core's duplicate test
    seen.add("line-b")  # then its admission
    assert "line-a" in seen
    seen.discard("line-a")
    assert state.calls == 2
    assert "line-a" not in seen
    assert "line-b" in seen
    seen.flush()
    assert state.data == {"line-b": True}


class TextMapStateLike:
    """The calls ``StagedMap`` makes on a Flink MapState of text values, over a dict."""

    def __init__(self, **entries: str) -> None:
        self.data = dict(entries)
        self.gets = 0

    def get(self, key: str) -> str | None:
        self.gets += 1
        return self.data.get(key)

    def put(self, key: str, value: str) -> None:
        self.data[key] = value

    def remove(self, key: str) -> None:
        del self.data[key]

    def keys(self) -> list[str]:
        return list(self.data)


def test_a_staged_map_reads_each_key_once_and_writes_only_at_flush() -> None:
    state = TextMapStateLike(a="1")
    spans = StagedMap(state, int, str)
    assert spans.get("a") == 1
    assert spans.get("a") == 1
    assert spans.get("b") is None
    spans["b"] = 2
    del spans["a"]
    assert (dict(spans), state.gets) == ({"b": 2}, 2)
    assert state.data == {"a": "1"}
    spans.flush()
    assert state.data == {"b": "2"}


def test_deleting_what_a_staged_map_does_not_hold_is_a_key_error_as_in_a_dict() -> None:
    spans = StagedMap(TextMapStateLike(), int, str)
    with pytest.raises(KeyError):
        del spans["absent"]


def test_a_new_days_plain_mapping_is_written_whole() -> None:
    state = TextMapStateLike()
    persist_map({"o-1": 5}, state, str)
    assert state.data == {"o-1": "5"}
