"""Which Kafka errors mean "the group coordinator is still moving": retried, not reported."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from driverpay.group_offsets import _coordinator_moving


def test_a_broker_without_its_coordinator_yet_is_asked_again() -> None:
    """A freshly formatted broker answers NOT_COORDINATOR for well under a second."""
    for code in (
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    ):
        assert _coordinator_moving(KafkaException(KafkaError(code)))


def test_an_unreachable_broker_or_another_error_is_reported_at_once() -> None:
    assert not _coordinator_moving(KafkaException(KafkaError(KafkaError._TRANSPORT)))
    assert not _coordinator_moving(
        KafkaException(KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED))
    )
    assert not _coordinator_moving(ValueError("not Kafka"))
