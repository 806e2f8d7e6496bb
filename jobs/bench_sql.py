"""The throughput baseline: the job's parse -> dedup -> aggregate shape in pure Flink SQL.

No Python function runs per record, so the whole job stays in the JVM: a JSON source (Kafka
``order-events`` on the cluster, the events file embedded), keep-first ``ROW_NUMBER()`` dedup
by ``event_id``, and a per-(driver, day) aggregate into a blackhole sink. ``driverpay.bench``
compares the real job's events/s with this one's (README, "Benchmark").

Cluster: ``flink run -py jobs/bench_sql.py`` with ``DRIVERPAY_KAFKA``, ``DRIVERPAY_GROUP_ID`` and
``DRIVERPAY_PARALLELISM``. Embedded: ``python -m jobs.bench_sql FILE [PARALLELISM]`` prints
``{"events": n, "seconds": s}`` (start-up included, like ``driverpay run``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from driverpay import topics
from jobs.settings import (
    DEFAULT_CLUSTER_PARALLELISM,
    DEFAULT_KAFKA,
    GROUP_ID_ENV,
    KAFKA_ENV,
    PARALLELISM_ENV,
)

SOURCE_TABLE = "bench_events_src"  # the Prometheus operator name starts with Source:_<this>
JOB_NAME = "driverpay-sql-baseline"
EVENT_TYPES = ("ACCEPTED", "PICKED_UP", "DELIVERED", "CANCELLED", "UNASSIGNED")
# The event's fields as the source's STRING columns (jobs.bench_floor reads the same ones).
FIELDS = ("event_id", "order_id", "driver_id", "type", "event_time", "zone")


def source_ddl(options: dict[str, str]) -> str:
    """The events as JSON columns; malformed records are skipped (the job dead-letters them)."""
    with_clause = ",\n  ".join(f"'{k}' = '{v}'" for k, v in options.items())
    columns = ", ".join(f"`{field}` STRING" for field in FIELDS)
    return f"""CREATE TEMPORARY TABLE {SOURCE_TABLE} (
  {columns}, proc AS PROCTIME()
) WITH (
  {with_clause}
)"""


def kafka_options(bootstrap: str, group_id: str) -> dict[str, str]:
    """``order-events`` from the earliest offset, read_committed like the job."""
    return {
        "connector": "kafka",
        "topic": topics.ORDER_EVENTS,
        "properties.bootstrap.servers": bootstrap,
        "properties.group.id": group_id,
        "properties.isolation.level": "read_committed",
        "scan.startup.mode": "earliest-offset",
        "format": "json",
        "json.ignore-parse-errors": "true",
    }


def file_options(path: Path) -> dict[str, str]:
    """The generated events file (JSON lines) as a bounded source."""
    return {
        "connector": "filesystem",
        "path": path.resolve().as_uri(),
        "format": "json",
        "json.ignore-parse-errors": "true",
    }


def statements(options: dict[str, str]) -> list[str]:
    """DDL and the one INSERT: parse + validate, keep-first dedup, per driver-day aggregate."""
    types = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    ts = "TO_TIMESTAMP(REPLACE(REPLACE(event_time, 'T', ' '), 'Z', ''))"
    return [
        source_ddl(options),
        """CREATE TEMPORARY TABLE bench_daily_sink (
  driver_id STRING, pay_date DATE, events BIGINT, delivered INT, last_event TIMESTAMP(3)
) WITH ('connector' = 'blackhole')""",
        f"""CREATE TEMPORARY VIEW bench_parsed AS
SELECT event_id, driver_id, `type`, {ts} AS ts, proc FROM {SOURCE_TABLE}
WHERE event_id IS NOT NULL AND order_id IS NOT NULL AND driver_id IS NOT NULL
  AND zone IS NOT NULL AND `type` IN ({types}) AND {ts} IS NOT NULL""",
        """CREATE TEMPORARY VIEW bench_first AS
SELECT event_id, driver_id, `type`, ts FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY proc ASC) AS rn FROM bench_parsed
) WHERE rn = 1""",
        """INSERT INTO bench_daily_sink
SELECT driver_id, CAST(ts AS DATE), COUNT(*),
       SUM(CASE WHEN `type` = 'DELIVERED' THEN 1 ELSE 0 END), MAX(ts)
FROM bench_first GROUP BY driver_id, CAST(ts AS DATE)""",
    ]


def run(t_env: Any, options: dict[str, str]) -> Any:
    """Create the tables and views on ``t_env`` and submit the INSERT; its TableResult."""
    *ddl, insert = statements(options)
    for statement in ddl:
        t_env.execute_sql(statement)
    return t_env.execute_sql(insert)


def cluster_environment(name: str) -> Any:
    """A table environment for ``flink run -py``: the connector jars, DRIVERPAY_PARALLELISM."""
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    from jobs.jars import CONNECTORS, ship_missing

    env = StreamExecutionEnvironment.get_execution_environment()
    ship_missing(env, CONNECTORS)
    env.set_parallelism(int(os.environ.get(PARALLELISM_ENV, DEFAULT_CLUSTER_PARALLELISM)))
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("pipeline.name", name)
    return t_env


def cluster_kafka_options(default_group: str) -> dict[str, str]:
    """``kafka_options`` from ``DRIVERPAY_KAFKA`` and ``DRIVERPAY_GROUP_ID`` (``flink run -py``)."""
    bootstrap = os.environ.get(KAFKA_ENV, DEFAULT_KAFKA)
    return kafka_options(bootstrap, os.environ.get(GROUP_ID_ENV, default_group))


def main() -> None:
    """Entry point for ``flink run -py``: submit the Kafka baseline (detached)."""
    t_env = cluster_environment(JOB_NAME)
    run(t_env, cluster_kafka_options("bench-sql"))


def embedded(path: Path, parallelism: int) -> dict[str, float]:
    """Run the baseline over ``path`` on the embedded mini-cluster with the job's settings."""
    from pyflink.table import StreamTableEnvironment

    from jobs.embedded import local_environment
    from jobs.settings import JobSettings

    events = sum(1 for _ in path.open("rb"))
    with tempfile.TemporaryDirectory(prefix="driverpay-bench-sql-") as tmp:
        started = time.monotonic()
        env = local_environment(JobSettings(parallelism=parallelism), Path(tmp))
        t_env = StreamTableEnvironment.create(env)
        result = run(t_env, file_options(path))
        result.wait()
        seconds = time.monotonic() - started
    return {"events": events, "seconds": seconds}


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(embedded(Path(sys.argv[1]), int(sys.argv[2] if len(sys.argv) > 2 else 1))))
    else:
        main()
