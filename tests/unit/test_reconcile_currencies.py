"""A driver-day paid in yen by one side and in dollars by the other is reported, not corrected.

d1 delivers in Tokyo at 20:00 and in San Francisco at 10:00, local times of 2026-11-24: one
driver-day, paid in the currency of its first line (udfs.daily). Should a stream have applied
the dollar line first, correcting it towards the recompute would reverse the dollars and then
offer yen the daily stage refuses for their currency: d1 would end the day with nothing.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from driverpay.recompute import recompute
from driverpay.reconcile import CORRECTIONS_FILE, reconcile
from tests.recompute.helpers import archive_events
from udfs.ledger import PaidInterval, lines_for
from udfs.reconcile import corrections
from udfs.timefmt import parse_rfc3339_ms as ms
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "config" / "zones.yaml"
DAY = date(2026, 11, 24)
TOKYO = ("o-tokyo", "tokyo", "2026-11-24T11:00:00Z", "2026-11-24T11:30:00Z")  # 20:00 local
SF = ("o-sf", "sf", "2026-11-24T18:00:00Z", "2026-11-24T18:30:00Z")  # 10:00 local


def events(*orders: tuple[str, str, str, str]) -> str:
    return "".join(
        json.dumps(
            {"event_id": f"{order}-{kind}", "order_id": order, "driver_id": "d1", "type": kind,
             "event_time": at, "zone": zone}
        ) + "\n"
        for order, zone, accepted, delivered in orders
        for kind, at in (("ACCEPTED", accepted), ("DELIVERED", delivered))
    )  # fmt: skip


def archived(folder: Path, *orders: tuple[str, str, str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.jsonl").write_text(events(*orders))
    archive_events(folder / "events.jsonl", folder / "archive", load_zones(ZONES))
    return folder / "archive"


def test_the_recompute_pays_the_day_in_its_first_lines_currency(tmp_path: Path) -> None:
    archive = archived(tmp_path, TOKYO, SF)
    summary = recompute(archive, DAY, ZONES.read_bytes(), tmp_path / "out", workers=2)
    [day] = [json.loads(x) for x in (tmp_path / "out" / "driver_daily_pay.jsonl").open()]
    assert (day["currency"], day["total_cents"], day["line_count"]) == ("JPY", 1200, 1)
    ledger = [json.loads(x) for x in (tmp_path / "out" / "pay_ledger.jsonl").open()]
    assert [line["order_id"] for line in ledger] == ["o-tokyo"]
    assert (summary.lines, summary.currency_mismatch_lines) == (1, 1)


def test_a_stream_that_paid_the_day_in_another_currency_is_reported_and_left_alone(
    tmp_path: Path,
) -> None:
    dollars_first = tmp_path / "stream"  # what a stream that applied the dollar line first shows
    recompute(archived(tmp_path / "sf-only", SF), DAY, ZONES.read_bytes(), dollars_first)
    full = archived(tmp_path, TOKYO, SF)
    report = reconcile(
        DAY, ZONES.read_bytes(), full, tmp_path / "run", stream=dollars_first, apply=True
    ).to_json()
    assert report["currency_conflicts"] == [
        {
            "driver_id": "d1",
            "pay_date": "2026-11-24",
            "streamed_minor": 900,
            "streamed_currency": "USD",
            "recomputed_minor": 1200,
            "recomputed_currency": "JPY",
        }
    ]
    assert (report["deltas"], report["corrections"], report["drivers_affected"]) == ([], 0, 1)
    assert not (dollars_first / CORRECTIONS_FILE).exists()


def test_no_correction_is_made_for_a_day_whose_lines_are_in_two_currencies() -> None:
    zones = load_zones(ZONES)
    yen, dollars = (
        lines_for(PaidInterval(o, "d1", z, ms(a), ms(d), "a", "d", "DELIVERED"), zones)[0]
        for o, z, a, d in (TOKYO, SF)
    )
    assert corrections([dollars], [yen], run_id="r") == []
    assert corrections([dollars, yen], [yen], run_id="r") == []
