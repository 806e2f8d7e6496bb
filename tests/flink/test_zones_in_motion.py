"""Zones versions reach the running job without a redeploy (embedded, real Flink).

The job is submitted with the shipped zones (version 1). A corrected version — San Francisco's
rate raised from 0.30 to 0.40 per minute, effective 17:00 local on the day — arrives on the
broadcast input while the day streams in, as it would from the ``zones`` topic. Each minute
must end up paid under the version in force at it, to the cent, whether the version reached
the lifecycle before the order's events (priced directly) or after (re-priced by REVERSAL +
ADJUSTMENT): an interval across 17:00 is two lines, one per version; minutes before 17:00
keep version 1.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from driverpay.generate import GenConfig, generate
from jobs.embedded import run_file
from jobs.settings import JobSettings
from tests.flink.conftest import TEST_FLINK
from udfs.money import to_minor
from udfs.timefmt import parse_rfc3339_ms
from udfs.zones import load_zones, parse_zones
from udfs.zones_history import ZonesHistory, parse_version_record

pytestmark = pytest.mark.flink
ROOT = Path(__file__).resolve().parents[2]
SF_FIVE_PM = "2026-11-24T17:00:00-08:00"
CONFIG = GenConfig(seed=23, orders=600, drivers=30, malformed_rate=0.0)


def corrected_sf() -> bytes:
    doc = yaml.safe_load((ROOT / "config" / "zones.yaml").read_text())
    sf = doc["zones"]["sf"]
    sf["rate_per_minute"] = "0.40"
    return yaml.safe_dump({"zones": {"sf": sf}, "effective": SF_FIVE_PM}).encode()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    os.environ.setdefault("FLINK_LOG_DIR", str(tmp_path_factory.mktemp("flink-log")))
    work = tmp_path_factory.mktemp("zones-in-motion")
    v1 = load_zones(ROOT / "config" / "zones.yaml")
    v2 = parse_zones(corrected_sf())
    truth = generate(CONFIG, ZonesHistory([v1, v2]), work / "events.jsonl", work / "truth.json")
    old_truth = generate(CONFIG, v1, work / "same-events.jsonl", work / "truth-v1.json")
    settings = JobSettings(parallelism=2, flink_options=TEST_FLINK)
    result = run_file(work / "events.jsonl", work / "out", v1, settings, versions=[v2])
    return {
        "v1": v1,
        "v2": v2,
        "truth": truth,
        "old": old_truth,
        "result": result,
        "out": work / "out",
    }


def net_minor(records: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for r in records:
        sums[(r["driver_id"], r["pay_date"])] += r["amount_minor"]
    return dict(sums)


def truth_minor(truth: Any) -> dict[tuple[str, str], int]:
    return {key: to_minor(Decimal(v[0]), v[1]) for key, v in truth.daily.items()}


def in_effect(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines not cancelled by a reversal (a reversal's id is derived from the line it cancels)."""
    from udfs.ledger import line_id

    reversed_ids = {r["line_id"] for r in records if r["kind"] == "REVERSAL"}
    return [
        r
        for r in records
        if r["kind"] != "REVERSAL" and line_id("REVERSAL", r["line_id"]) not in reversed_ids
    ]


def test_every_driver_day_is_paid_under_the_version_in_force_over_each_minute(
    run: dict[str, Any],
) -> None:
    ledger = run["result"].records["pay_ledger"]
    assert net_minor(ledger) == truth_minor(run["truth"])
    assert truth_minor(run["truth"]) != truth_minor(run["old"]), "the correction changes pay"


def test_sf_lines_from_five_pm_carry_the_new_version_earlier_ones_the_old(
    run: dict[str, Any],
) -> None:
    five_pm = parse_rfc3339_ms(SF_FIVE_PM)
    sf = [r for r in in_effect(run["result"].records["pay_ledger"]) if r["zone"] == "sf"]
    after = {r["zones_version"] for r in sf if parse_rfc3339_ms(r["start"]) >= five_pm}
    before = {r["zones_version"] for r in sf if parse_rfc3339_ms(r["start"]) < five_pm}
    assert after == {run["v2"].version}
    assert before == {run["v1"].version}
    others = {r["zones_version"] for r in in_effect(run["result"].records["pay_ledger"])}
    assert others == {run["v1"].version, run["v2"].version}


def test_an_sf_interval_across_five_pm_is_paid_in_two_lines_that_meet_there(
    run: dict[str, Any],
) -> None:
    five_pm = parse_rfc3339_ms(SF_FIVE_PM)
    pieces: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for r in in_effect(run["result"].records["pay_ledger"]):
        if r["zone"] == "sf":
            span = (parse_rfc3339_ms(r["start"]), parse_rfc3339_ms(r["end"]), r["zones_version"])
            pieces[(r["order_id"], r["interval_start"])].append(span)
    across = [
        sorted(p)
        for p in pieces.values()
        if min(s for s, _, _ in p) < five_pm < max(e for _, e, _ in p)
    ]
    assert across, "the day has sf intervals across 17:00"
    for (_, first_end, first), (second_start, _, second) in across:
        assert (first_end, first) == (five_pm, run["v1"].version)
        assert (second_start, second) == (five_pm, run["v2"].version)


def test_totals_of_drivers_outside_the_corrected_zone_are_exactly_as_before(
    run: dict[str, Any],
) -> None:
    ledger = run["result"].records["pay_ledger"]
    sf_drivers = {r["driver_id"] for r in ledger if r["zone"] == "sf"}
    old = {k: v for k, v in truth_minor(run["old"]).items() if k[0] not in sf_drivers}
    new = {k: v for k, v in net_minor(ledger).items() if k[0] not in sf_drivers}
    assert new == old


def test_daily_totals_agree_with_the_ledger_and_nothing_is_dead_lettered(
    run: dict[str, Any],
) -> None:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in run["result"].records["driver_daily_pay"]:
        key = (row["driver_id"], row["pay_date"])
        if key not in latest or latest[key]["version"] < row["version"]:
            latest[key] = row
    assert {k: r["total_cents"] for k, r in latest.items()} == truth_minor(run["truth"])
    assert run["result"].records["dead_letter"] == []
    retired = [r for r in run["result"].records["retired"] if r["kind"] == "ORDER_RETIRED"]
    assert len(retired) == len({r["key"] for r in retired}) > 0  # timer outputs still arrive


def test_the_run_records_the_versions_it_priced_with(run: dict[str, Any]) -> None:
    lines = (run["out"] / "zones_versions.jsonl").read_text().splitlines()
    assert [parse_version_record(line).version for line in lines] == [
        run["v1"].version,
        run["v2"].version,
    ]
    assert json.loads(lines[1])["effective"] == "2026-11-25T01:00:00.000Z"
