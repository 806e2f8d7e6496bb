"""Recompute a day from a Parquet archive with the streaming job's pay code."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from driverpay.check import compare, daily_from_output, daily_from_truth
from driverpay.generate import GenConfig, generate
from driverpay.recompute import RecomputeError, parse_bytes, recompute
from tests.recompute.helpers import archive_events
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "config" / "zones.yaml"
DAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A messy generated day (duplicates, disorder, late and malformed events) in an archive."""
    tmp = tmp_path_factory.mktemp("day")
    zones = load_zones(ZONES)
    generate(GenConfig(orders=1500, drivers=60), zones, tmp / "events.jsonl", tmp / "truth.json")
    archive_events(tmp / "events.jsonl", tmp / "archive", zones)
    return tmp / "archive", json.loads((tmp / "truth.json").read_text())


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _truth_of(truth: dict, pay_date: str, zone_drivers: set[str] | None = None) -> dict:
    return {
        k: v
        for k, v in daily_from_truth(truth).items()
        if k[1] == pay_date and (zone_drivers is None or k[0] in zone_drivers)
    }


def test_a_recomputed_day_equals_the_generators_truth_to_the_cent(day, tmp_path):
    archive, truth = day
    recompute(archive, DAY, ZONES.read_bytes(), tmp_path, workers=2)
    result = compare(
        _truth_of(truth, "2026-11-24"),
        daily_from_output(_rows(tmp_path / "driver_daily_pay.jsonl")),
    )
    assert result.ok, result.mismatched[:3]
    assert result.matched == len(_truth_of(truth, "2026-11-24")) > 50


def test_the_next_day_picks_up_intervals_that_crossed_local_midnight(day, tmp_path):
    archive, truth = day
    expected = _truth_of(truth, "2026-11-25")
    assert expected, "the generated day has intervals past midnight"
    recompute(archive, date(2026, 11, 25), ZONES.read_bytes(), tmp_path, workers=1)
    result = compare(expected, daily_from_output(_rows(tmp_path / "driver_daily_pay.jsonl")))
    assert result.ok, result.mismatched[:3]


def test_the_ledger_is_sorted_like_driverpay_run_and_adds_up_to_the_daily_totals(day, tmp_path):
    archive, _ = day
    recompute(archive, DAY, ZONES.read_bytes(), tmp_path, workers=2)
    ledger = _rows(tmp_path / "pay_ledger.jsonl")
    keys = [(r["pay_date"], r["driver_id"], r["order_id"], r["line_id"]) for r in ledger]
    assert keys == sorted(keys)
    assert {r["kind"] for r in ledger} == {"LINE"}
    assert len({r["line_id"] for r in ledger}) == len(ledger)
    for row in _rows(tmp_path / "driver_daily_pay.jsonl"):
        mine = [r for r in ledger if r["driver_id"] == row["driver_id"]]
        assert row["total_cents"] == sum(r["amount_minor"] for r in mine)
        assert row["line_count"] == len(mine)
        assert (row["final"], row["post_final"], row["version"]) == (True, False, len(mine) + 1)


def test_one_worker_and_two_workers_write_the_same_bytes(day, tmp_path):
    archive, _ = day
    for workers in (1, 2):
        recompute(archive, DAY, ZONES.read_bytes(), tmp_path / str(workers), workers=workers)
    for name in ("pay_ledger.jsonl", "driver_daily_pay.jsonl"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()


def test_a_zone_recompute_holds_only_that_zones_drivers(day, tmp_path):
    archive, truth = day
    recompute(archive, DAY, ZONES.read_bytes(), tmp_path, zone="tokyo", workers=1)
    ledger = _rows(tmp_path / "pay_ledger.jsonl")
    assert {r["zone"] for r in ledger} == {"tokyo"}
    drivers = {r["driver_id"] for r in ledger}
    expected = _truth_of(truth, "2026-11-24", drivers)
    result = compare(expected, daily_from_output(_rows(tmp_path / "driver_daily_pay.jsonl")))
    assert result.ok
    assert {r["currency"] for r in _rows(tmp_path / "driver_daily_pay.jsonl")} == {"JPY"}


def test_a_tiny_memory_limit_sorts_in_many_passes_and_gets_the_same_ledger(day, tmp_path):
    archive, _ = day
    recompute(archive, DAY, ZONES.read_bytes(), tmp_path / "big", workers=1)
    recompute(
        archive,
        DAY,
        ZONES.read_bytes(),
        tmp_path / "small",
        workers=1,
        memory_limit="16MB",
        passes=7,
    )
    for name in ("pay_ledger.jsonl", "driver_daily_pay.jsonl"):
        assert (tmp_path / "big" / name).read_bytes() == (tmp_path / "small" / name).read_bytes()


def test_a_date_with_no_archived_events_is_refused(day, tmp_path):
    archive, _ = day
    with pytest.raises(RecomputeError, match="no events on 2026-12-24"):
        recompute(archive, date(2026, 12, 24), ZONES.read_bytes(), tmp_path)
    with pytest.raises(RecomputeError, match="no such folder"):
        recompute(tmp_path / "missing", DAY, ZONES.read_bytes(), tmp_path)
    with pytest.raises(RecomputeError, match="unknown zone"):
        recompute(archive, DAY, ZONES.read_bytes(), tmp_path, zone="mars")


def test_memory_limits_are_read_in_duckdbs_spellings():
    assert parse_bytes("512MB") == 512_000_000
    assert parse_bytes("1GiB") == 2**30
    with pytest.raises(RecomputeError):
        parse_bytes("lots")


def test_the_command_exits_2_with_one_line_on_bad_input(tmp_path):
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "driverpay"),
            "recompute",
            "--date",
            "24/11/2026",
            "--archive",
            str(tmp_path),
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: --date: not a date like 2026-11-24: '24/11/2026'"
    ]


def test_the_fast_ledger_text_is_byte_for_byte_to_json(day, tmp_path):
    from driverpay.recompute import LedgerText
    from udfs.ledger import PaidInterval, lines_for
    from udfs.money import to_minor

    zones = load_zones(ZONES)
    text = LedgerText(check_first=0, check_every=10**9)  # never checks itself: this test does
    start = 1_795_500_000_123  # across several local midnights, in every zone
    for i in range(3000):
        zone = ("sf", "nyc", "tokyo")[i % 3]
        iv = PaidInterval(
            f"o{i}", "d1", zone, start + i * 997_331, start + i * 1_013_557, "a", "b", "DELIVERED"
        )
        for line in lines_for(iv, zones):
            assert text(line, to_minor(line.amount, line.currency)) == line.to_json()


def test_a_changed_ledger_format_falls_back_to_to_json(monkeypatch):
    from driverpay.recompute import LedgerText
    from udfs.ledger import PaidInterval, PayLine, lines_for

    zones = load_zones(ZONES)
    line = lines_for(PaidInterval("o", "d", "sf", 0, 60_000, "a", "b", "DELIVERED"), zones)[0]
    monkeypatch.setattr(PayLine, "to_json", lambda self: '{"new":"format"}')
    text = LedgerText()
    assert text(line, 30) == '{"new":"format"}'
    assert text(line, 30) == '{"new":"format"}'


def test_a_recompute_prices_with_the_zones_versions_the_stream_had(tmp_path):
    """A correction effective at 17:00 in San Francisco, given as its topic record."""
    import yaml

    from udfs.zones import parse_zones
    from udfs.zones_history import ZonesHistory, version_record

    base = load_zones(ZONES)
    doc = yaml.safe_load(ZONES.read_text())
    sf = {**doc["zones"]["sf"], "rate_per_minute": "0.40"}
    raised = parse_zones(
        yaml.safe_dump({"zones": {"sf": sf}, "effective": "2026-11-24T17:00:00-08:00"}).encode()
    )
    config = GenConfig(orders=400, drivers=30, malformed_rate=0.0)
    generate(config, ZonesHistory([base, raised]), tmp_path / "e.jsonl", tmp_path / "t.json")
    archive_events(tmp_path / "e.jsonl", tmp_path / "archive", base)
    truth = json.loads((tmp_path / "t.json").read_text())

    out = tmp_path / "out"
    recompute(
        tmp_path / "archive",
        DAY,
        ZONES.read_bytes(),
        out,
        workers=1,
        version_records=(version_record(raised),),
    )
    result = compare(
        _truth_of(truth, "2026-11-24"), daily_from_output(_rows(out / "driver_daily_pay.jsonl"))
    )
    assert result.ok, result.mismatched[:3]
    versions = {r["zones_version"] for r in _rows(out / "pay_ledger.jsonl")}
    assert versions == {base.version, raised.version}

    without = tmp_path / "without"
    recompute(tmp_path / "archive", DAY, ZONES.read_bytes(), without, workers=1)
    assert not compare(
        _truth_of(truth, "2026-11-24"),
        daily_from_output(_rows(without / "driver_daily_pay.jsonl")),
    ).ok  # the versions matter: without them, sf evenings are priced at the old rate
