"""Control of the real local stack for integration tests: reset, submit, wait, read back."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from driverpay import stackctl
from driverpay.generate import GenConfig, generate
from driverpay.group_offsets import committed_offsets
from driverpay.produce import read_lines
from driverpay.stackctl import (  # the helpers the benchmark shares, re-exported for the tests
    FLINK,
    KAFKA,
    PG_OWNER_DSN,
    TOPICS,
    cancel_jobs,
    flink,
    reset_tables,
    reset_topics,
    submit,
    taskmanager_pids,
    wait_for,
)
from udfs.zones import load_zones

ROOT = Path(__file__).resolve().parents[2]
# The job's role, but a test's connection gives up: a server that accepts and never answers
# fails the wait that polls it instead of hanging the suite.
PG_DSN = stackctl.PG_DSN + "?connect_timeout=5&options=-c%20statement_timeout%3D30000"
__all__ = [
    "FLINK",
    "KAFKA",
    "PG_DSN",
    "PG_OWNER_DSN",
    "TOPICS",
    "cancel_jobs",
    "flink",
    "reset_tables",
    "reset_topics",
    "submit",
    "taskmanager_pids",
    "wait_for",
]


def read_topic(topic: str, committed_only: bool = True) -> list[bytes]:
    """Every record value of ``topic`` from the beginning (read_committed by default)."""
    consumer = Consumer(
        {
            "bootstrap.servers": KAFKA,
            "group.id": f"reader-{time.time_ns()}",
            "isolation.level": "read_committed" if committed_only else "read_uncommitted",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in partitions:
            tp = TopicPartition(topic, p)
            ends[p] = consumer.get_watermark_offsets(tp, timeout=10)[1]
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        values: list[bytes] = []
        done: set[int] = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + 60
        while len(done) < len(partitions) and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=1):
                if message.error():
                    raise KafkaException(message.error())
                values.append(message.value())
            for p in partitions:  # read_committed stops at the last stable offset
                position = consumer.position([TopicPartition(topic, p)])[0].offset
                if position >= ends[p] - 1 or (position < 0 and ends[p] == 0):
                    done.add(p)
        return values
    finally:
        consumer.close()


def committed_records(topic: str, at_least: int, timeout: float = 120) -> list[dict[str, Any]]:
    """The committed JSON records of ``topic``, once there are at least ``at_least`` of them."""
    values = wait_for(
        lambda: (v := read_topic(topic)) and len(v) >= at_least and v,
        timeout,
        f"{at_least} committed records in {topic}",
    )
    return [json.loads(v) for v in values]


@dataclass
class Day:
    """A generated messy day: its event lines in arrival order, and what it must pay."""

    lines: list[bytes]
    truth: dict[str, Any]

    @property
    def expected(self) -> dict[tuple[str, str], tuple[Decimal, int]]:
        """``(total, line_count)`` per driver-day, as the truth file says."""
        return {
            (r["driver_id"], r["pay_date"]): (Decimal(r["total"]), r["line_count"])
            for r in self.truth["daily"]
        }

    @property
    def pay_lines(self) -> int:
        return int(self.truth["counts"]["pay_lines"])


def generated_day(work: Path, seed: int, orders: int, drivers: int, **knobs: Any) -> Day:
    """Generate a day with the project's generator (and zones) into ``work``."""
    events, truth = work / "events.jsonl", work / "truth.json"
    config = GenConfig(seed=seed, orders=orders, drivers=drivers, **knobs)
    generate(config, load_zones(ROOT / "config" / "zones.yaml"), events, truth)
    return Day(read_lines(events), json.loads(truth.read_text()))


def fresh_start(group: str, extra: list[str] | None = None) -> str:
    """Cancel jobs, empty topics and tables, submit with a new consumer group; the job id."""
    return fresh_start_under(f"{group}-{time.time_ns()}", extra)


def fresh_start_under(group: str, extra: list[str] | None = None) -> str:
    """``fresh_start`` under exactly ``group``, a name no job has used."""
    cancel_jobs()
    reset_topics()
    reset_tables()
    return submit(group_id=group, extra=extra)


def group_lag(group: str, topic: str) -> int:
    """Records of ``topic`` that ``group`` has not committed past, over all its partitions.

    A partition the group never committed in lags by all it holds. The offsets are asked the
    way the CLI asks them (``committed_offsets``), so a coordinator still moving on a freshly
    formatted broker is waited for, not raised.
    """
    committed = committed_offsets(KAFKA, group, [topic])
    if not committed:
        raise LookupError(f"topic {topic} does not exist")
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": group, "log_level": 0})
    try:
        lag = 0
        for (name, partition), offset in committed.items():
            low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=10)
            lag += high - max(offset if offset is not None else low, low)
        return lag
    finally:
        consumer.close()


def savepoint(job: str) -> str:
    """Stop ``job`` with a savepoint (``scripts/stack/savepoint.sh``); the savepoint's path."""
    out = subprocess.run(
        [str(ROOT / "scripts/stack/savepoint.sh"), job],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def upgrade(parallelism: int | None = None) -> str:
    """``make upgrade`` (``scripts/stack/upgrade.sh``), optionally rescaling; the new job's id."""
    env = {**os.environ}
    env.pop("DRIVERPAY_PARALLELISM", None)
    if parallelism is not None:
        env["DRIVERPAY_PARALLELISM"] = str(parallelism)
    out = subprocess.run(
        [str(ROOT / "scripts/stack/upgrade.sh")],
        capture_output=True,
        text=True,
        timeout=420,
        env=env,
    )
    assert out.returncode == 0, f"upgrade failed:\n{out.stdout}\n{out.stderr}"
    for line in out.stdout.splitlines():
        if "JobID" in line:
            return line.split()[-1]
    raise AssertionError(f"no job id in upgrade output: {out.stdout}\n{out.stderr}")


def scale_taskmanagers(count: int) -> None:
    """Run ``count`` TaskManagers (``scripts/stack/flink.sh scale``)."""
    subprocess.run(
        [str(ROOT / "scripts/stack/flink.sh"), "scale", str(count)],
        check=True,
        timeout=240,
        capture_output=True,
    )


def job_parallelism(job: str) -> int:
    """The parallelism the job runs at, as its JobManager reports it."""
    return int(flink(f"/jobs/{job}/config")["execution-config"]["job-parallelism"])


def orders_open_across(lines: list[bytes], cut: int) -> set[str]:
    """Orders with an event before ``cut`` and a paying end at or after it: open at the cut."""
    before: set[str] = set()
    ends_after: set[str] = set()
    for index, line in enumerate(lines):
        try:
            event = json.loads(line)
            order, kind = event["order_id"], event["type"]
        except (ValueError, KeyError, TypeError):
            continue
        if index < cut:
            before.add(order)
        elif kind in ("DELIVERED", "CANCELLED"):
            ends_after.add(order)
    return before & ends_after


def completed_checkpoints(job: str) -> int:
    """How many checkpoints the job has completed."""
    return int(flink(f"/jobs/{job}/checkpoints")["counts"]["completed"])


def assert_ledger_exactly_once(day: Day, timeout: float = 180) -> None:
    """The committed ``pay-ledger`` holds every expected line, none twice."""
    ids = Counter(r["line_id"] for r in committed_records("pay-ledger", day.pay_lines, timeout))
    assert max(ids.values()) == 1, "a line was committed twice"
    assert len(ids) == day.pay_lines
