"""A broken archive is refused with one line and exit 2, never priced and never a trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.recompute.helpers import archive_events, one_delivery
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "config" / "zones.yaml"
DRIVERPAY = str(Path(sys.executable).parent / "driverpay")
SIX_PM_UTC_MS = 1_764_093_600_000  # 2026-11-25T18:00:00Z, 10:00 in sf


def row(**overrides: object) -> pa.Table:
    values = {"event_id": "e9", "order_id": "o2", "driver_id": "d2", "type": "ACCEPTED"}
    values.update(overrides)
    columns = {k: pa.array([v], pa.string()) for k, v in values.items()}
    return pa.table({**columns, "time_ms": pa.array([SIX_PM_UTC_MS], pa.int64())})


def truncated(part: Path) -> None:
    whole = next(part.iterdir()).read_bytes()
    (part / "part-x.parquet").write_bytes(whole[: len(whole) // 2])


BREAKAGES = {
    "a file cut in half": (truncated, "archive: "),
    "another schema": (
        lambda part: pq.write_table(pa.table({"foo": [1]}), part / "part-x.parquet"),
        "archive: ",
    ),
    "an event without an id": (
        lambda part: pq.write_table(row(event_id=None), part / "part-x.parquet"),
        "archive: 1 of 3 events lack an id or a time",
    ),
    "a type the contract does not know": (
        lambda part: pq.write_table(row(type="BOGUS"), part / "part-x.parquet"),
        "archive: 1 of 3 events lack an id or a time, or have a type",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_archive_is_exit_2_with_one_line(tmp_path: Path, breakage: str) -> None:
    events = one_delivery(
        tmp_path / "events.jsonl", "sf", "2026-11-25T18:00:00Z", "2026-11-25T18:10:00Z"
    )
    archive = tmp_path / "archive"
    archive_events(events, archive, load_zones(ZONES))
    break_it, message = BREAKAGES[breakage]
    break_it(archive / "zone=sf" / "event_date=2026-11-25")

    run = subprocess.run(
        [DRIVERPAY, "recompute", "--archive", str(archive), "--date", "2026-11-25",
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "DRIVERPAY_ZONES": str(ZONES)},
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert run.stderr.startswith(f"error: {message}")
    assert not (tmp_path / "out" / "driver_daily_pay.jsonl").exists()
