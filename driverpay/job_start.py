"""What ``scripts/stack/submit.sh`` checks before starting the job, and what it records.

A job started *without* state (no ``-s``) on a consumer group that already committed offsets
reads on from those offsets with empty state: its first total for a driver-day would count only
the lines after that point and overwrite the full total in PostgreSQL (an upsert by
``(driver_id, pay_date)``). ``check-fresh`` refuses that start. Resuming keeps state
(``recover.sh``, ``-s <savepoint>``); rebuilding from the topic takes a new group, which reads
from the earliest offset.

The job reads its endpoints, group, zones, archive and parallelism from the environment when it
is submitted (docs/contracts.md §9). A recovery run from another shell would build the graph
with that shell's settings: another group, another zones file, another archive. ``save``
records the submitting environment's settings; ``load`` prints them as shell exports for the
names the caller did not set, so ``recover.sh`` and ``upgrade.sh`` resubmit the job as it was.

``python -m driverpay.job_start check-fresh | save FLINK_DIR | load FLINK_DIR``; exit 1 when
Kafka cannot be asked, 3 when a stateless start is refused.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from driverpay import topics
from jobs.faults import FAULT_ENV
from jobs.settings import (
    ARCHIVE_ENV,
    GROUP_ID_ENV,
    KAFKA_ENV,
    PARALLELISM_ENV,
    PG_DSN_ENV,
    ZONES_ENV,
)

# The environment a submitted job is built from (docs/contracts.md §9), and the pgpass file the
# job looks its password up in (jobs/endpoints.py).
JOB_ENVIRONMENT = (
    KAFKA_ENV,
    PG_DSN_ENV,
    GROUP_ID_ENV,
    ZONES_ENV,
    ARCHIVE_ENV,
    PARALLELISM_ENV,
    FAULT_ENV,
    "PGPASSFILE",
)
SETTINGS_FILE = "driverpay-settings.json"  # under .run/flink, written by submit.sh
KAFKA_TIMEOUT_S = 10.0
REFUSED = 3
USAGE = "usage: python -m driverpay.job_start check-fresh | save FLINK_DIR | load FLINK_DIR"


def job_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The job's settings that ``environ`` sets; unset ones keep their documented defaults."""
    return {name: environ[name] for name in JOB_ENVIRONMENT if name in environ}


def settings_text(settings: Mapping[str, str]) -> str:
    """The settings as one JSON object: any value, newlines and quotes included, comes back."""
    return json.dumps(dict(settings), indent=1, sort_keys=True) + "\n"


def read_settings(text: str) -> dict[str, str]:
    """The settings ``settings_text`` wrote; names outside ``JOB_ENVIRONMENT`` are ignored."""
    found = json.loads(text)
    if not isinstance(found, dict):
        raise ValueError("the job's settings file holds no JSON object")
    return {k: v for k, v in found.items() if k in JOB_ENVIRONMENT and isinstance(v, str)}


def exports(recorded: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The recorded settings the caller left unset: an explicit variable still wins."""
    return {name: value for name, value in recorded.items() if name not in environ}


def save(path: Path, environ: Mapping[str, str]) -> None:
    """Write the settings atomically, readable by the owner only (a DSN may hold a password)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(settings_text(job_settings(environ)))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def committed_partitions(kafka: str, group: str) -> list[str]:
    """``topic/partition@offset`` of every input partition where ``group`` committed an offset."""
    from confluent_kafka import KafkaException

    from driverpay.group_offsets import committed_offsets

    inputs = (topics.ORDER_EVENTS, topics.PAY_CORRECTIONS)
    try:
        committed = committed_offsets(kafka, group, inputs, KAFKA_TIMEOUT_S)
    except KafkaException as exc:
        raise ConnectionError(f"Kafka {kafka}: {exc}") from None
    return [f"{t}/{p}@{offset}" for (t, p), offset in committed.items() if offset is not None]


def check_fresh() -> int:
    """Exit status of ``check-fresh``: 0 when the group has nothing committed."""
    from jobs.endpoints import Endpoints

    endpoints = Endpoints.from_env()
    try:
        committed = committed_partitions(endpoints.kafka, endpoints.group_id)
    except ConnectionError as exc:
        print(f"cannot check the consumer group's offsets: {exc}", file=sys.stderr)
        return 1
    if not committed:
        return 0
    shown = ", ".join(committed[:4]) + (" ..." if len(committed) > 4 else "")
    print(
        f"consumer group {endpoints.group_id!r} has committed offsets ({shown}): a job without "
        "state would read on from them and overwrite full driver-day totals with partial ones. "
        "Resume with scripts/stack/recover.sh (newest checkpoint) or -s <savepoint>; to rebuild "
        "from the topic's earliest offset, submit under a new DRIVERPAY_GROUP_ID",
        file=sys.stderr,
    )
    return REFUSED


def main(argv: list[str]) -> int:
    """The three commands of the module docstring."""
    if argv == ["check-fresh"]:
        return check_fresh()
    if len(argv) == 2 and argv[0] == "save":
        save(Path(argv[1]) / SETTINGS_FILE, os.environ)
        return 0
    if len(argv) == 2 and argv[0] == "load":
        path = Path(argv[1]) / SETTINGS_FILE
        recorded = read_settings(path.read_text(encoding="utf-8")) if path.is_file() else {}
        chosen = exports(recorded, os.environ)
        for name, value in chosen.items():
            print(f"export {name}={shlex.quote(value)}")
        if chosen:
            print(f"as submitted: {' '.join(sorted(chosen))}", file=sys.stderr)
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
