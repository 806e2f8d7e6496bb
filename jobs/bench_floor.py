"""The floor of per-event Python in thread mode: the job's stages with no work inside them.

What does a Python stage cost before it does anything? Each shape here reads the events file
with the SQL baseline's JSON source (parsed in the JVM) and runs Python stages that only move
records and touch state, on the embedded mini-cluster with the job's settings (thread mode,
RocksDB, checkpoints):

- ``map``: one Python map per event, no state. No shape with a Python stage per event can be
  faster;
- ``sql-lifecycle``: the shape the issue prescribes: keep-first dedup by ``event_id`` in SQL,
  keyed by order in the JVM, then one keyed Python stage (the lifecycle) with one state read
  and write per event, and nothing after it (the daily stage in SQL costs no Python);
- ``sql-lifecycle-daily``: the same with the daily stage kept in Python: a second keyed stage
  with its own state for each closing event. The issue leaves the daily stage to Python or
  SQL, "measure": this is the Python half of that measurement;
- ``job-shape``: the job's shape: a Python map per event (the parser), a keyed stage with one
  state read and write per event (the lifecycle) and a second keyed stage with its own state
  for each closing event (about one in three, like the pay lines into the daily stage).

``driverpay.bench`` reports their events/s next to the job's and the baseline's (README,
"Benchmark"): the job cannot be faster than its own shape doing nothing.
``python -m jobs.bench_floor FILE SHAPE`` prints ``{"events": n, "seconds": s}``. On the
cluster, ``flink run -py jobs/bench_floor.py`` with ``DRIVERPAY_FLOOR_SHAPE`` (and the baseline's
``DRIVERPAY_KAFKA``, ``DRIVERPAY_GROUP_ID``, ``DRIVERPAY_PARALLELISM``) runs the shape over the
``order-events`` topic: what the Kafka job could reach at that parallelism with no work at all.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import DataStream, KeyedProcessFunction, RuntimeContext
from pyflink.datastream.functions import MapFunction
from pyflink.datastream.state import ValueStateDescriptor

from jobs.bench_sql import (
    FIELDS,
    SOURCE_TABLE,
    cluster_environment,
    cluster_kafka_options,
    file_options,
    source_ddl,
)
from jobs.compat import checked_state, key_by_first_field

SHAPES = ("map", "sql-lifecycle", "sql-lifecycle-daily", "job-shape")
JOB_NAME = "driverpay-floor"  # the cluster job is called "driverpay-floor-<shape>"
EVENT = Types.ROW_NAMED(list(FIELDS), [Types.STRING()] * len(FIELDS))
KEYED = Types.ROW([Types.STRING(), EVENT])
CLOSING = ("DELIVERED", "CANCELLED")


class KeyByOrder(MapFunction):  # type: ignore[misc]
    """The parser's place in the job: one Python call per event, emitting ``Row(key, event)``."""

    def __init__(self, keyed: bool) -> None:
        self.keyed = keyed

    def map(self, value: Row) -> Row:
        """The record, or ``Row(order_id, record)`` for the keyed stage."""
        return Row(value[1], value) if self.keyed else value


class TouchState(KeyedProcessFunction):  # type: ignore[misc]
    """Read the key's value, write the record back, pass it on (re-keyed when ``rekey``)."""

    def __init__(self, rekey: bool) -> None:
        self.rekey = rekey

    def open(self, runtime_context: RuntimeContext) -> None:
        """One ``STRING`` value per key, like the lifecycle's order (jobs.codec)."""
        self.state = runtime_context.get_state(
            checked_state(ValueStateDescriptor("last", Types.STRING()))
        )

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        """One state read and one write, then the record (re-keyed: closing events only)."""
        self.state.value()
        self.state.update(value[0])
        if not self.rekey:
            yield value
        elif value[3] in CLOSING:
            yield Row(value[2], value)


def shape_stream(t_env: Any, source: dict[str, str], shape: str) -> DataStream:
    """The events of ``source`` (table options) after the Python stages of ``shape``."""
    t_env.execute_sql(source_ddl(source))
    columns = ", ".join(f"`{f}`" for f in FIELDS)
    if shape.startswith("sql-lifecycle"):  # typed rows for the JVM's key selector (see above)
        first = t_env.sql_query(
            f"SELECT order_id, ROW({columns}) FROM (SELECT *, ROW_NUMBER() OVER "
            f"(PARTITION BY event_id ORDER BY proc ASC) AS rn FROM {SOURCE_TABLE} "
            "WHERE order_id IS NOT NULL AND event_id IS NOT NULL) WHERE rn = 1"
        )
        keyed = key_by_first_field(t_env.to_append_stream(first, KEYED), Types.STRING())
        if shape == "sql-lifecycle":
            return keyed.process(TouchState(False), EVENT)
        return daily_stage(keyed.process(TouchState(True), KEYED))
    table = t_env.sql_query(f"SELECT {columns} FROM {SOURCE_TABLE} WHERE order_id IS NOT NULL")
    events: DataStream = t_env.to_data_stream(table)
    if shape == "map":
        return events.map(KeyByOrder(keyed=False), output_type=EVENT)
    keyed = events.map(KeyByOrder(keyed=True), output_type=KEYED)
    return daily_stage(key_by_first_field(keyed, Types.STRING()).process(TouchState(True), KEYED))


def daily_stage(lines: DataStream) -> DataStream:
    """The daily stage's place: ``Row(driver, event)`` keyed in the JVM, one state read/write."""
    return key_by_first_field(lines, Types.STRING()).process(TouchState(False), EVENT)


def build(t_env: Any, source: dict[str, str], shape: str) -> Any:
    """The shape over ``source`` into a blackhole sink; the submitted TableResult."""
    out = shape_stream(t_env, source, shape)
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE floor_sink ({', '.join(f'`{f}` STRING' for f in FIELDS)}) "
        "WITH ('connector' = 'blackhole')"
    )
    return t_env.from_data_stream(out).execute_insert("floor_sink")


def embedded(path: Path, shape: str) -> dict[str, float]:
    """Run ``shape`` over ``path`` on the embedded mini-cluster at parallelism 1."""
    from pyflink.table import StreamTableEnvironment

    from jobs.embedded import local_environment
    from jobs.settings import JobSettings

    events = sum(1 for _ in path.open("rb"))
    with tempfile.TemporaryDirectory(prefix="driverpay-bench-floor-") as tmp:
        started = time.monotonic()
        env = local_environment(JobSettings(parallelism=1), Path(tmp))
        build(StreamTableEnvironment.create(env), file_options(path), shape).wait()
        seconds = time.monotonic() - started
    return {"events": events, "seconds": seconds}


def main() -> None:
    """Entry point for ``flink run -py``: submit ``DRIVERPAY_FLOOR_SHAPE`` over Kafka (detached)."""
    shape = os.environ.get("DRIVERPAY_FLOOR_SHAPE", "sql-lifecycle")
    if shape not in SHAPES:
        sys.exit(f"DRIVERPAY_FLOOR_SHAPE must be one of {SHAPES}, not {shape!r}")
    t_env = cluster_environment(f"{JOB_NAME}-{shape}")
    build(t_env, cluster_kafka_options("bench-floor"), shape)


if __name__ == "__main__":
    # by module name, so the functions pickle by reference, not by value with this __main__
    from jobs import bench_floor

    if len(sys.argv) == 1:
        bench_floor.main()
    elif len(sys.argv) != 3 or sys.argv[2] not in SHAPES:
        sys.exit(f"usage: python -m jobs.bench_floor FILE {{{'|'.join(SHAPES)}}}")
    else:
        print(json.dumps(bench_floor.embedded(Path(sys.argv[1]), sys.argv[2])))
