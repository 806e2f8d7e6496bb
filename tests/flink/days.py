"""Small sf days for embedded runs about event time: honest orders, one run of a list of events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jobs.embedded import RunResult, run_file
from jobs.settings import JobSettings
from tests.flink.conftest import HERE, TEST_FLINK
from tests.hostile.corpus import at, event
from udfs.zones import load_zones

ORDERS_PER_DAY = 40
DRIVERS_PER_DAY = 7


def orders_of_day(day: str, prefix: str) -> list[dict[str, Any]]:
    """Orders accepted a minute apart from 08:00 local, each delivered 20 minutes later (6.00).

    Order ``o-<prefix>-NN`` goes to driver ``d-<prefix>-<NN mod 7>``; no peak on these days.
    """
    events = []
    for i in range(ORDERS_PER_DAY):
        accepted, delivered = at(f"08:{i:02d}", day), at(f"08:{i + 20:02d}", day)
        order, driver = f"o-{prefix}-{i:02d}", f"d-{prefix}-{i % DRIVERS_PER_DAY}"
        events.append(event(f"{order}-a", order, driver, "ACCEPTED", accepted))
        events.append(event(f"{order}-d", order, driver, "DELIVERED", delivered))
    return sorted(events, key=lambda e: e["event_time"])


def run_events(work: Path, events: list[dict[str, Any]]) -> RunResult:
    """The job, embedded at parallelism 1, over ``events`` in this order (one source split).

    The raw archive goes to ``work / "archive"``.
    """
    source = work / "events.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    settings = JobSettings(parallelism=1, flink_options=TEST_FLINK)
    zones = load_zones(HERE / "zones.yaml")
    return run_file(source, work / "out", zones, settings, archive_dir=work / "archive")
