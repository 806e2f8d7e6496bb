"""The hostile corpus inside an honest day, through Kafka, on the real stack.

Zero job restarts; every honest driver-day in PostgreSQL equals the truth to the cent; every
hostile record is in the committed dead-letter or quarantine topic with its reason; a re-sent
pair is paid once; and nothing went through the internal-error path.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from driverpay.produce import produce
from driverpay.topics import PAY_CORRECTIONS, ZONES
from tests.hostile import corpus as hostile
from tests.stack import stack
from udfs.money import from_minor

pytestmark = pytest.mark.stack
TIMEOUT_S = 300


class Run:
    """The day and corpus produced into ``order-events`` and the job that read them."""

    def __init__(self, work: Path) -> None:
        rng = random.Random(4242)
        self.day = stack.generated_day(work, seed=13, orders=1200, drivers=60)
        self.corpus = hostile.build(rng)
        self.pair = hostile.resent_pair(self.day.lines)
        lines = hostile.mix(self.day.lines, self.corpus, rng, kafka=True)
        lines += self.pair + hostile.fillers(500, "2026-11-25", "02:00") + self.pair
        self.job_id = stack.fresh_start("driverpay-hostile")
        self.zones_records = hostile.zones_versions()
        produce_keyed(ZONES, [h.payload for h in self.zones_records])
        produce(lines, stack.KAFKA)
        self.corrections = hostile.corrections()
        produce([h.payload for h in self.corrections], stack.KAFKA, topic=PAY_CORRECTIONS)


def produce_keyed(topic: str, values: list[bytes | None]) -> None:
    """One record per value, each with its own key: a compacted topic refuses keyless ones."""
    producer = Producer({"bootstrap.servers": stack.KAFKA, "enable.idempotence": True})
    failed: list[str] = []
    for n, value in enumerate(values):
        producer.produce(
            topic, value, key=f"hostile-{n}", on_delivery=lambda e, _: e and failed.append(str(e))
        )
    assert producer.flush(30) == 0
    assert failed == []


def pg_days() -> dict[tuple[str, str], tuple[Decimal, int, bool]]:
    with psycopg.connect(stack.PG_DSN) as conn:
        rows = conn.execute(
            "SELECT driver_id, pay_date::text, total_cents, currency, line_count, final "
            "FROM driver_daily_pay"
        ).fetchall()
    return {(d, day): (from_minor(c, cur), n, final) for d, day, c, cur, n, final in rows}


@pytest.fixture(scope="module")
def run(real_stack: None, tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = Run(tmp_path_factory.mktemp("hostile-stack"))
    # The fillers move event time past 2026-11-24's finalization, not the 25th's.
    expected = {k: (t, n, k[1] == hostile.DAY) for k, (t, n) in run.day.expected.items()}

    def settled() -> bool:
        days = pg_days()
        return all(days.get(key) == value for key, value in expected.items())

    stack.wait_for(settled, TIMEOUT_S, "every honest driver-day final and equal to truth", 3)
    return run


def committed(topic: str) -> list[dict[str, Any]]:
    return [json.loads(v) for v in stack.read_topic(topic)]


def test_the_job_never_restarted(run: Run) -> None:
    assert stack.flink(f"/jobs/{run.job_id}")["state"] == "RUNNING"
    [metric] = stack.wait_for(  # the REST metric store fills a few seconds after start
        lambda: stack.flink(f"/jobs/{run.job_id}/metrics?get=numRestarts"), 60, "numRestarts"
    )
    assert int(float(metric["value"])) == 0
    assert stack.flink(f"/jobs/{run.job_id}/exceptions")["exceptionHistory"]["entries"] == []


def test_every_honest_driver_day_in_postgres_equals_the_truth(run: Run) -> None:
    days = pg_days()
    for key, (total, count) in run.day.expected.items():
        assert days[key] == (total, count, key[1] == hostile.DAY), key


def missing_dead_letters(run: Run) -> list[str]:
    """Hostile records not (yet) committed to the dead-letter topic with their reason."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for record in committed("order-events-dlq"):
        by_id.setdefault(hostile.dead_letter_id(record), []).append(record)
    missing = [
        h.name
        for h in run.corpus.records
        if h.outcome == "dead_letter"
        and not any(
            h.reason in r["reason"] and r["position"].startswith("order-events/")
            for r in by_id.get(hostile.payload_id(h.payload), [])
        )
    ]
    if len(by_id.get(hostile.payload_id(b""), [])) < 2:  # the empty record and the null value
        missing.append("empty record and null value, separately")
    return missing


def missing_quarantine(run: Run) -> list[str]:
    """Hostile events not (yet) committed to the quarantine topic with their reason."""
    quarantined = {r["event_id"]: r for r in committed("order-events-quarantine")}
    missing = []
    for record in run.corpus.records:
        if record.outcome == "quarantine" and record.reason:
            event_id = json.loads(record.payload or b"")["event_id"]
            if record.reason not in quarantined.get(event_id, {}).get("reason", ""):
                missing.append(record.name)
    return missing


def test_each_malformed_record_is_in_the_dead_letter_topic_with_its_reason(run: Run) -> None:
    # Kafka outputs commit with checkpoints: poll until each record is there, then say which not.
    deadline = time.monotonic() + 90
    while (missing := missing_dead_letters(run)) and time.monotonic() < deadline:
        time.sleep(3)
    assert missing == []


def dead_letters_from(topic: str, count: int) -> dict[str, str]:
    """The dead letters of records read from ``topic``, by payload, once ``count`` are in."""

    def all_there() -> list[dict[str, Any]] | None:
        found = [r for r in committed("order-events-dlq") if r["position"].startswith(f"{topic}/")]
        return found if len(found) >= count else None

    dead = stack.wait_for(all_there, 90, f"{count} dead letters from {topic}", 3)
    assert len(dead) == count  # none twice, e.g. from each subtask reading a broadcast
    return {hostile.dead_letter_id(r): r["reason"] for r in dead}


def test_each_record_on_the_zones_topic_that_is_no_version_is_dead_lettered_once(
    run: Run,
) -> None:
    reasons = dead_letters_from(ZONES, len(run.zones_records))
    for record in run.zones_records:
        assert record.reason in reasons[hostile.payload_id(record.payload)], (record.name, reasons)


def test_each_correction_no_sink_could_store_is_dead_lettered_not_applied(run: Run) -> None:
    reasons = dead_letters_from(PAY_CORRECTIONS, len(run.corrections))
    for record in run.corrections:
        assert record.reason in reasons[hostile.payload_id(record.payload)], (record.name, reasons)


def test_each_hostile_event_is_in_the_quarantine_topic_and_never_paid(run: Run) -> None:
    deadline = time.monotonic() + 90
    while (missing := missing_quarantine(run)) and time.monotonic() < deadline:
        time.sleep(3)
    assert missing == []
    ledger = committed("pay-ledger")
    assert not {r["order_id"] for r in ledger} & run.corpus.never_paid
    with psycopg.connect(stack.PG_DSN) as conn:
        rows = conn.execute("SELECT count(*) FROM pay_lines WHERE driver_id = 'd-hostile'")
        assert rows.fetchone() == (0,)


def test_the_resent_pair_is_paid_exactly_once_and_nothing_was_poison(run: Run) -> None:
    order = json.loads(run.pair[0])["order_id"]
    deadline = time.monotonic() + 60
    while True:  # the audit topic commits with the next checkpoint
        audit = committed("order-events-audit")
        refused = [r for r in audit if r.get("order_id") == order and "DUPLICATE" in r["kind"]]
        if refused or time.monotonic() > deadline:
            break
        time.sleep(2)
    ledger = [r for r in committed("pay-ledger") if r["order_id"] == order]
    assert [r["kind"] for r in ledger] == ["LINE"]
    assert Counter(r["kind"] for r in audit)["POISON"] == 0
    assert refused, "the re-sent pair left no DUPLICATE or DUPLICATE_LINE audit record"
