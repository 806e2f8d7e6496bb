"""The raw event archive on a real (embedded) Flink job, read back with DuckDB.

One generated day goes through the real job (``run_file``, as ``driverpay run``) with its
archive on: the parser dates every valid event once and the archive only projects it in SQL;
a recompute from the archive Flink wrote must then equal the streamed ledger byte for byte.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from driverpay.generate import GenConfig, generate
from driverpay.recompute import recompute
from jobs.embedded import run_file
from jobs.settings import JobSettings
from udfs.events import MalformedEventError, parse_event
from udfs.localday import pay_date
from udfs.zones import load_zones

pytestmark = pytest.mark.flink
ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "config" / "zones.yaml"
DAY = date(2026, 11, 24)
ACCEPTED_AT, DELIVERED_AT = "2026-11-24T18:00:00Z", "2026-11-24T18:30:00Z"  # 10:00-10:30 in sf


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory):
    """A clean day (in order, no duplicates: a stream emits only LINEs) with malformed records."""
    tmp = tmp_path_factory.mktemp("archive")
    zones = load_zones(ZONES)
    config = GenConfig(orders=120, drivers=12, duplicate_rate=0, out_of_order_rate=0, late_rate=0)
    generate(config, zones, tmp / "events.jsonl", tmp / "truth.json")
    settings = JobSettings(checkpoint_interval_ms=500)
    started = time.monotonic()
    run_file(tmp / "events.jsonl", tmp / "stream", zones, settings, archive_dir=tmp / "archive")
    print(f"job with archive: {time.monotonic() - started:.1f} s")
    return tmp, zones


def test_every_valid_event_is_archived_once_in_its_zone_and_local_date(day):
    tmp, zones = day
    valid = []
    for line in (tmp / "events.jsonl").read_text().splitlines():
        with contextlib.suppress(MalformedEventError):
            valid.append(parse_event(line, zones))
    assert len(valid) > 300
    parts = [p for p in (tmp / "archive").rglob("*") if p.is_file()]
    assert not [p for p in parts if p.name.startswith(".")], "no in-progress file is left"
    data = [p for p in parts if p.name.startswith("part-")]
    rows = (
        duckdb.connect()
        .execute(
            "SELECT event_id, order_id, driver_id, type, time_ms, zone, event_date::VARCHAR "
            "FROM read_parquet(?, hive_partitioning = true)",
            [[str(p) for p in data]],
        )
        .fetchall()
    )
    expected = sorted(
        (e.event_id, e.order_id, e.driver_id, e.type.value, e.time_ms, e.zone) for e in valid
    )
    assert sorted(r[:6] for r in rows) == expected
    for *_, time_ms, zone, event_date in rows:
        assert event_date == pay_date(time_ms, zones[zone].timezone).isoformat()
    for p in data:  # the path names the partition of every row in it
        zone, event_date = p.parent.parent.name, p.parent.name
        assert zone.startswith("zone=")
        assert event_date.startswith("event_date=")
        assert (p.parent / "_SUCCESS").is_file()
    assert {p.parent.name for p in data} >= {"event_date=2026-11-24", "event_date=2026-11-25"}


def test_a_recompute_from_the_archive_equals_the_streamed_ledger_byte_for_byte(day):
    tmp, _ = day
    stream = tmp / "stream"
    out = tmp / "recomputed"
    recompute(tmp / "archive", DAY, ZONES.read_bytes(), out, workers=1)
    streamed = [
        x
        for x in (stream / "pay_ledger.jsonl").read_text().splitlines()
        if json.loads(x)["pay_date"] == DAY.isoformat()
    ]
    assert len(streamed) > 50
    assert (out / "pay_ledger.jsonl").read_text().splitlines() == streamed
    daily = [
        x
        for x in (stream / "driver_daily_pay.jsonl").read_text().splitlines()
        if json.loads(x)["pay_date"] == DAY.isoformat()
    ]
    assert (out / "driver_daily_pay.jsonl").read_text().splitlines() == daily


def test_parquet_is_smaller_than_the_raw_lines(day):
    tmp, _ = day
    raw = (tmp / "events.jsonl").stat().st_size
    archived = sum(p.stat().st_size for p in (tmp / "archive").rglob("part-*"))
    print(f"archive {archived} bytes vs raw JSONL {raw} bytes ({archived / raw:.0%})")
    assert archived < raw


def _archived_ids(archive: Path) -> list[str]:
    files = [str(p) for p in archive.rglob("part-*")]
    query = "SELECT event_id FROM read_parquet(?, hive_partitioning = true) ORDER BY event_id"
    return [row[0] for row in duckdb.connect().execute(query, [files]).fetchall()]


def _driverpay_run(events: Path, output: Path) -> None:
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "driverpay"), "run", "-i", str(events), "-o", str(output)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )


def test_a_second_run_into_the_same_folder_replaces_what_the_first_left(tmp_path: Path) -> None:
    """The folder is one run's, however often it is reused.

    Before, its archive held both runs' events (Flink's file sink adds part files), and a
    reconcile's corrections of the first run counted as streamed pay of the second.
    """
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    order = {"order_id": "o-1", "driver_id": "d-1", "zone": "sf"}
    for path, tag in ((first, "a"), (second, "b")):
        events = [
            {**order, "event_id": f"{tag}-1", "type": "ACCEPTED", "event_time": ACCEPTED_AT},
            {**order, "event_id": f"{tag}-2", "type": "DELIVERED", "event_time": DELIVERED_AT},
        ]
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
    out = tmp_path / "out"
    _driverpay_run(first, out)
    assert _archived_ids(out / "archive") == ["a-1", "a-2"]
    (out / "pay_corrections.jsonl").write_text('{"line_id": "from-a-reconcile-of-run-1"}\n')
    (out / "reconcile" / "2026-11-24").mkdir(parents=True)

    _driverpay_run(second, out)
    assert _archived_ids(out / "archive") == ["b-1", "b-2"]
    assert not (out / "pay_corrections.jsonl").exists()
    assert not (out / "reconcile").exists()
    ledger = [json.loads(line) for line in (out / "pay_ledger.jsonl").read_text().splitlines()]
    assert [(r["start_event_id"], r["amount"]) for r in ledger] == [("b-1", "9.00")]
