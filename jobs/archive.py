"""The raw event archive: every valid event, exactly once, as Parquet by zone and local date.

Layout (docs/contracts.md §6): ``<base>/zone=<zone>/event_date=<YYYY-MM-DD>/part-*``,
the date being the event's date on its zone's wall clock (``udfs.localday.pay_date``, the one
local-day rule). ``driverpay recompute`` reads a day and its two neighbours from it.

Written by Flink's filesystem table connector in streaming mode: a bulk format rolls its part
files on every checkpoint and makes them visible only when that checkpoint completes
(in-progress files are hidden, ``.part-*``), so a restart from a checkpoint never shows an
event twice or loses one; a partition gets a ``_SUCCESS`` file once committed. PyFlink cannot
take a Python ``BucketAssigner``, hence the Table API route: ``from_data_stream`` ->
``INSERT INTO`` a table ``PARTITIONED BY (zone, event_date)``.

Cost: no Python stage of its own. The parser dates each event once (the local-day rule) and
the archive only projects the typed row in SQL; the Parquet writer (the jars of
``jobs.jars.ARCHIVE``) is JVM work.
"""

from __future__ import annotations

from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment
from pyflink.table.statement_set import StatementSet

from jobs.codec import DATED_EVENT_TYPE
from jobs.jars import ARCHIVE, ship_missing

TABLE = "driverpay_archive"
VIEW = "driverpay_archive_events"

# Fixed, whatever the job's parallelism: the file sink's single partition committer (max
# parallelism 1) must never chain into a writer of parallelism 1, or it would take the job's max
# parallelism at p=1 and no savepoint could be rescaled to or from 1 (docs/design.md).
WRITERS = 2


def sink_ddl(base_path: str) -> str:
    """The archive table: Parquet (Snappy), partitioned, committed with a success file."""
    path = base_path.replace("'", "''")
    return f"""
        CREATE TABLE IF NOT EXISTS {TABLE} (
            event_id STRING,
            order_id STRING,
            driver_id STRING,
            type STRING,
            time_ms BIGINT,
            zone STRING,
            event_date STRING
        ) PARTITIONED BY (zone, event_date) WITH (
            'connector' = 'filesystem',
            'path' = '{path}',
            'format' = 'parquet',
            'parquet.compression' = 'SNAPPY',
            'sink.partition-commit.trigger' = 'process-time',
            'sink.partition-commit.delay' = '0 s',
            'sink.partition-commit.policy.kind' = 'success-file',
            'sink.parallelism' = '{WRITERS}'
        )
    """


def archive(
    events: DataStream,
    base_path: str,
    t_env: StreamTableEnvironment,
    statements: StatementSet | None = None,
) -> StatementSet:
    """Add the archive sink for ``events``: ``Row(order_id, jobs.codec.DATED_EVENT_TYPE)``.

    Returns the statement set holding the insert: the caller must call
    ``attach_as_datastream()`` on it (once, after adding its other inserts) before
    ``env.execute()``, so the archive runs in the same job and the same checkpoints.
    ``base_path``: a local folder or any Flink filesystem URI.
    """
    t_env.execute_sql(sink_ddl(base_path))
    t_env.create_temporary_view(VIEW, t_env.from_data_stream(events))
    statements = statements or t_env.create_statement_set()
    statements.add_insert_sql(insert_sql())
    return statements


def insert_sql() -> str:
    """The archive's columns, in order, from the dated event (``f1`` of the keyed row)."""
    columns = ", ".join(f"f1.`{name}`" for name in DATED_EVENT_TYPE.get_field_names())
    return f"INSERT INTO {TABLE} SELECT {columns} FROM {VIEW}"


def attach_archive(env: StreamExecutionEnvironment, events: DataStream, base_path: str) -> None:
    """All-in-one for a job without a table environment of its own (e.g. the embedded run)."""
    ship_missing(env, ARCHIVE)
    t_env = StreamTableEnvironment.create(env)
    archive(events, base_path, t_env).attach_as_datastream()
