"""Keyless producers write in batches: a partition's stream may jump more than a day at once.

librdkafka's sticky partitioner (``kcat -P``, any client producing without keys) sends each
batch to one partition, so between two offsets a partition can go from one morning to the
next day's noon while the batches in between went to the others. To that partition's clock
the records after the jump look like outliers from the future: they are held and released
once the next one shows its stream did move there (contracts §2), so every order is paid.
Before, the first five records after each such jump were quarantined, unpaid
(found by an acceptance-style run of a three-day file produced with ``kcat -l``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from confluent_kafka import Producer

from tests.hostile import corpus as hostile
from tests.stack import stack
from tests.stack.test_deployment import pg_totals

pytestmark = pytest.mark.stack

SF = ZoneInfo("America/Los_Angeles")
FIRST_MIDNIGHT = datetime(2026, 11, 10, tzinfo=SF)  # no peak windows: an order pays 6.00
HOUR = timedelta(hours=1)
# (from, to) in hours after the first midnight, and the partition that batch went to:
# partition 0 jumps from 06:00 on the first day to 12:00 on the second, 30 hours on.
BATCHES = [((0, 6), 0), ((6, 36), 1), ((36, 42), 0), ((42, 48), 1)]
DRIVERS = 6


def _orders() -> list[tuple[str, str, datetime]]:
    """An order every 10 minutes for two local days, each delivered 20 minutes after."""
    orders = []
    for j in range(2 * 24 * 6):
        start = FIRST_MIDNIGHT + timedelta(minutes=10 * j)
        if start.hour == 23 and start.minute >= 40:
            continue  # would cross midnight: two lines instead of one
        orders.append((f"o-jump-{j:03d}", f"d-jump-{j % DRIVERS}", start))
    return orders


def _events() -> list[tuple[datetime, bytes]]:
    events = []
    for order, driver, start in _orders():
        for kind, at in (("ACCEPTED", start), ("DELIVERED", start + timedelta(minutes=20))):
            when = at.isoformat(timespec="milliseconds")
            events.append(
                (at, hostile.dump(hostile.event(f"{order}-{kind}", order, driver, kind, when)))
            )
    return sorted(events, key=lambda e: e[0])


def _produce_in_batches() -> None:
    producer = Producer({"bootstrap.servers": stack.KAFKA, "enable.idempotence": True})
    events = _events()
    for (start_h, end_h), partition in BATCHES:
        start, end = FIRST_MIDNIGHT + start_h * HOUR, FIRST_MIDNIGHT + end_h * HOUR
        for at, value in events:
            if start <= at < end:
                producer.produce("order-events", value=value, partition=partition)
        producer.flush(30)


def _expected() -> dict[tuple[str, str], tuple[Decimal, int]]:
    count = Counter((driver, start.date().isoformat()) for _, driver, start in _orders())
    return {key: (Decimal("6.00") * n, n) for key, n in count.items()}


def test_every_order_is_paid_when_a_partition_jumps_a_day_between_two_batches(
    real_stack: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIVERPAY_ZONES", str(stack.ROOT / "config" / "zones.yaml"))
    stack.fresh_start("driverpay-test-jump")
    _produce_in_batches()
    expected = _expected()
    stack.wait_for(lambda: pg_totals() == expected, 240, "every order paid", every=3)

    quarantined = stack.committed_records("order-events-quarantine", at_least=1)
    held = {r["event_id"] for r in quarantined if r["kind"] == "AHEAD_OF_STREAM" and r["held"]}
    assert held, "the jump was not seen as one: this test no longer tests anything"
    assert {r["event_id"] for r in quarantined} == held
    audit = stack.committed_records("order-events-audit", at_least=len(held))
    released = [r for r in audit if r["kind"] == "RELEASED_AHEAD"]
    assert {r["event_id"] for r in released} == held
    assert all(r["position"].startswith("order-events/0@") for r in released)
