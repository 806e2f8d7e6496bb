"""The job's Python work without Flink: the pure core replaying an events file in one process.

The streaming job's per-event cost is the framework (crossings into the embedded interpreter,
state, the JVM) plus the Python work its stages do. This measures the second part alone, on the
same interpreter: each line parsed and validated (``udfs.events.parse_event``), dated, run
through the order lifecycle, and each pay line through the driver-day's totals, with the
contract JSON of every ledger line and total. States are plain dicts and no timer fires (the
watermark never moves), so this is a lower bound of the work, not a second implementation of
the job. ``driverpay.bench`` reports it next to the job (README, "Benchmark").

``python -m driverpay.bench_core FILE`` prints ``{"events": n, "seconds": s}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from driverpay.paths import ROOT
from jobs.settings import JobSettings  # plain dataclass, no pyflink
from udfs.daily import DailyState, DailyTotals, daily_json
from udfs.events import MalformedEventError, parse_event
from udfs.ledger import record_json
from udfs.lifecycle import OrderLifecycle, OrderState
from udfs.localday import pay_date
from udfs.zones import Zones, load_zones

NEVER = -(2**63)  # the watermark before any: nothing is late, no day is final


def replay(path: Path, zones: Zones, settings: JobSettings | None = None) -> dict[str, Any]:
    """Every line of ``path`` through the pure core, with the job's bounds; counts and time."""
    settings = settings or JobSettings()
    lifecycle = OrderLifecycle(zones, settings.grace_ms, settings.max_open_ms)
    totals = DailyTotals(zones, settings.finalize_grace_ms, settings.daily_retention_ms)
    timezones = {name: zone.timezone for name, zone in zones.items()}
    orders: dict[str, OrderState] = {}
    days: dict[tuple[str, str], DailyState | None] = {}
    counts = {"events": 0, "malformed": 0, "lines": 0, "totals": 0}
    started = time.perf_counter()
    with path.open("rb") as source:
        for payload in source:
            counts["events"] += 1
            try:
                event = parse_event(payload.rstrip(b"\n"), timezones)
            except MalformedEventError:
                counts["malformed"] += 1
                continue
            pay_date(event.time_ms, timezones[event.zone]).isoformat()  # the parser dates it
            step = lifecycle.on_event(orders.setdefault(event.order_id, OrderState()), event, NEVER)
            for line in step.lines:
                record_json(line.to_record())
                key = (line.interval.driver_id, line.pay_date.isoformat())
                days[key], day_step = totals.on_line(days.get(key), line, event.time_ms, NEVER)
                counts["lines"] += 1
                if day_step.emit is not None:
                    daily_json(day_step.emit)
                    counts["totals"] += 1
    return {**counts, "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m driverpay.bench_core FILE")
    print(json.dumps(replay(Path(sys.argv[1]), load_zones(ROOT / "config" / "zones.yaml"))))
