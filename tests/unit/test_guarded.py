"""A record's work either emits all its outputs or becomes one dead letter and one audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from jobs.functions import AUDIT, DEAD_LETTER, Guarded


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n


def guard() -> Guarded:
    guarded = Guarded()
    guarded.stage = "order-lifecycle"
    guarded.poison = Counter()
    return guarded


def test_a_record_that_succeeds_never_asks_for_its_key_or_payload() -> None:
    asked: list[str] = []

    def work() -> Iterator[Any]:
        yield "line"

    def where() -> str:
        asked.append("key")
        return "order 'o1'"

    def payload() -> bytes:
        asked.append("payload")
        return b""

    outputs = list(guard().guarded(work, payload, where))
    assert outputs == ["line"]
    assert asked == []


def test_a_record_that_raises_is_dead_lettered_at_its_stage_and_key() -> None:
    def work() -> Iterator[Any]:
        yield "half an output"
        raise KeyError("boom")

    guarded = guard()
    outputs = list(guarded.guarded(work, lambda: b"\xff", lambda: "order 'o1'"))
    assert [tag for tag, _ in outputs] == [DEAD_LETTER, AUDIT]
    dead = json.loads(outputs[0][1])
    assert dead["position"] == "order-lifecycle order 'o1'"
    assert dead["payload_base64"] == "/w=="
    assert json.loads(outputs[1][1])["kind"] == "POISON"
    assert guarded.poison.count == 1


def test_a_failure_whose_position_cannot_be_read_is_still_dead_lettered() -> None:
    def work() -> Iterator[Any]:
        raise ValueError("poison")

    def where() -> str:
        raise RuntimeError("no current key")

    outputs = list(guard().guarded(work, lambda: b"{}", where))
    dead = json.loads(outputs[0][1])
    assert dead["position"] == "order-lifecycle <position unavailable: RuntimeError>"
    assert dead["payload"] == "{}"
