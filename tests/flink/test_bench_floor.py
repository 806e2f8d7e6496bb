"""The benchmark's Python floor moves every record through its stages (or its rate is a lie)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyflink.table import StreamTableEnvironment

from jobs.bench_floor import CLOSING, shape_stream
from jobs.bench_sql import file_options
from jobs.embedded import local_environment
from jobs.settings import JobSettings

pytestmark = pytest.mark.flink


def day(path: Path) -> list[dict[str, str]]:
    events = []
    for order in range(6):
        for n, kind in enumerate(
            ("ACCEPTED", "PICKED_UP", "DELIVERED" if order % 2 else "CANCELLED")
        ):
            events.append(
                {
                    "event_id": f"o{order}-{n}",
                    "order_id": f"o{order}",
                    "driver_id": f"d{order % 2}",
                    "type": kind,
                    "event_time": f"2026-11-23T10:0{n}:00Z",
                    "zone": "tokyo",
                }
            )
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return events


@pytest.mark.parametrize(
    ("shape", "expected"),
    [("map", 19), ("sql-lifecycle", 18), ("sql-lifecycle-daily", 6), ("job-shape", 6)],
)
def test_each_event_crosses_every_stage_of_the_shape(
    shape: str, expected: int, tmp_path: Path
) -> None:
    events = day(tmp_path / "events.jsonl")
    with (tmp_path / "events.jsonl").open("a") as again:  # a duplicate: SQL drops it
        again.write(json.dumps(events[0]) + "\n")
    env = local_environment(JobSettings(parallelism=1), tmp_path)
    stream = shape_stream(
        StreamTableEnvironment.create(env), file_options(tmp_path / "events.jsonl"), shape
    )
    with stream.execute_and_collect() as results:
        out = sorted(row[0] for row in results)
    passed = {
        "map": [*events, events[0]],  # no dedup: every record, the copy too
        "sql-lifecycle": events,
        "sql-lifecycle-daily": [e for e in events if e["type"] in CLOSING],
        "job-shape": [e for e in events if e["type"] in CLOSING],  # the copy is an ACCEPTED
    }[shape]
    assert out == sorted(e["event_id"] for e in passed)
    assert len(out) == expected
