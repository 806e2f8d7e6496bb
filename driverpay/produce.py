"""``driverpay produce``: send an events file into ``order-events``, keyed by ``order_id``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from confluent_kafka import KafkaException, Producer

from driverpay import topics

TOPIC = topics.ORDER_EVENTS


def order_key(line: bytes | None) -> bytes | None:
    """Partition by ``order_id`` so an order's events stay in order; malformed lines get none."""
    if not line:
        return None  # an empty or null record value: malformed, but still sent as it is
    try:
        doc = json.loads(line)
    except (ValueError, RecursionError):
        return None
    order_id = doc.get("order_id") if isinstance(doc, dict) else None
    return order_id.encode() if isinstance(order_id, str) else None


REACH_TIMEOUT_S = 10.0  # a broker that has not answered by then is taken as unreachable


def check_reachable(bootstrap: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Raise ``KafkaException`` unless a broker at ``bootstrap`` answers within ``timeout_s``.

    Asked before sending: the producer itself would queue every record and only tell, as
    undelivered records, when its final flush gives up a minute later. The probe's own log
    is off (``log_level`` 0): its exception says the same thing in one line.
    """
    probe = Producer({"bootstrap.servers": bootstrap, "log_level": 0})
    probe.list_topics(timeout=timeout_s)


def produce(
    lines: Iterable[bytes | None],
    bootstrap: str,
    topic: str = TOPIC,
    rate: float = 0.0,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Send every line as one record (idempotent producer, acks=all); returns the count.

    ``rate`` > 0 caps records per second, for replaying a day at a realistic pace.
    """
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
        }
    )
    errors: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    sent, started = 0, time.monotonic()
    for line in lines:
        while True:
            try:
                producer.produce(topic, value=line, key=order_key(line), on_delivery=delivered)
                break
            except BufferError:  # local queue full: let deliveries drain (backpressure)
                producer.poll(0.1)
        sent += 1
        producer.poll(0)
        if sent % 1000 == 0:
            progress(1000)
        if rate > 0:
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    progress(sent % 1000)
    if producer.flush(60) or errors:
        raise KafkaException(f"{len(errors)} records not delivered: {errors[:3]}")
    return sent


def read_lines(path: Path) -> list[bytes]:
    """The file's records, newline stripped (empty lines are records too: malformed ones)."""
    return [line.rstrip(b"\n") for line in path.open("rb")]
