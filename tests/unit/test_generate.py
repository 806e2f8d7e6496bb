"""The seeded generator: reproducible bytes, self-consistent truth, and fast enough to use often."""

import json
import time
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from driverpay.generate import GenConfig, generate
from driverpay.produce import read_lines
from udfs.events import MalformedEventError, parse_event
from udfs.money import minor_unit
from udfs.zones import Zones, load_zones

ROOT = Path(__file__).resolve().parents[2]
Run = tuple[Path, dict[str, Any]]
SMALL = GenConfig(seed=11, orders=300, drivers=40)


@pytest.fixture(scope="module")
def zones() -> Zones:
    return load_zones(ROOT / "config" / "zones.yaml")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory, zones: Zones) -> Run:
    out = tmp_path_factory.mktemp("gen")
    generate(SMALL, zones, out / "events.jsonl", out / "truth.json")
    return out / "events.jsonl", json.loads((out / "truth.json").read_text())


def run(tmp_path: Path, name: str, config: GenConfig, zones: Zones) -> tuple[bytes, bytes]:
    events, truth = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.json"
    generate(config, zones, events, truth)
    return events.read_bytes(), truth.read_bytes()


def test_two_runs_with_the_same_seed_write_byte_identical_files(
    tmp_path: Path, zones: Zones
) -> None:
    assert run(tmp_path, "a", SMALL, zones) == run(tmp_path, "b", SMALL, zones)


def test_a_different_seed_writes_a_different_day(tmp_path: Path, zones: Zones) -> None:
    events_a, _ = run(tmp_path, "a", SMALL, zones)
    events_b, _ = run(tmp_path, "b", replace(SMALL, seed=SMALL.seed + 1), zones)
    assert events_a != events_b


def test_lines_written_is_valid_plus_duplicates_plus_malformed(small_run: Run) -> None:
    events, truth = small_run
    counts = truth["counts"]
    assert counts["lines_written"] == (
        counts["valid_events"] + counts["duplicates"] + counts["malformed"]
    )
    assert counts["lines_written"] == len(read_lines(events))


def test_every_written_line_is_valid_or_malformed_exactly_as_the_truth_counts(
    small_run: Run, zones: Zones
) -> None:
    events, truth = small_run
    valid: Counter[str] = Counter()
    malformed = 0
    for line in read_lines(events):
        try:
            valid[parse_event(line, zones).event_id] += 1
        except MalformedEventError:
            malformed += 1
    counts = truth["counts"]
    assert malformed == counts["malformed"]
    assert len(valid) == counts["valid_events"]
    assert sum(valid.values()) - len(valid) == counts["duplicates"]


def test_truth_line_counts_add_up_to_the_pay_lines(small_run: Run) -> None:
    _, truth = small_run
    assert sum(row["line_count"] for row in truth["daily"]) == truth["counts"]["pay_lines"]


def test_truth_totals_are_decimal_strings_in_their_currencys_minor_unit(
    small_run: Run, zones: Zones
) -> None:
    _, truth = small_run
    assert truth["zones_version"] == zones.version
    for row in truth["daily"]:
        total = Decimal(row["total"])
        assert total >= 0
        assert total.as_tuple().exponent == -minor_unit(row["currency"])


def test_truth_rows_are_sorted_by_driver_and_day(small_run: Run) -> None:
    _, truth = small_run
    keys = [(row["driver_id"], row["pay_date"]) for row in truth["daily"]]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))


def test_the_injected_mess_is_present(small_run: Run) -> None:
    _, truth = small_run
    counts = truth["counts"]
    assert counts["duplicates"] > 0
    assert counts["out_of_order"] > 0
    assert counts["malformed"] > 0


def test_a_300_order_day_generates_in_under_two_seconds(tmp_path: Path, zones: Zones) -> None:
    began = time.perf_counter()
    run(tmp_path, "timed", SMALL, zones)
    assert time.perf_counter() - began < 2.0


def test_a_hot_driver_takes_about_the_asked_share_of_orders(tmp_path: Path, zones: Zones) -> None:
    config = replace(SMALL, orders=2000, hot_driver_share=0.3)
    events, _ = run(tmp_path, "hot", config, zones)
    accepted = [
        json.loads(line)["driver_id"]
        for line in events.splitlines()
        if b'"type":"ACCEPTED"' in line and line.startswith(b"{")
    ]
    share = Counter(accepted)["d00000"] / len(accepted)
    assert 0.25 < share < 0.4


def test_a_retry_storm_adds_only_copies_of_one_delivery_and_changes_no_pay(
    tmp_path: Path, zones: Zones
) -> None:
    calm_events, calm_truth = run(tmp_path, "calm", SMALL, zones)
    storm_events, storm_truth = run(tmp_path, "storm", replace(SMALL, hot_order_retries=500), zones)
    extra = Counter(storm_events.splitlines()) - Counter(calm_events.splitlines())
    [(copy, count)] = extra.items()
    assert json.loads(copy)["order_id"] == "o0000000"
    assert count == 500
    calm, storm = json.loads(calm_truth), json.loads(storm_truth)
    assert storm["daily"] == calm["daily"]
    assert storm["counts"]["duplicates"] == calm["counts"]["duplicates"] + 500
