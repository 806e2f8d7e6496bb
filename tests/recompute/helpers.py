"""Build a raw-event archive the way the streaming job lays it out, without running Flink.

The layout is the archive's contract: ``zone=<z>/event_date=<local date>/*.parquet`` with the
event columns (``zone`` and ``event_date`` live in the path). The local date comes from the one
local-day rule, ``udfs.localday.pay_date``.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa

from udfs.events import MalformedEventError, parse_event
from udfs.localday import pay_date
from udfs.zones import Zones

COLUMNS = ("event_id", "order_id", "driver_id", "type", "time_ms", "zone", "event_date")


def archive_events(events_file: Path, archive: Path, zones: Zones) -> int:
    """Parse ``events_file`` like the job does and write every valid event; return the count."""
    cols: list[list[object]] = [[] for _ in COLUMNS]
    with events_file.open("rb") as fh:
        for raw in fh:
            try:
                e = parse_event(raw.rstrip(b"\n"), zones)
            except MalformedEventError:
                continue
            day = pay_date(e.time_ms, zones[e.zone].timezone).isoformat()
            for col, value in zip(
                cols,
                (e.event_id, e.order_id, e.driver_id, e.type.value, e.time_ms, e.zone, day),
                strict=True,
            ):
                col.append(value)
    table = pa.table(dict(zip(COLUMNS, cols, strict=True)))
    table = table.set_column(4, "time_ms", pa.array(cols[4], pa.int64()))
    con = duckdb.connect()
    con.register("events", table)
    archive.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY events TO '{archive}' (FORMAT parquet, PARTITION_BY (zone, event_date), "
        "OVERWRITE_OR_IGNORE true)"
    )
    return len(cols[0])


def one_delivery(events_file: Path, zone: str, accepted: str, delivered: str) -> Path:
    """An events file of one order (``o1``, driver ``d1``) accepted and delivered in ``zone``."""
    rows = [("a1", "ACCEPTED", accepted), ("a2", "DELIVERED", delivered)]
    events_file.write_text(
        "".join(
            json.dumps(
                {"event_id": eid, "order_id": "o1", "driver_id": "d1", "type": kind,
                 "event_time": at, "zone": zone}
            ) + "\n"
            for eid, kind, at in rows
        )
    )  # fmt: skip
    return events_file
