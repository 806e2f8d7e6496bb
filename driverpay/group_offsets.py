"""A consumer group's committed offsets, asked so that a broker just started cannot break it.

Asked through a consumer that never joins the group (``Consumer.committed``): librdkafka's admin
call for the same answer (``AdminClient.list_consumer_group_offsets``, confluent-kafka 2.12.2)
crashed the process with SIGSEGV on a broker whose group coordinator did not exist yet, the
state of every freshly formatted broker until a first group uses it. The consumer's call raises
``NOT_COORDINATOR`` instead, for well under a second; that and the other coordinator-moving
errors are retried (tenacity), anything else is raised.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

_COORDINATOR_MOVING = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    }
)


def _coordinator_moving(exc: BaseException) -> bool:
    if not isinstance(exc, KafkaException) or not exc.args:
        return False
    error = exc.args[0]
    return isinstance(error, KafkaError) and error.code() in _COORDINATOR_MOVING


def committed_offsets(
    kafka: str, group: str, topics: Iterable[str], timeout_s: float = 10.0
) -> dict[tuple[str, int], int | None]:
    """Per partition of each existing topic in ``topics``: the group's offset, or None.

    Raises ``KafkaException`` when Kafka cannot answer (unreachable, or its coordinator still
    moving after ``3 × timeout_s``).
    """
    consumer = Consumer(
        {"bootstrap.servers": kafka, "group.id": group, "enable.auto.commit": False, "log_level": 0}
    )
    try:
        found = consumer.list_topics(timeout=timeout_s).topics
        parts = [TopicPartition(t, p) for t in topics if t in found for p in found[t].partitions]
        if not parts:
            return {}
        retrying = Retrying(
            stop=stop_after_delay(3 * timeout_s),
            wait=wait_exponential(multiplier=0.2, max=2),
            retry=retry_if_exception(_coordinator_moving),
            reraise=True,
        )
        answer = retrying(consumer.committed, parts, timeout=timeout_s)
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else None for tp in answer}
