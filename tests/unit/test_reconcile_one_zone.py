"""``reconcile --zone Z`` judges only zone Z's pay, even when a driver worked in two zones that day.

A driver-day's served total spans every zone the driver worked in; a recompute of one zone
sees only that zone's events. Comparing the two would make the other zones' pay look unearned.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from driverpay.recompute import recompute
from driverpay.reconcile import ReconcileError, reconcile
from tests.recompute.helpers import archive_events
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "config" / "zones.yaml"
DAY = date(2026, 11, 25)
# One driver, two zones, one day (both zones pay in USD): 18:00-18:30Z in sf, 15:00-15:20Z in nyc.
SF_ACCEPTED, SF_DELIVERED = "2026-11-25T18:00:00Z", "2026-11-25T18:30:00Z"
NYC_ACCEPTED, NYC_DELIVERED = "2026-11-25T15:00:00Z", "2026-11-25T15:20:00Z"


def event(event_id: str, order: str, kind: str, at: str, zone: str) -> str:
    return json.dumps(
        {"event_id": event_id, "order_id": order, "driver_id": "d1", "type": kind,
         "event_time": at, "zone": zone}
    )  # fmt: skip


@pytest.fixture
def two_zone_day(tmp_path: Path) -> tuple[Path, Path]:
    """The archive of d1's day in sf and nyc, and a stream folder that paid it right."""
    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            [
                event("s1", "o-sf", "ACCEPTED", SF_ACCEPTED, "sf"),
                event("s2", "o-sf", "DELIVERED", SF_DELIVERED, "sf"),
                event("n1", "o-ny", "ACCEPTED", NYC_ACCEPTED, "nyc"),
                event("n2", "o-ny", "DELIVERED", NYC_DELIVERED, "nyc"),
            ]
        )
        + "\n"
    )
    archive = tmp_path / "archive"
    archive_events(events, archive, load_zones(ZONES))
    stream = tmp_path / "stream"
    recompute(archive, DAY, ZONES.read_bytes(), stream, workers=1)
    return archive, stream


def reconcile_zone(archive: Path, stream: Path, zone: str | None, run: str) -> dict:
    report = reconcile(
        DAY, ZONES.read_bytes(), archive, stream.parent / run, stream=stream, zone=zone, apply=True
    )
    return report.to_json()


def test_a_right_stream_reconciled_zone_by_zone_gets_no_corrections(two_zone_day):
    archive, stream = two_zone_day
    served = json.loads((stream / "driver_daily_pay.jsonl").read_text())
    assert served["line_count"] == 2
    assert served["total_cents"] > 0

    for zone in ("sf", "nyc"):
        report = reconcile_zone(archive, stream, zone, f"run-{zone}")
        assert (report["deltas"], report["corrections"]) == ([], 0), zone
        assert report["driver_days"] == 1

    assert not (stream / "pay_corrections.jsonl").exists()
    everything = reconcile_zone(archive, stream, None, "run-all")
    assert everything["deltas"] == []


def test_a_zone_streamed_wrong_is_corrected_without_touching_the_other_zone(two_zone_day):
    archive, stream = two_zone_day
    ledger = [json.loads(x) for x in (stream / "pay_ledger.jsonl").read_text().splitlines()]
    nyc = [x for x in ledger if x["zone"] == "nyc"]
    assert len(nyc) == 1
    (stream / "pay_ledger.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in ledger if x["zone"] != "nyc")
    )
    total = json.loads((stream / "driver_daily_pay.jsonl").read_text())
    total["total_cents"] -= nyc[0]["amount_minor"]
    (stream / "driver_daily_pay.jsonl").write_text(json.dumps(total) + "\n")

    sf = reconcile_zone(archive, stream, "sf", "run-sf")
    assert (sf["deltas"], sf["corrections"]) == ([], 0)

    fixed = reconcile_zone(archive, stream, "nyc", "run-nyc")
    assert fixed["delta_minor"] == nyc[0]["amount_minor"] > 0
    issued = [json.loads(x) for x in (stream / "pay_corrections.jsonl").read_text().splitlines()]
    assert [(x["kind"], x["zone"], x["amount_minor"]) for x in issued] == [
        ("ADJUSTMENT", "nyc", nyc[0]["amount_minor"])
    ]
    assert reconcile_zone(archive, stream, None, "run-all")["deltas"] == []


def test_a_missing_archive_partition_is_refused_rather_than_reversing_the_pay_it_held(
    two_zone_day,
):
    archive, stream = two_zone_day
    shutil.rmtree(archive / "zone=nyc" / "event_date=2026-11-25")

    with pytest.raises(ReconcileError, match="lacks zone=nyc/event_date=2026-11-25"):
        reconcile_zone(archive, stream, None, "run-all")
    with pytest.raises(ReconcileError, match="lacks zone=nyc/event_date=2026-11-25"):
        reconcile_zone(archive, stream, "nyc", "run-nyc")
    assert reconcile_zone(archive, stream, "sf", "run-sf")["deltas"] == []
    assert not (stream / "pay_corrections.jsonl").exists()


def test_an_order_across_midnight_needs_the_next_days_partition_too(tmp_path: Path) -> None:
    """Delivered at 00:30 local on the 26th: the stream paid the 25th up to midnight."""
    events = tmp_path / "events.jsonl"
    events.write_text(
        event("m1", "o-late", "ACCEPTED", "2026-11-26T07:00:00Z", "sf")  # 23:00 PST, the 25th
        + "\n"
        + event("m2", "o-late", "DELIVERED", "2026-11-26T08:30:00Z", "sf")  # 00:30 PST, the 26th
        + "\n"
    )
    archive = tmp_path / "archive"
    archive_events(events, archive, load_zones(ZONES))
    stream = tmp_path / "stream"
    recompute(archive, DAY, ZONES.read_bytes(), stream, workers=1)
    assert reconcile_zone(archive, stream, None, "run-whole")["deltas"] == []

    shutil.rmtree(archive / "zone=sf" / "event_date=2026-11-26")

    with pytest.raises(ReconcileError, match="lacks zone=sf/event_date=2026-11-26"):
        reconcile_zone(archive, stream, None, "run-cut")
