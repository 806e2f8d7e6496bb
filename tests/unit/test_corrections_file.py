"""Folder mode's ``pay_corrections.jsonl`` is never left half-written by a crash."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from driverpay.reconcile import append_corrections
from tests.unit.test_reconcile_one_zone import two_zone_day  # noqa: F401 (a fixture)
from udfs.reconcile import line_from_record


def ledger_lines(stream: Path) -> list:
    text = (stream / "pay_ledger.jsonl").read_text()
    return [line_from_record(json.loads(x)) for x in text.splitlines()]


def test_lines_are_added_once_and_a_second_apply_adds_nothing(two_zone_day) -> None:  # noqa: F811
    _, stream = two_zone_day
    first, second = ledger_lines(stream)
    corrections = stream / "pay_corrections.jsonl"
    assert append_corrections(corrections, [first]) == 1
    assert append_corrections(corrections, [first, second]) == 1
    assert append_corrections(corrections, [first, second]) == 0
    ids = [json.loads(x)["line_id"] for x in corrections.read_text().splitlines()]
    assert ids == [first.line_id, second.line_id]


def test_a_crash_while_writing_leaves_the_file_as_it_was(
    two_zone_day,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, stream = two_zone_day
    first, second = ledger_lines(stream)
    corrections = stream / "pay_corrections.jsonl"
    append_corrections(corrections, [first])
    before = corrections.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        append_corrections(corrections, [second])
    monkeypatch.undo()

    assert corrections.read_bytes() == before
    assert append_corrections(corrections, [second]) == 1
