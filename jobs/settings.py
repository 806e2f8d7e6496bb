"""Tunable time bounds of the streaming job, in event-time milliseconds."""

from __future__ import annotations

from dataclasses import dataclass

MINUTE = 60_000
HOUR = 60 * MINUTE
# Key groups of every keyed state: the most subtasks a savepoint can ever be rescaled to. Fixed
# here because changing it makes every existing savepoint unusable (docs/design.md, "Upgrades
# and rescaling").
MAX_PARALLELISM = 128
# The raw event archive of the cluster's job: a folder or any Flink file-system URI, the project
# root's .run/archive by default (docs/contracts.md §9). The CLI reads the same defaults.
JOB_NAME = "driverpay"  # the cluster job's name; scripts/stack/flink-env.sh looks for it too
ARCHIVE_ENV = "DRIVERPAY_ARCHIVE"
DEFAULT_ARCHIVE = ".run/archive"
# The rest of the job's environment (docs/contracts.md §9), named once: the job, the CLI, the
# tools that start or inspect the job (job_start, status, bench) import these names.
KAFKA_ENV = "DRIVERPAY_KAFKA"
DEFAULT_KAFKA = "127.0.0.1:9092"
PG_DSN_ENV = "DRIVERPAY_PG_DSN"  # its default, the writer role, is jobs/endpoints.DEFAULT_PG_DSN
GROUP_ID_ENV = "DRIVERPAY_GROUP_ID"
DEFAULT_GROUP_ID = "driverpay"
ZONES_ENV = "DRIVERPAY_ZONES"
DEFAULT_ZONES = "config/zones.yaml"  # relative to the project root
# The keyed value states that hold one order / one driver-day: part of every savepoint's layout,
# and the RocksDB column families whose key estimates driverpay status reports as the state held
# (state.backend.rocksdb.metrics.estimate-num-keys in flink-conf/config.yaml).
ORDER_STATE = "order"
DAILY_STATE = "daily"
PARALLELISM_ENV = "DRIVERPAY_PARALLELISM"
DEFAULT_CLUSTER_PARALLELISM = 2  # the cluster's job; the embedded run's is JobSettings's


@dataclass(frozen=True)
class JobSettings:
    """Defaults and their reasons are in docs/design.md ("Event time, watermarks and late data")."""

    out_of_orderness_ms: int = 2 * MINUTE  # watermark lag behind the largest event time seen
    idleness_ms: int = MINUTE  # a source split silent this long stops holding watermarks back
    grace_ms: int = HOUR  # lateness an order absorbs; also how long closed orders are kept
    max_open_ms: int = 12 * HOUR  # an order open longer is flagged; a longer interval is unpaid
    max_ahead_ms: int = 24 * HOUR  # an event further ahead of its split's clock is quarantined
    # The parser's processing-time clock runs this far ahead of the machine's: a replayed file
    # dated later than the machine is read by its own time (jobs.embedded, udfs.file_clock).
    clock_offset_ms: int = 0
    split_idle_ms: int = MINUTE  # a source split silent this long stops holding others back
    finalize_grace_ms: int = HOUR  # a driver-day is final at local midnight + this
    daily_retention_ms: int = 7 * 24 * HOUR  # final days keep state this long for adjustments
    parallelism: int = 1
    checkpoint_interval_ms: int = 10_000
    flink_options: tuple[tuple[str, str], ...] = ()  # extra Flink configuration, e.g. for tests
    retired_evidence: bool = True  # ORDER_RETIRED records (tests); the Kafka job has no use
