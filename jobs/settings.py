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
ARCHIVE_ENV = "DRIVERPAY_ARCHIVE"
DEFAULT_ARCHIVE = ".run/archive"


@dataclass(frozen=True)
class JobSettings:
    """Defaults and their reasons are in docs/design.md ("Event time, watermarks and late data")."""

    out_of_orderness_ms: int = 2 * MINUTE  # watermark lag behind the largest event time seen
    idleness_ms: int = MINUTE  # a source split silent this long stops holding watermarks back
    grace_ms: int = HOUR  # lateness an order absorbs; also how long closed orders are kept
    max_open_ms: int = 12 * HOUR  # an order open longer is flagged; a longer interval is unpaid
    max_ahead_ms: int = 24 * HOUR  # an event further ahead of its split's clock is quarantined
    split_idle_ms: int = MINUTE  # a source split silent this long stops holding others back
    finalize_grace_ms: int = HOUR  # a driver-day is final at local midnight + this
    daily_retention_ms: int = 7 * 24 * HOUR  # final days keep state this long for adjustments
    parallelism: int = 1
    checkpoint_interval_ms: int = 10_000
    flink_options: tuple[tuple[str, str], ...] = ()  # extra Flink configuration, e.g. for tests
    retired_evidence: bool = True  # ORDER_RETIRED records (tests); the Kafka job has no use
