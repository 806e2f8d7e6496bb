"""The problem statement's follow-ups on the real stack, corrected through ``pay-corrections``.

- *Over-count bug this morning*: a job built with a deliberate peak-pay bug pays the day;
  ``reconcile`` (PostgreSQL vs a recompute from the job's own archive) finds exactly the
  overpaid driver-days; ``--apply`` sends corrections that the running job's daily stage
  applies; PostgreSQL and the read_committed ledger then equal the truth, and a second
  ``--apply`` adds nothing.
- *Peak window corrected at 5 pm*: the job is upgraded from a savepoint to the corrected zones
  version halfway through the day; reconcile under that version re-prices the earlier lines.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
import yaml
from confluent_kafka import Producer

from driverpay import topics
from driverpay.generate import GenConfig, generate
from driverpay.produce import produce, read_lines
from driverpay.reconcile import Report, reconcile
from tests.hostile import corpus as hostile
from tests.stack import stack
from tests.stack.test_deployment import pg_totals
from udfs.events import MalformedEventError, parse_event
from udfs.money import to_minor
from udfs.timefmt import parse_rfc3339_ms
from udfs.zones import load_zones

pytestmark = pytest.mark.stack
DAY = date(2026, 11, 24)
ZONES_FILE = stack.ROOT / "config" / "zones.yaml"


def archived(archive: Path) -> int:
    files = list(archive.rglob("part-*")) if archive.exists() else []  # committed files only
    if not files:
        return 0
    query = f"SELECT count(*) FROM read_parquet({[str(f) for f in files]!r})"
    row = duckdb.connect().execute(query).fetchone()
    return int(row[0]) if row else 0


def expected_today(day: stack.Day) -> dict[tuple[str, str], object]:
    return {k: v for k, v in day.expected.items() if k[1] == DAY.isoformat()}


def today_totals() -> dict[tuple[str, str], object]:
    return {k: v for k, v in pg_totals().items() if k[1] == DAY.isoformat() and k[0] != "zz-filler"}


def truth_minor(truth: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {
        (r["driver_id"], r["pay_date"]): to_minor(Decimal(r["total"]), r["currency"])
        for r in truth["daily"]
        if r["pay_date"] == DAY.isoformat()
    }


def committed_ledger_minor() -> dict[tuple[str, str], int]:
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for record in stack.committed_records("pay-ledger", 1):
        if record["pay_date"] == DAY.isoformat() and record["driver_id"] != "zz-filler":
            sums[(record["driver_id"], record["pay_date"])] += record["amount_minor"]
    return dict(sums)


def settle(day: stack.Day, archive: Path, group: str) -> None:
    """Wait until the job paid everything it was sent and every valid event is archived.

    Every driver-day having a row is not enough: a row can still be a partial total, and a
    reconcile reading it then finds a delta the final total does not have. ``group`` committed
    every offset only once a checkpoint completed after the last event, and the JDBC sinks flush
    in that checkpoint; ``pay_lines`` then also stops growing.
    """
    keys = set(expected_today(day))
    stack.wait_for(lambda: keys <= set(today_totals()), 300, "today's driver-days", every=3)
    stack.wait_for(lambda: stack.group_lag(group, "order-events") == 0, 300, "offsets", every=3)
    stack.wait_for(quiet_lines(), 120, "pay_lines to stop growing", every=3)
    valid = day.truth["counts"]["lines_written"] - day.truth["counts"]["malformed"]
    stack.wait_for(lambda: archived(archive) >= valid, 120, "the archive to commit", every=3)


def quiet_lines() -> Callable[[], bool]:
    """A check that is true once ``pay_lines`` stopped growing for two polls in a row."""
    seen: list[int] = []

    def check() -> bool:
        with psycopg.connect(stack.PG_DSN) as conn:
            row = conn.execute("SELECT count(*) FROM pay_lines").fetchone()
        seen.append(int(row[0]) if row else 0)
        return len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3] > 0

    return check


def event_ms(line: bytes) -> int:
    """A line's event time, or 0 for the malformed ones (which the job dead-letters)."""
    try:
        return parse_event(line, load_zones(ZONES_FILE)).time_ms
    except MalformedEventError:
        return 0


def run_reconcile(zones_file: Path, archive: Path, work: Path, apply: bool) -> Report:
    return reconcile(DAY, zones_file.read_bytes(), archive, work, dsn=stack.PG_DSN, apply=apply)


def test_an_overcounting_build_is_corrected_through_pay_corrections_exactly_once(
    real_stack: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = stack.generated_day(tmp_path, seed=17, orders=800, drivers=40)
    archive = tmp_path / "archive"
    monkeypatch.setenv("DRIVERPAY_ARCHIVE", str(archive))
    monkeypatch.setenv("DRIVERPAY_TEST_FAULT", "overpay-peaks")
    group = f"driverpay-overcount-{time.time_ns()}"
    job = stack.fresh_start_under(group)
    produce(day.lines + hostile.fillers(200, "2026-11-25", "02:00"), stack.KAFKA)
    settle(day, archive, group)
    truth = expected_today(day)
    assert today_totals() != truth, "the faulty build should have overpaid someone"

    found = run_reconcile(ZONES_FILE, archive, tmp_path / "r1", apply=False)
    overpaid = {(d["driver_id"], d["pay_date"]) for d in found.deltas}
    assert overpaid == {k for k, v in today_totals().items() if v != truth.get(k)}
    assert all(d["recomputed_minor"] < d["streamed_minor"] for d in found.deltas)

    applied = run_reconcile(ZONES_FILE, archive, tmp_path / "r2", apply=True)
    assert applied.applied > 0
    stack.wait_for(lambda: today_totals() == truth, 120, "PostgreSQL equal to the truth", 3)
    minor = truth_minor(day.truth)
    stack.wait_for(
        lambda: committed_ledger_minor() == minor, 60, "the read_committed ledger to sum to truth"
    )
    again = run_reconcile(ZONES_FILE, archive, tmp_path / "r3", apply=True)
    assert (again.deltas, again.applied) == ([], 0)
    assert stack.flink(f"/jobs/{job}")["state"] == "RUNNING"


def test_a_window_corrected_at_5pm_is_repriced_after_a_savepoint_upgrade(
    real_stack: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = yaml.safe_load(ZONES_FILE.read_text())
    for window in doc["zones"]["sf"]["peak_windows"]:
        if window["start"].endswith("T17:00"):
            window["multiplier"] = "1.75"
    fixed = tmp_path / "zones-fixed.yaml"
    fixed.write_text(yaml.safe_dump(doc))
    (tmp_path / "v1").mkdir()
    day = stack.generated_day(tmp_path / "v1", seed=19, orders=800, drivers=40)
    config = GenConfig(seed=19, orders=800, drivers=40)  # same events, priced under the fix
    fixed_truth = generate(config, load_zones(fixed), tmp_path / "e.jsonl", tmp_path / "t.json")
    assert read_lines(tmp_path / "e.jsonl") == day.lines
    archive = tmp_path / "archive"
    monkeypatch.setenv("DRIVERPAY_ARCHIVE", str(archive))
    # Upgrade at 18:30 in San Francisco: lines of 17:00-18:30 were paid under the old version.
    upgrade_at = parse_rfc3339_ms(hostile.at("18:30"))
    half = next(i for i, line in enumerate(day.lines) if event_ms(line) >= upgrade_at)
    first = stack.fresh_start("driverpay-5pm")
    produce(day.lines[:half], stack.KAFKA)
    stack.wait_for(lambda: stack.completed_checkpoints(first) >= 2, 120, "checkpoints")
    stack.wait_for(quiet_lines(), 120, "the first job to pay everything it was sent", every=3)
    savepoint = stack.savepoint(first)
    monkeypatch.setenv("DRIVERPAY_ZONES", str(fixed))
    fixed_group = f"driverpay-5pm-fixed-{time.time_ns()}"
    stack.submit(group_id=fixed_group, extra=["-s", savepoint])
    produce(day.lines[half:] + hostile.fillers(200, "2026-11-25", "02:00"), stack.KAFKA)
    settle(day, archive, fixed_group)

    assert today_totals() != expected_today(day)  # some lines priced before the fix

    report = run_reconcile(fixed, archive, tmp_path / "r", apply=True)
    assert report.deltas, "lines priced before the upgrade must be re-priced"
    versions = {line.zones_version for line in report.corrections}
    assert versions == {load_zones(ZONES_FILE).version, load_zones(fixed).version}
    truth = {
        (r["driver_id"], r["pay_date"]): (Decimal(r["total"]), r["line_count"])
        for r in json.loads(fixed_truth.to_json(config))["daily"]
        if r["pay_date"] == DAY.isoformat()
    }
    stack.wait_for(
        lambda: today_totals() == truth,
        120,
        "PostgreSQL to equal the truth under the corrected zones",
        every=3,
    )


def served(driver: str, day: date) -> tuple[int, int, int] | None:
    """``(total_cents, line_count, version)`` of a driver-day in PostgreSQL, or None."""
    with psycopg.connect(stack.PG_DSN) as conn:
        row = conn.execute(
            "SELECT total_cents, line_count, version FROM driver_daily_pay "
            "WHERE driver_id = %s AND pay_date = %s",
            (driver, day),
        ).fetchone()
    return (int(row[0]), int(row[1]), int(row[2])) if row else None


def final(driver: str, day: date) -> bool:
    """Whether PostgreSQL holds the driver-day as final."""
    with psycopg.connect(stack.PG_DSN) as conn:
        row = conn.execute(
            "SELECT final FROM driver_daily_pay WHERE driver_id = %s AND pay_date = %s",
            (driver, day),
        ).fetchone()
    return bool(row and row[0])


def nine_days_on(old: date) -> list[bytes]:
    """Filler orders every 12 hours from the day after ``old`` to nine days after it.

    A partition's event time may not jump more than a day at once (``AHEAD_OF_STREAM``): a
    stream only gets nine days on by living through them.
    """
    first = datetime.combine(old, datetime.min.time(), UTC) + timedelta(days=1, hours=10)
    lines = []
    for step in range(18):
        for i in range(30):
            order = f"f-{old}-{step}-{i}"
            begin = first + timedelta(hours=12 * step, seconds=10 * i)
            for kind, moment in (("ACCEPTED", begin), ("DELIVERED", begin + timedelta(minutes=1))):
                when = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
                lines.append(
                    hostile.dump(hostile.event(f"{order}-{kind}", order, "zz-filler", kind, when))
                )
    return lines


def test_a_day_past_the_jobs_retention_is_corrected_through_pay_corrections(
    real_stack: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job keeps a final day for 7 days; a correction after that restates the served row.

    Twelve days ago d-old was paid 9.00 for 10:00-10:30. Nine days later (event time) the day's
    state is gone, and an order of that day whose events arrive only now cannot be paid by the
    stream: its line is audited as beyond retention. Reconcile finds the order in the archive
    and sends an adjustment that carries the row it read: the job restates the day as 18.00,
    once.
    """
    old = (datetime.now(UTC) - timedelta(days=12)).date()  # never ahead of the stream's clock
    archive = tmp_path / "archive"
    monkeypatch.setenv("DRIVERPAY_ARCHIVE", str(archive))

    def delivery(order: str, start: str, end: str) -> list[bytes]:
        return [
            hostile.dump(hostile.event(f"{order}-{k}", order, "d-old", k, hostile.at(t, str(old))))
            for k, t in (("ACCEPTED", start), ("DELIVERED", end))
        ]

    job = stack.fresh_start("driverpay-past-retention")
    fillers = nine_days_on(old)
    produce(delivery("o-paid", "10:00", "10:30") + fillers, stack.KAFKA)
    eight_days_on = old + timedelta(days=8)  # final once d-old's day has left the job's state
    stack.wait_for(lambda: final("zz-filler", eight_days_on), 240, "nine days to pass", every=3)
    row = served("d-old", old)
    assert row is not None
    assert row[:2] == (900, 1)
    version = row[2]
    produce(delivery("o-late", "12:00", "12:30"), stack.KAFKA)
    stack.wait_for(
        lambda: [
            r["line"]["amount"]
            for r in map(json.loads, stack.read_topic(topics.AUDIT))
            if r.get("kind") == "LINE_BEYOND_RETENTION" and r["line"]["order_id"] == "o-late"
        ]
        == ["9.00"],
        120,
        "the stream to audit o-late's line as beyond retention",
        every=3,
    )
    stack.wait_for(lambda: archived(archive) >= 4 + len(fillers), 120, "the archive", every=3)
    assert served("d-old", old) == (900, 1, version)

    report = reconcile(old, ZONES_FILE.read_bytes(), archive, tmp_path / "r1", dsn=stack.PG_DSN,
                       apply=True)  # fmt: skip
    assert [(d["streamed_minor"], d["recomputed_minor"]) for d in report.deltas] == [(900, 1800)]
    assert [c.kind.value for c in report.corrections] == ["ADJUSTMENT"]
    restated = (1800, 2, version + 1)
    stack.wait_for(lambda: served("d-old", old) == restated, 120, "d-old restated", every=3)
    again = reconcile(old, ZONES_FILE.read_bytes(), archive, tmp_path / "r2", dsn=stack.PG_DSN,
                      apply=True)  # fmt: skip
    assert (again.deltas, again.applied) == ([], 0)
    assert served("d-old", old) == restated

    [fix] = report.corrections  # replayed as it was sent: the day's memo knows its id
    replay(topics.PAY_CORRECTIONS)
    stack.wait_for(lambda: duplicate_lines(fix.line_id) == 1, 120, "the replay audited", every=3)
    ledger = [r for r in map(json.loads, stack.read_topic(topics.PAY_LEDGER))
              if r["line_id"] == fix.line_id]  # fmt: skip
    assert len(ledger) == 1
    assert served("d-old", old) == restated
    assert stack.flink(f"/jobs/{job}")["state"] == "RUNNING"


def replay(topic: str) -> None:
    """Send every committed record of ``topic`` again, as a producer replaying its outbox."""
    producer = Producer({"bootstrap.servers": stack.KAFKA})
    for value in stack.read_topic(topic):
        producer.produce(topic, value=value)
    assert producer.flush(30) == 0


def duplicate_lines(line_id: str) -> int:
    """``DUPLICATE_LINE`` audit records of ``line_id`` committed so far."""
    return sum(
        1
        for r in map(json.loads, stack.read_topic(topics.AUDIT))
        if r.get("kind") == "DUPLICATE_LINE" and r.get("line_id") == line_id
    )
