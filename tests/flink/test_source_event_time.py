"""The Kafka source's watermark column, evaluated by Flink SQL itself.

Only records that pass the contract's cheap checks may move a partition's watermark: a malformed
record stamped hours ahead would otherwise make every valid event look late.
"""

from __future__ import annotations

import json

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from jobs.kafka_job import source_event_time

pytestmark = pytest.mark.flink

VALID = {"event_id": "e-1", "order_id": "o-1", "driver_id": "d-1", "type": "ACCEPTED",
         "event_time": "2026-11-24T17:05:03.120Z", "zone": "sf"}  # fmt: skip
AT_17_05_03 = 1_795_539_903_000


def event(**changes: object) -> str:
    return json.dumps({k: v for k, v in {**VALID, **changes}.items() if v is not None})


@pytest.fixture(scope="module")
def watermark_ms() -> object:
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.get_config().set("table.local-time-zone", "UTC")
    expression = source_event_time(["sf", "nyc"])

    def evaluate(payloads: list[str]) -> list[int]:
        rows = ", ".join("(CAST(" + "'" + p.replace("'", "''") + "' AS BYTES))" for p in payloads)
        query = (f"SELECT UNIX_TIMESTAMP(CAST({expression} AS STRING)) * 1000 "
                 f"FROM (VALUES {rows}) AS t(payload)")  # fmt: skip
        with env.execute_sql(query).collect() as results:
            return [row[0] for row in results]

    return evaluate


def test_a_valid_event_gives_its_event_time_to_the_second(watermark_ms) -> None:
    assert watermark_ms([event()]) == [AT_17_05_03]


def test_the_offset_of_the_timestamp_is_honoured(watermark_ms) -> None:
    assert watermark_ms([event(event_time="2026-11-24T09:05:03-08:00")]) == [AT_17_05_03]


@pytest.mark.parametrize("changes", [
    {"order_id": 12345}, {"zone": "atlantis"}, {"type": "TELEPORTED"}, {"driver_id": None},
    {"event_id": "x" * 129}, {"schema_version": 2}, {"schema_version": "1"},
    {"event_time": "yesterday"}, {"padding": "p" * 70_000},
], ids=str)  # fmt: skip
def test_a_malformed_record_never_moves_the_watermark(watermark_ms, changes) -> None:
    assert watermark_ms([event(**changes)]) == [0]


def test_records_that_are_not_json_objects_never_move_the_watermark(watermark_ms) -> None:
    assert watermark_ms(["not json", "[1, 2]", ""]) == [0, 0, 0]
