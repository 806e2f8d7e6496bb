"""A driver-day is paid in one currency, on the real (embedded) job and in a recompute alike.

One driver delivers in Tokyo at 20:00 local and in San Francisco at 10:00 local: both on
2026-11-24 where they happened, so both lines belong to the same driver-day, whose row has one
``currency``. The day is paid in the currency of its first line (yen); the dollar line is
quarantined with its reason, never added as if 900 cents were 900 yen. A recompute from the
archive the job wrote says the same, so reconcile finds nothing to correct.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from driverpay.recompute import recompute
from jobs.embedded import run_file
from jobs.settings import JobSettings
from udfs.zones import load_zones

pytestmark = pytest.mark.flink
ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "config" / "zones.yaml"
DAY = date(2026, 11, 24)
TOKYO_20_00, TOKYO_20_30 = "2026-11-24T11:00:00Z", "2026-11-24T11:30:00Z"  # off-peak
SF_10_00, SF_10_30 = "2026-11-24T18:00:00Z", "2026-11-24T18:30:00Z"  # off-peak
THIRTY_MINUTES_IN_TOKYO = 1200  # yen: 30 min x 40 JPY
THIRTY_MINUTES_IN_SF = 900  # cents: 30 min x 0.30 USD


def delivery(order: str, driver: str, zone: str, accepted: str, delivered: str) -> list[str]:
    return [
        json.dumps(
            {"event_id": f"{order}-{kind}", "order_id": order, "driver_id": driver,
             "type": kind, "event_time": at, "zone": zone}
        )
        for kind, at in (("ACCEPTED", accepted), ("DELIVERED", delivered))
    ]  # fmt: skip


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def paid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("currencies")
    lines = [
        *delivery("o-tokyo", "d-both", "tokyo", TOKYO_20_00, TOKYO_20_30),
        *delivery("o-sf", "d-both", "sf", SF_10_00, SF_10_30),
        *delivery("o-only-sf", "d-sf", "sf", SF_10_00, SF_10_30),
    ]
    (tmp / "events.jsonl").write_text("\n".join(lines) + "\n")
    settings = JobSettings(checkpoint_interval_ms=500)
    zones = load_zones(ZONES)
    run_file(tmp / "events.jsonl", tmp / "stream", zones, settings, archive_dir=tmp / "archive")
    recompute(tmp / "archive", DAY, ZONES.read_bytes(), tmp / "recomputed", workers=2)
    return tmp


def test_the_day_is_paid_in_its_first_lines_currency_and_the_other_line_is_quarantined(
    paid: Path,
) -> None:
    days = {r["driver_id"]: r for r in records(paid / "stream" / "driver_daily_pay.jsonl")}
    both = days["d-both"]
    assert (both["currency"], both["total_cents"], both["line_count"]) == (
        "JPY",
        THIRTY_MINUTES_IN_TOKYO,
        1,
    )
    assert (days["d-sf"]["currency"], days["d-sf"]["total_cents"]) == ("USD", THIRTY_MINUTES_IN_SF)
    ledger = records(paid / "stream" / "pay_ledger.jsonl")
    assert sorted(r["order_id"] for r in ledger) == ["o-only-sf", "o-tokyo"]
    [quarantined] = [
        r for r in records(paid / "stream" / "quarantine.jsonl")
        if r["kind"] == "DAY_CURRENCY_MISMATCH"
    ]  # fmt: skip
    assert quarantined["order_id"] == "o-sf"
    assert (quarantined["currency"], quarantined["day_currency"]) == ("USD", "JPY")
    assert quarantined["amount"] == "9.00"


def test_a_recompute_from_the_archive_pays_the_same_day_in_the_same_currency(paid: Path) -> None:
    streamed = records(paid / "stream" / "driver_daily_pay.jsonl")
    recomputed = records(paid / "recomputed" / "driver_daily_pay.jsonl")
    fields = ("driver_id", "pay_date", "total_cents", "currency", "line_count")
    assert sorted(tuple(r[f] for f in fields) for r in recomputed) == sorted(
        tuple(r[f] for f in fields) for r in streamed
    )
    assert (paid / "recomputed" / "pay_ledger.jsonl").read_text() == (
        paid / "stream" / "pay_ledger.jsonl"
    ).read_text()
