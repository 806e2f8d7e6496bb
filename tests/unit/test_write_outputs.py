"""``driverpay run``'s output files hold every kind of record the job emits."""

from __future__ import annotations

import json
from pathlib import Path

from jobs.embedded import OUTPUTS, write_outputs


def test_a_capped_day_line_in_quarantine_does_not_break_writing_the_files(tmp_path: Path) -> None:
    """Quarantined events have an event id; a line over a day's cap has a line id instead."""
    records: dict[str, list[dict[str, object]]] = {name: [] for name in OUTPUTS}
    records["quarantine"] = [
        {"kind": "DAY_LINE_CAP", "line_id": "l-2", "order_id": "o-9", "driver_id": "d"},
        {"kind": "IMPOSSIBLE", "event_id": "e-1", "order_id": "o-1"},
        {"kind": "DAY_LINE_CAP", "line_id": "l-1", "order_id": "o-9", "driver_id": "d"},
    ]
    write_outputs(tmp_path, records)
    lines = (tmp_path / "quarantine.jsonl").read_text().splitlines()
    written = [json.loads(line) for line in lines]
    assert [r.get("event_id") or r["line_id"] for r in written] == ["e-1", "l-1", "l-2"]
