"""The production job: Kafka in, exactly-once Kafka out, PostgreSQL upserts for the read path.

Submitted with ``flink run -py jobs/kafka_job.py`` (``make submit``); the graph is the same
``build_pipeline`` the embedded run and the tests use, with these sources and sinks.
"""

from __future__ import annotations

import os
from dataclasses import replace

from confluent_kafka.admin import AdminClient
from pyflink.common.serialization import SimpleStringSchema
from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, TableDescriptor

from driverpay import topics
from driverpay.paths import ROOT
from jobs.archive import archive
from jobs.codec import DAILY_COLUMNS, LEDGER_COLUMNS
from jobs.compat import first_field
from jobs.endpoints import Endpoints
from jobs.faults import pricing_zones
from jobs.functions import KafkaRowDecoder
from jobs.jars import ARCHIVE, CONNECTORS, ship_missing
from jobs.pg_schema import insert_sql, read_migrations, sink_columns
from jobs.pipeline import build_pipeline
from jobs.settings import (
    ARCHIVE_ENV,
    DEFAULT_ARCHIVE,
    DEFAULT_CLUSTER_PARALLELISM,
    DEFAULT_ZONES,
    JOB_NAME,
    MAX_PARALLELISM,
    PARALLELISM_ENV,
    ZONES_ENV,
    JobSettings,
)
from udfs.zones import load_zones

INPUT_TOPIC = topics.ORDER_EVENTS
CORRECTIONS_TOPIC = topics.PAY_CORRECTIONS
ZONES_TOPIC = topics.ZONES
TOPICS = {
    "ledger": topics.PAY_LEDGER,
    "daily": topics.DRIVER_DAILY_PAY,
    "dead_letter": topics.DEAD_LETTER,
    "quarantine": topics.QUARANTINE,
    "audit": topics.AUDIT,
}
# Kafka transactions stay open until the checkpoint that covers them completes; 10 min is far
# above the 10 s checkpoint interval and below the broker's transaction.max.timeout.ms (15 min).
TRANSACTION_TIMEOUT_MS = "600000"
# The sinks' producers. Every output is read read_committed, so a record is visible only when
# the checkpoint that covers it commits; the sink flushes its producer at that checkpoint. A
# producer may therefore wait up to 1 s to fill a batch at no cost in latency: at the default
# 5 ms it sent a request per few records, and Kafka took 11-13 % of a core; at 1 s, 2.5-3 %,
# and the job at p=2 ran 20-30 % faster (docs/design.md, "Throughput"). A 512 KiB batch per
# partition stays under the producer's max.request.size and the broker's message.max.bytes.
PRODUCER_PROPERTIES = {
    "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
    "linger.ms": "1000",
    "batch.size": str(512 * 1024),
}
# Views over the daily stage's (JSON, typed row) outputs; the JDBC sinks read field f1.
LEDGER_VIEW, DAILY_VIEW = "ledger_rows", "daily_rows"
PG_SINKS = (
    ("pg_pay_lines", "pay_lines", LEDGER_COLUMNS, LEDGER_VIEW),
    ("pg_driver_daily_pay", "driver_daily_pay", DAILY_COLUMNS, DAILY_VIEW),
)


class KafkaPostgresSinks:
    """Exactly-once Kafka topics for every output, plus idempotent PostgreSQL upserts."""

    def __init__(self, t_env: StreamTableEnvironment, endpoints: Endpoints) -> None:
        self.t_env = t_env
        self.endpoints = endpoints

    def _kafka(self, name: str, stream: DataStream) -> None:
        serializer = (
            KafkaRecordSerializationSchema.builder()
            .set_topic(TOPICS[name])
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        sink = (
            KafkaSink.builder()
            .set_bootstrap_servers(self.endpoints.kafka)
            .set_record_serializer(serializer)
            .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .set_transactional_id_prefix(f"driverpay-{name}")
        )
        for key, value in PRODUCER_PROPERTIES.items():
            sink = sink.set_property(key, value)
        stream.sink_to(sink.build()).name(f"kafka-{TOPICS[name]}").uid(f"kafka-{TOPICS[name]}")

    def ledger(self, stream: DataStream) -> None:
        self._kafka("ledger", first_field(stream, Types.STRING()))
        self.t_env.create_temporary_view(LEDGER_VIEW, self.t_env.from_data_stream(stream))

    def daily(self, stream: DataStream) -> None:
        self._kafka("daily", first_field(stream, Types.STRING()))
        self.t_env.create_temporary_view(DAILY_VIEW, self.t_env.from_data_stream(stream))

    def dead_letter(self, stream: DataStream) -> None:
        self._kafka("dead_letter", stream)

    def quarantine(self, stream: DataStream) -> None:
        self._kafka("quarantine", stream)

    def audit(self, stream: DataStream) -> None:
        self._kafka("audit", stream)

    def retired(self, stream: DataStream) -> None:
        """State clean-up is visible in the ``open_orders`` metric; no topic needed."""


def source(t_env: StreamTableEnvironment, endpoints: Endpoints) -> DataStream:
    """``order-events`` as raw bytes with partition and offset; a new group starts earliest.

    Event time and watermarks are not computed here: the parser validates each record once and
    its per-partition stream clock stamps the admitted ones (jobs/pipeline.py), so there is one
    copy of the contract and a record from the future cannot move a partition's watermark.
    """
    return _raw_topic(t_env, endpoints, INPUT_TOPIC, "order_events_src")


def corrections_source(t_env: StreamTableEnvironment, endpoints: Endpoints) -> DataStream:
    """``pay-corrections`` as raw bytes; its watermark can never move event time.

    A union input holds the daily stage's watermark back unless it has one: this input's is a
    constant (epoch 0) and it goes idle after 1 s without records, so it is ignored, and when a
    correction arrives its watermark is behind the others and Flink leaves it out of the minimum.
    """
    extra = (("ts", "TO_TIMESTAMP_LTZ(0, 3)"),)
    return _raw_topic(t_env, endpoints, CORRECTIONS_TOPIC, "pay_corrections_src", extra)


def zones_source(t_env: StreamTableEnvironment, endpoints: Endpoints) -> DataStream:
    """``zones`` from its earliest offset, every time: the job must know every version.

    Broadcast to the lifecycle stage, whose watermark is the minimum of its inputs: like the
    corrections input, this one has a constant watermark (epoch 0) and goes idle after 1 s, so
    it holds event time back for about a second when a version arrives, never longer.
    """
    extra = (("ts", "TO_TIMESTAMP_LTZ(0, 3)"),)
    return _raw_topic(t_env, endpoints, ZONES_TOPIC, "zones_src", extra, "earliest-offset")


def _raw_topic(
    t_env: StreamTableEnvironment,
    endpoints: Endpoints,
    topic: str,
    table: str,
    watermark: tuple[tuple[str, str], ...] = (),
    startup: str = "group-offsets",
) -> DataStream:
    schema = (
        Schema.new_builder()
        .column("payload", DataTypes.BYTES())
        .column_by_metadata("kafka_partition", DataTypes.INT(), "partition", True)
        .column_by_metadata("kafka_offset", DataTypes.BIGINT(), "offset", True)
    )
    for column, expression in watermark:
        schema = schema.column_by_expression(column, expression).watermark(column, column)
    descriptor = (
        TableDescriptor.for_connector("kafka")
        .schema(schema.build())
        .format("raw")
        .option("topic", topic)
        .option("properties.bootstrap.servers", endpoints.kafka)
        .option("properties.group.id", endpoints.group_id)
        .option("properties.isolation.level", "read_committed")
        .option("properties.auto.offset.reset", "earliest")
        .option("scan.startup.mode", startup)
    )
    if watermark:
        descriptor = descriptor.option("scan.watermark.idle-timeout", "1 s")
    t_env.create_temporary_table(table, descriptor.build())
    return t_env.to_data_stream(t_env.from_path(table))


def java_string_hash(text: str) -> int:
    """``String.hashCode`` of Java (UTF-16 code units, 32-bit overflow)."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i : i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def split_owner(topic: str, partition: int, parallelism: int) -> int:
    """The source subtask that reads ``topic/partition``.

    Mirrors ``KafkaSourceEnumerator.getSplitOwner`` of flink-connector-kafka 5.0.0-2.2 (read
    from its bytecode): if a later connector changes the rule, a declared partition that never
    arrives merely holds the watermark back for the split idle timeout.
    """
    start = ((java_string_hash(topic) * 31) & 0x7FFFFFFF) % parallelism
    return (start + partition) % parallelism


def owned_partitions(bootstrap: str, parallelism: int) -> dict[int, tuple[str, ...]]:
    """``order-events`` partitions per parser subtask (the parser is chained to the source)."""
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(INPUT_TOPIC, timeout=30)
    count = len(topics.topics[INPUT_TOPIC].partitions)
    owned: dict[int, list[str]] = {}
    for partition in range(count):
        subtask = split_owner(INPUT_TOPIC, partition, parallelism)
        owned.setdefault(subtask, []).append(f"{INPUT_TOPIC}/{partition}")
    return {subtask: tuple(names) for subtask, names in owned.items()}


def register_pg_tables(t_env: StreamTableEnvironment, endpoints: Endpoints) -> None:
    """JDBC upsert tables with the columns sql/migrations define (primary keys: idempotent writes).

    Derived by jobs/pg_schema.py, not declared again here: a migration's new column is a new
    field of the daily stage's typed row and a new column here (tests/unit/test_pg_schema.py).
    """
    tables = read_migrations()
    for name, table, _, _ in PG_SINKS:
        key = tables[table].primary_key
        schema = Schema.new_builder()
        for column, dtype in sink_columns(tables[table]):
            schema = schema.column(column, dtype)
        descriptor = TableDescriptor.for_connector("jdbc").schema(schema.primary_key(*key).build())
        for option, value in {**endpoints.jdbc(), "table-name": table}.items():
            descriptor = descriptor.option(option, value)
        descriptor = descriptor.option("sink.buffer-flush.interval", "1s")
        t_env.create_temporary_table(name, descriptor.build())


def pg_inserts() -> list[str]:
    """One INSERT per JDBC sink: the typed row's fields, cast to the columns' types in SQL."""
    return [insert_sql(sink, columns, view, "f1") for sink, _, columns, view in PG_SINKS]


def build(env: StreamExecutionEnvironment, endpoints: Endpoints, settings: JobSettings) -> None:
    """Wire source, pipeline and sinks onto ``env`` (the caller executes it)."""
    t_env = StreamTableEnvironment.create(env)
    # Keep each key's upserts on one sink subtask, in order, so versions never race.
    t_env.get_config().set("table.exec.sink.keyed-shuffle", "FORCE")
    t_env.get_config().set("table.local-time-zone", "UTC")
    # Stable uids for the SQL side too (Kafka sources' offsets, sink materializers, the archive's
    # file sink): without them their state is keyed by a hash of the graph, which changes with
    # parallelism, and a savepoint taken at 2 could not be resumed at 4 (docs/design.md).
    t_env.get_config().set("table.exec.uid.generation", "ALWAYS")
    zones = load_zones(os.environ.get(ZONES_ENV, str(ROOT / DEFAULT_ZONES)))
    sinks = KafkaPostgresSinks(t_env, endpoints)
    raw = source(t_env, endpoints)
    owned = owned_partitions(endpoints.kafka, settings.parallelism)
    fixes = (corrections_source(t_env, endpoints), KafkaRowDecoder(CORRECTIONS_TOPIC))
    priced = pricing_zones(zones)  # the zones themselves, unless a test injects a pay bug
    versions = (zones_source(t_env, endpoints), KafkaRowDecoder(ZONES_TOPIC))
    events = build_pipeline(
        raw,
        KafkaRowDecoder(INPUT_TOPIC),
        priced,
        replace(settings, retired_evidence=False),  # no retired output on the cluster
        sinks,
        owned,
        corrections=fixes,
        versions=versions,
    )
    register_pg_tables(t_env, endpoints)
    statements = t_env.create_statement_set()
    for statement in pg_inserts():
        statements.add_insert_sql(statement)
    archive(events, archive_path(), t_env, statements)
    statements.attach_as_datastream()


def archive_path() -> str:
    """``DRIVERPAY_ARCHIVE``: a folder or any Flink file-system URI (default .run/archive)."""
    return os.environ.get(ARCHIVE_ENV) or (ROOT / DEFAULT_ARCHIVE).as_uri()


def main() -> None:
    """Entry point for ``flink run -py``."""
    env = StreamExecutionEnvironment.get_execution_environment()
    # Kafka, JDBC and the archive's Parquet writer: from the cluster's lib/, or shipped.
    ship_missing(env, CONNECTORS, ARCHIVE)
    settings = JobSettings(
        parallelism=int(os.environ.get(PARALLELISM_ENV, DEFAULT_CLUSTER_PARALLELISM))
    )
    env.set_parallelism(settings.parallelism)
    env.set_max_parallelism(MAX_PARALLELISM)
    build(env, Endpoints.from_env(), settings)
    env.execute(JOB_NAME)


if __name__ == "__main__":
    main()
