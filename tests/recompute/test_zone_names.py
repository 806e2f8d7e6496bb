"""Zone names are text wherever they are read back: the archive's paths included."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from driverpay.recompute import recompute
from tests.recompute.helpers import archive_events, one_delivery
from udfs.zones import parse_zones

DAY = date(2026, 11, 25)
TEN_MINUTES_AT_ONE_A_MINUTE = 1000  # cents


@pytest.mark.parametrize("name", ["123", "2026-01-01", "007"])
def test_a_zone_named_like_a_number_or_a_date_is_recomputed(tmp_path: Path, name: str) -> None:
    zones_yaml = (
        f'zones:\n  "{name}":\n    timezone: UTC\n    currency: USD\n    rate_per_minute: "1"\n'
    ).encode()
    events = one_delivery(
        tmp_path / "events.jsonl", name, "2026-11-25T10:00:00Z", "2026-11-25T10:10:00Z"
    )
    archive = tmp_path / "archive"
    archive_events(events, archive, parse_zones(zones_yaml))
    assert (archive / f"zone={name}").is_dir()

    for zone in (None, name):
        out = tmp_path / f"out-{zone}"
        recompute(archive, DAY, zones_yaml, out, zone=zone, workers=1)
        total = json.loads((out / "driver_daily_pay.jsonl").read_text())
        assert total["total_cents"] == TEN_MINUTES_AT_ONE_A_MINUTE
        (line,) = [json.loads(x) for x in (out / "pay_ledger.jsonl").read_text().splitlines()]
        assert line["zone"] == name
