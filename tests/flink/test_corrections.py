"""The problem statement's follow-ups, embedded: a day paid wrong, found and corrected.

- An over-counting build pays a day; ``reconcile`` finds exactly the overpaid driver-days from
  the raw archive, ``--apply`` corrects them with adjustment lines, a second reconcile finds
  nothing and a second apply adds nothing.
- A peak window corrected at 5 pm (a new zones version): the day's lines, priced under the old
  version, keep it; reconcile under the new version re-prices them by adjustments.
- A line for a day whose streaming state is gone is not applied by the stream (it is audited);
  it reaches the ledger through reconcile, once.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from driverpay.generate import GenConfig, generate
from driverpay.reconcile import reconcile
from jobs.embedded import run_file
from jobs.faults import overpaying_peaks
from jobs.settings import JobSettings
from tests.flink.conftest import TEST_FLINK
from tests.hostile import corpus as hostile
from udfs.money import to_minor
from udfs.zones import load_zones

pytestmark = pytest.mark.flink
ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 24)
ZONES_FILE = ROOT / "config" / "zones.yaml"


def truth_minor(truth: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {
        (r["driver_id"], r["pay_date"]): to_minor(Decimal(r["total"]), r["currency"])
        for r in truth["daily"]
        if r["pay_date"] == DAY.isoformat()
    }


def ledger_minor(folder: Path) -> dict[tuple[str, str], int]:
    """The folder's ledger plus its applied corrections, summed per driver-day."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for name in ("pay_ledger.jsonl", "pay_corrections.jsonl"):
        path = folder / name
        for line in path.read_text().splitlines() if path.exists() else []:
            record = json.loads(line)
            if record["pay_date"] == DAY.isoformat():
                sums[(record["driver_id"], record["pay_date"])] += record["amount_minor"]
    return dict(sums)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("FLINK_LOG_DIR", str(tmp_path_factory.mktemp("flink-log")))
    work = tmp_path_factory.mktemp("day")
    config = GenConfig(seed=21, orders=600, drivers=30, malformed_rate=0.0)
    generate(config, load_zones(ZONES_FILE), work / "events.jsonl", work / "truth.json")
    return work


def test_an_overcounting_build_is_found_corrected_once_and_found_clean(
    day: Path, tmp_path: Path
) -> None:
    zones = load_zones(ZONES_FILE)
    out = tmp_path / "out"
    run_file(
        day / "events.jsonl",
        out,
        overpaying_peaks(zones),
        JobSettings(),
        archive_dir=out / "archive",
    )
    truth = truth_minor(json.loads((day / "truth.json").read_text()))
    assert ledger_minor(out) != truth, "the faulty build should have overpaid someone"

    found = reconcile(DAY, ZONES_FILE.read_bytes(), out / "archive", tmp_path / "r1", stream=out)
    overpaid = {(d["driver_id"], d["pay_date"]): d for d in found.deltas}
    assert overpaid
    assert all(d["recomputed_minor"] == truth[k] < d["streamed_minor"] for k, d in overpaid.items())
    assert {k for k, v in ledger_minor(out).items() if v != truth.get(k)} == set(overpaid)

    applied = reconcile(
        DAY, ZONES_FILE.read_bytes(), out / "archive", tmp_path / "r2", stream=out, apply=True
    )
    assert applied.applied == len(applied.corrections) > 0
    assert {c.kind.value for c in applied.corrections} == {"REVERSAL", "ADJUSTMENT"}
    assert ledger_minor(out) == truth
    again = reconcile(
        DAY, ZONES_FILE.read_bytes(), out / "archive", tmp_path / "r3", stream=out, apply=True
    )
    assert (again.deltas, again.applied) == ([], 0)


def test_a_peak_window_corrected_at_5pm_is_repriced_by_adjustments_lines_keep_their_version(
    day: Path, tmp_path: Path
) -> None:
    doc = yaml.safe_load(ZONES_FILE.read_text())
    for window in doc["zones"]["sf"]["peak_windows"]:
        if window["start"].endswith("T17:00"):
            window["multiplier"] = "1.75"  # the evening window, corrected at 5 pm
    fixed_file = tmp_path / "zones-fixed.yaml"
    fixed_file.write_text(yaml.safe_dump(doc))
    old, fixed = load_zones(ZONES_FILE), load_zones(fixed_file)
    assert old.version != fixed.version
    out = tmp_path / "out"
    run_file(day / "events.jsonl", out, old, JobSettings(), archive_dir=out / "archive")
    generate(
        GenConfig(seed=21, orders=600, drivers=30, malformed_rate=0.0),
        fixed,
        tmp_path / "same-events.jsonl",
        tmp_path / "truth-fixed.json",
    )
    truth = truth_minor(json.loads((tmp_path / "truth-fixed.json").read_text()))

    report = reconcile(
        DAY, fixed_file.read_bytes(), out / "archive", tmp_path / "r", stream=out, apply=True
    )
    assert report.deltas
    assert all(
        d["recomputed_minor"] == truth[(d["driver_id"], d["pay_date"])] for d in report.deltas
    )
    assert ledger_minor(out) == truth
    streamed = [json.loads(x) for x in (out / "pay_ledger.jsonl").read_text().splitlines()]
    assert {r["zones_version"] for r in streamed} == {old.version}
    adjustments = [c for c in report.corrections if c.kind.value == "ADJUSTMENT"]
    assert {c.zones_version for c in adjustments} == {fixed.version}
    assert all(c.reason and "reconcile" in c.reason for c in report.corrections)


def test_a_line_for_a_day_past_retention_reaches_the_ledger_only_through_reconcile_once(
    tmp_path: Path,
) -> None:
    late = [
        hostile.dump(hostile.event(f"late-{k}", "o-late-day", "d-late", k, hostile.at(t)))
        for k, t in (("ACCEPTED", "22:00"), ("DELIVERED", "22:30"))
    ]
    lines = hostile.fillers(300, "2026-11-24", "20:00")  # the day, paid to a filler driver
    lines += hostile.fillers(300, "2026-11-25", "02:30")  # final at 01:00, state gone at 02:00
    lines += late + late  # an order of 22:00 yesterday, sent twice, after the day's state is gone
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    settings = JobSettings(daily_retention_ms=3_600_000, flink_options=TEST_FLINK)
    result = run_file(
        tmp_path / "in.jsonl", out, load_zones(ZONES_FILE), settings, archive_dir=out / "archive"
    )
    assert not [r for r in result.records["pay_ledger"] if r["order_id"] == "o-late-day"]
    beyond = [r["line"] for r in result.records["audit"] if r["kind"] == "LINE_BEYOND_RETENTION"]
    assert [(x["order_id"], x["amount"]) for x in beyond] == [("o-late-day", "9.00")]
    # a late order is kept one grace period after it came, so the second copy is a duplicate
    copies = [r["event_id"] for r in result.records["audit"] if r["kind"] == "DUPLICATE"]
    assert sorted(copies) == ["late-ACCEPTED", "late-DELIVERED"]

    report = reconcile(
        DAY, ZONES_FILE.read_bytes(), out / "archive", tmp_path / "r1", stream=out, apply=True
    )
    assert report.deltas == [
        {
            "driver_id": "d-late",
            "pay_date": "2026-11-24",
            "currency": "USD",
            "streamed_minor": 0,
            "recomputed_minor": 900,
        }
    ]
    assert [(c.kind.value, str(c.amount)) for c in report.corrections] == [("ADJUSTMENT", "9.00")]
    assert ledger_minor(out)[("d-late", "2026-11-24")] == 900
    again = reconcile(
        DAY, ZONES_FILE.read_bytes(), out / "archive", tmp_path / "r2", stream=out, apply=True
    )
    assert (again.deltas, again.applied) == ([], 0)
    assert ledger_minor(out)[("d-late", "2026-11-24")] == 900
