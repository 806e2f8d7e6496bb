"""The hostile corpus inside an honest day, through the real job on embedded Flink.

Whatever the corpus does, the job runs to the end, every honest driver-day equals the truth to
the cent, each hostile record is in the dead letter or quarantine with its reason, and an
honest pair re-sent after its order's state is gone (and again after its day is final) is paid
exactly once.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from driverpay.generate import GenConfig, generate
from driverpay.produce import read_lines
from jobs.embedded import RunResult, run_file
from jobs.functions import Raw, decode_staged_line
from jobs.settings import JobSettings
from tests.hostile import corpus as hostile
from udfs.events import MAX_EVENT_BYTES
from udfs.zones import load_zones

pytestmark = pytest.mark.flink
ROOT = Path(__file__).resolve().parents[2]
ZONES = load_zones(ROOT / "config" / "zones.yaml")
TEST_FLINK = (("pipeline.auto-watermark-interval", "1 ms"),)  # see tests/flink/conftest.py


class Outcome:
    """One run over the honest day with the corpus mixed in."""

    def __init__(self, work: Path) -> None:
        rng = random.Random(20261124)
        generate(GenConfig(seed=3, orders=1200, drivers=60), ZONES, work / "e.jsonl", work / "t")
        honest = read_lines(work / "e.jsonl")
        self.truth = json.loads((work / "t").read_text())
        self.corpus = hostile.build(rng)
        self.pair = hostile.resent_pair(honest)
        lines = hostile.mix(honest, self.corpus, rng, kafka=False)
        lines += self.pair  # the order's state is gone by now: the line must dedup at its day
        lines += hostile.fillers(500, "2026-11-25", "02:00")  # every 2026-11-24 day is final
        lines += self.pair  # ... and again after the day is final
        (work / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        settings = JobSettings(parallelism=2, flink_options=TEST_FLINK)
        self.zones_records = hostile.zones_versions()
        self.result: RunResult = run_file(
            work / "in.jsonl",
            work / "out",
            ZONES,
            settings,
            version_texts=[str(h.payload, "utf-8") for h in self.zones_records],
        )

    def records(self, name: str) -> list[dict[str, Any]]:
        return self.result.records[name]

    def latest_days(self) -> dict[tuple[str, str], dict[str, Any]]:
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in sorted(self.records("driver_daily_pay"), key=lambda r: r["version"]):
            latest[(row["driver_id"], row["pay_date"])] = row
        return latest


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    os.environ.setdefault("FLINK_LOG_DIR", str(tmp_path_factory.mktemp("flink-log")))
    return Outcome(tmp_path_factory.mktemp("hostile"))


def test_every_honest_driver_day_equals_the_truth_to_the_cent(outcome: Outcome) -> None:
    days = outcome.latest_days()
    for expected in outcome.truth["daily"]:
        got = days[(expected["driver_id"], expected["pay_date"])]
        assert (got["total"], got["line_count"], got["final"]) == (
            expected["total"],
            expected["line_count"],
            True,
        ), expected["driver_id"]


def test_no_driver_day_exists_beyond_the_truth_but_fillers_and_odd_valid_ids(
    outcome: Outcome,
) -> None:
    honest = {(r["driver_id"], r["pay_date"]) for r in outcome.truth["daily"]}
    extra = {driver for driver, _ in set(outcome.latest_days()) - honest}
    assert extra == {"zz-filler", *outcome.corpus.paid.values()}


def test_each_malformed_record_is_in_the_dead_letter_with_its_reason(outcome: Outcome) -> None:
    dead = {
        hostile.dead_letter_id(r): r["reason"]
        for r in outcome.records("dead_letter")
        if r["position"] != "zones"  # the zones input's, below
    }
    for record in outcome.corpus.records:
        if record.outcome == "dead_letter" and not record.kafka_only:
            found = dead.get(hostile.payload_id(record.payload))
            assert found is not None, record.name
            assert record.reason in found, (record.name, found)


def test_a_huge_payload_is_dead_lettered_cut_short_with_its_size_and_hash(
    outcome: Outcome,
) -> None:
    big = b"\x01" * 900_000
    [record] = [r for r in outcome.records("dead_letter") if r.get("payload_bytes") == len(big)]
    assert record["payload"] == big[:MAX_EVENT_BYTES].decode()
    assert record["payload_sha256"] == hostile.payload_id(big)
    assert len(json.dumps(record)) < 1_000_000  # what a Kafka record may hold by default


def test_each_record_on_the_zones_input_that_is_no_version_is_dead_lettered_once(
    outcome: Outcome,
) -> None:
    """Every lifecycle subtask reads the zones input (a broadcast); one of them reports."""
    dead = [r for r in outcome.records("dead_letter") if r["position"] == "zones"]
    assert len(dead) == len(outcome.zones_records)
    reasons = {hostile.dead_letter_id(r): r["reason"] for r in dead}
    for record in outcome.zones_records:
        assert record.reason in reasons[hostile.payload_id(record.payload)], record.name


def test_each_hostile_event_is_quarantined_with_its_reason(outcome: Outcome) -> None:
    quarantined = {r["event_id"]: r for r in outcome.records("quarantine")}
    for record in outcome.corpus.records:
        if record.outcome == "quarantine" and record.reason:
            event_id = json.loads(record.payload or b"")["event_id"]
            assert record.reason in quarantined[event_id]["reason"], record.name
    assert "implausible interval" in quarantined["h-12h-d"]["reason"]
    assert quarantined["h-cap-d"]["kind"] == "ORDER_EVENT_CAP"
    assert {r["order_id"] for r in outcome.records("quarantine")} >= outcome.corpus.never_paid


def test_events_from_the_future_hostile_orders_and_implausible_work_are_never_paid(
    outcome: Outcome,
) -> None:
    paid_orders = {r["order_id"] for r in outcome.records("pay_ledger")}
    assert not paid_orders & outcome.corpus.never_paid
    assert not any(r["driver_id"] == "d-hostile" for r in outcome.records("driver_daily_pay"))


def test_odd_but_valid_ids_are_paid_on_their_own_driver_day(outcome: Outcome) -> None:
    days = outcome.latest_days()
    for order, driver in outcome.corpus.paid.items():
        [line] = [r for r in outcome.records("pay_ledger") if r["order_id"] == order]
        assert (line["driver_id"], line["amount"]) == (driver, "9.00")  # 30 min x 0.30
        assert days[(driver, "2026-11-24")]["total"] == "9.00"


def test_a_pair_resent_after_its_state_is_gone_and_after_final_is_paid_once(
    outcome: Outcome,
) -> None:
    order = json.loads(outcome.pair[0])["order_id"]
    [line] = [r for r in outcome.records("pay_ledger") if r["order_id"] == order]
    resent = [r for r in outcome.records("audit") if r["kind"] == "DUPLICATE_LINE"]
    assert Counter(r["line_id"] for r in resent)[line["line_id"]] == 2
    versions = [
        r
        for r in outcome.records("driver_daily_pay")
        if (r["driver_id"], r["pay_date"]) == (line["driver_id"], line["pay_date"])
    ]
    assert not any(r["post_final"] for r in versions), "a duplicate moved a final day"


def test_no_record_was_handled_as_an_internal_error(outcome: Outcome) -> None:
    assert [r for r in outcome.records("audit") if r["kind"] == "POISON"] == []
    assert max(Counter(r["line_id"] for r in outcome.records("pay_ledger")).values()) == 1


def faulty_decoder(value: str) -> Raw:
    """Decodes normally but fails on one marked record, like a bug hit by one input."""
    raw = decode_staged_line(value)
    if raw.payload and b"trip-the-bug" in raw.payload:
        raise RuntimeError("a bug only this record reaches")
    return raw


def test_an_unexpected_error_on_one_record_is_dead_lettered_and_the_job_goes_on(
    tmp_path: Path,
) -> None:
    os.environ.setdefault("FLINK_LOG_DIR", str(tmp_path / "log"))
    lines = [
        hostile.dump(hostile.event("a", "o-1", "d-1", "ACCEPTED", hostile.at("09:00"))),
        b'{"note": "trip-the-bug"}',
        hostile.dump(hostile.event("d", "o-1", "d-1", "DELIVERED", hostile.at("09:30"))),
    ]
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    result = run_file(
        tmp_path / "in.jsonl", tmp_path / "out", ZONES, JobSettings(), decode=faulty_decoder
    )
    [dead] = result.records["dead_letter"]
    assert dead["reason"] == "internal error: RuntimeError: a bug only this record reaches"
    assert dead["position"].startswith("parse-validate")
    assert [r["kind"] for r in result.records["audit"] if r["kind"] == "POISON"] == ["POISON"]
    assert [r["amount"] for r in result.records["pay_ledger"]] == ["9.00"]
