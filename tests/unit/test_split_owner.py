"""Which parser subtask reads which Kafka partition: the connector's own rule, in Python."""

from __future__ import annotations

from jobs.kafka_job import java_string_hash, split_owner


def test_the_topic_hash_is_javas_string_hash_code() -> None:
    assert java_string_hash("order-events") == -782987144  # "order-events".hashCode() on a JVM
    assert java_string_hash("") == 0
    assert java_string_hash("é") == 233


def test_partitions_go_round_robin_from_the_topics_start_index() -> None:
    assert [split_owner("order-events", p, 2) for p in range(4)] == [0, 1, 0, 1]
    assert sorted(split_owner("order-events", p, 3) for p in range(3)) == [0, 1, 2]
