"""The ``zones`` topic: publish a version, read every version (docs/contracts.md §3, §4).

One record per version, keyed by its version hash, on a compacted topic: publishing the same
version again is a no-op for every reader, and the topic is the set of versions the job, a
recompute and a reconcile all price with.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from driverpay import topics
from udfs.zones import Zones, ZonesError, parse_zones
from udfs.zones_history import ZonesHistory, parse_version_record, version_record, with_effective


def prepare(document: bytes, effective_ms: int | None, known: Iterable[Zones]) -> Zones:
    """Validate a document as the next version: it must fit the versions already known.

    Refused (``ZonesError`` naming the field): an invalid document; ``--effective`` on a
    document that has one; a change of an existing zone's timezone or currency; an effective
    time already used by another version (the history would break the tie by hash, which is
    deterministic but never what an operator meant).
    """
    if effective_ms is not None:
        document = with_effective(document, effective_ms)
    zones = parse_zones(document, source="document")
    known = list(known)
    if any(v.version == zones.version for v in known):
        return zones  # republishing: idempotent
    if known:
        history_from_topic(known).plus(zones)  # raises ZonesConflictError naming the field
    return zones


def history_from_topic(versions: list[Zones]) -> ZonesHistory:
    """The topic's versions in topic order, each refused one skipped (as the job does)."""
    history = ZonesHistory(versions[:1])
    for zones in versions[1:]:
        try:
            history = history.plus(zones)
        except ZonesError:
            continue
    return history


def publish(zones: Zones, bootstrap: str, timeout_s: float = 30) -> None:
    """Send one version to ``zones`` (idempotent producer, acks=all), keyed by its hash."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": int(timeout_s * 1000),
        }
    )
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    producer.produce(
        topics.ZONES, key=zones.version, value=version_record(zones), on_delivery=delivered
    )
    remaining = producer.flush(timeout_s)
    if remaining or errors:
        raise RuntimeError(f"{topics.ZONES}: version {zones.version} not delivered: {errors[:1]}")


def read_records(bootstrap: str, timeout_s: float = 30) -> list[bytes]:
    """Every record value on ``zones``, from the beginning to the current end.

    A broker is asked first (``check_reachable``, its log off): an unreachable Kafka is then one
    ``KafkaException`` within 10 s, not the consumer's ``timeout_s`` of librdkafka log lines.
    """
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from driverpay.produce import check_reachable

    check_reachable(bootstrap)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"driverpay-zones-reader-{time.time_ns()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        metadata = consumer.list_topics(topics.ZONES, timeout=timeout_s).topics[topics.ZONES]
        if metadata.error is not None:
            raise KafkaException(metadata.error)
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topics.ZONES, p), timeout=timeout_s)
            for p in metadata.partitions
        }
        consumer.assign([TopicPartition(topics.ZONES, p, low) for p, (low, _) in ends.items()])
        pending = {p for p, (low, high) in ends.items() if high > low}
        values: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=1):
                if message.error():
                    raise KafkaException(message.error())
                if message.value() is not None:  # a tombstone deletes nothing we rely on
                    values.append(message.value())
                if message.offset() >= ends[message.partition()][1] - 1:
                    pending.discard(message.partition())
        if pending:
            raise TimeoutError(f"{topics.ZONES}: not read to its end within {timeout_s:.0f} s")
        return values
    finally:
        consumer.close()


def read_versions(bootstrap: str, timeout_s: float = 30) -> list[Zones]:
    """The versions on ``zones``; a record that is no valid version is skipped (as in the job)."""
    versions = []
    for value in read_records(bootstrap, timeout_s):
        try:
            versions.append(parse_version_record(value))
        except ZonesError:
            continue
    return versions
